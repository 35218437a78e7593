#include "framework/plot/svg_text_layer.h"

#include <fmt/format.h>

#include "framework/core/error.h"

namespace convlab {

std::string xml_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string add_svg_text_layer(const std::string& svg, const std::vector<PlacedText>& texts) {
  const size_t end = svg.rfind("</svg>");
  CONVLAB_CHECK(end != std::string::npos, "the SVG written by cairo has no closing </svg> tag");
  if (texts.empty()) return svg;
  // textLength stretches the viewer's rendering of the text to cairo's measured width, so
  // selection boxes cover the drawn glyphs even where the viewer substitutes another font.
  std::string layer =
      "<g id=\"text\" fill=\"black\" fill-opacity=\"0\" stroke=\"none\" "
      "font-family=\"DejaVu Sans, Verdana, sans-serif\" xml:space=\"preserve\">\n";
  for (const PlacedText& t : texts) {
    layer += fmt::format("<text x=\"{:.2f}\" y=\"{:.2f}\" font-size=\"{:.2f}\"", t.x, t.y, t.size);
    if (t.width > 0) layer += fmt::format(" textLength=\"{:.2f}\" lengthAdjust=\"spacingAndGlyphs\"", t.width);
    if (t.vertical) layer += fmt::format(" transform=\"rotate(-90 {:.2f} {:.2f})\"", t.x, t.y);
    layer += '>';
    layer += xml_escape(t.text);
    layer += "</text>\n";
  }
  layer += "</g>\n";
  std::string out = svg;
  out.insert(end, layer);
  return out;
}

}  // namespace convlab
