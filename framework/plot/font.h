// The text of figures: one font, DejaVu Sans, loaded with FreeType from $CONVLAB_FONT or else
// the compile definition CONVLAB_FONT_PATH (Debian's fonts-dejavu-core by default) and drawn
// by cairo.
// Sizes are cairo font sizes (the em square) in figure units, which are PNG pixels. Metrics
// come from cairo with hinting off, so a text measures the same in PNG, PDF and SVG.
#pragma once

#include <string>
#include <vector>

#include "framework/plot/color.h"

typedef struct _cairo_font_face cairo_font_face_t;
typedef struct _cairo_font_options cairo_font_options_t;

namespace convlab {

enum class HAlign { left, center, right };
// top/bottom: the font's ascender/descender line, so labels of one size line up whatever
// their letters; center: halfway between them.
enum class VAlign { top, center, baseline, bottom };

struct TextStyle {
  float size = 12.0f;
  Rgb color = kBlack;
  HAlign h_align = HAlign::left;
  VAlign v_align = VAlign::baseline;
  // Rotated 90 degrees counter-clockwise, reading upwards (y-axis labels). The alignments
  // apply along and across the text as if it were horizontal.
  bool vertical = false;
};

struct TextExtent {
  float width = 0;    // advance width along the text
  float ascent = 0;   // baseline to the font's ascender line
  float descent = 0;  // baseline to the font's descender line, positive
  float height() const { return ascent + descent; }
};

// The text's advance width and the font's ascent and descent at size.
TextExtent measure_text(const std::string& text, float size);

// text broken at spaces into lines no wider than max_width at size; a word wider than that
// gets a line of its own. A text too long for one line breaks after its first ": " before
// anywhere else. An empty text gives no lines.
std::vector<std::string> wrap_text(const std::string& text, float size, float max_width);

// The font as a cairo face, loaded on first use; an error says how to install it.
cairo_font_face_t* plot_font();
// Hinting off (metrics independent of the output), grey anti-aliasing.
const cairo_font_options_t* plot_font_options();

// text as cairo and XML accept it: malformed UTF-8 becomes U+FFFD, control characters spaces.
std::string printable_text(const std::string& text);

}  // namespace convlab
