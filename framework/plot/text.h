// Text on a Canvas, drawn with stb_truetype from one TrueType font: DejaVu Sans, whose path
// is the compile definition CONVLAB_FONT_PATH (Debian's fonts-dejavu-core by default). Text
// is UTF-8. Sizes are in pixels: the height from the font's lowest descender to its highest
// ascender.
#pragma once

#include <string>

#include "framework/plot/canvas.h"

namespace convlab {

enum class HAlign { left, center, right };
// top/bottom: the font's ascender/descender line, so labels of one size line up whatever
// their letters; center: halfway between them.
enum class VAlign { top, center, baseline, bottom };

struct TextStyle {
  float size = 14.0f;
  Rgb color = kBlack;
  HAlign h_align = HAlign::left;
  VAlign v_align = VAlign::baseline;
  // Rotated 90 degrees counter-clockwise, reading upwards (y-axis labels). The alignments
  // apply along and across the text as if it were horizontal.
  bool vertical = false;
};

struct TextExtent {
  float width = 0;    // advance width along the text
  float ascent = 0;   // baseline to ascender line
  float descent = 0;  // baseline to descender line, positive
  float height() const { return ascent + descent; }
};

TextExtent measure_text(const std::string& text, float size);

// Draws text anchored at (x, y) according to the style's alignments.
void draw_text(Canvas& canvas, float x, float y, const std::string& text, const TextStyle& style = {});

}  // namespace convlab
