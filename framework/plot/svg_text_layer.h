// Real text in SVG figures. cairo's SVG surface writes every glyph as a path, so a figure's
// labels look the same in every viewer (no font need be installed) but cannot be searched,
// selected, copied or read by a screen reader. The figure therefore also records each text it
// draws and adds it as <text> elements over the drawing, in the same font, size, place and
// width, but fully transparent: the look stays cairo's, and the text is there, as in a scanned
// PDF with an OCR layer.
#pragma once

#include <string>
#include <vector>

namespace convlab {

struct PlacedText {
  std::string text;      // printable UTF-8
  double x = 0, y = 0;   // the start of the baseline, in figure units (SVG user units)
  double size = 12;      // font size
  double width = 0;      // the advance width cairo measured
  bool vertical = false; // turned 90 degrees counter-clockwise about (x, y)
};

// svg with the texts added as a last, transparent group just before its closing </svg> tag.
std::string add_svg_text_layer(const std::string& svg, const std::vector<PlacedText>& texts);

// text with &, <, >, " and ' written as XML entities.
std::string xml_escape(const std::string& text);

}  // namespace convlab
