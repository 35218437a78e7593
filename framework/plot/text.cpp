#include "framework/plot/text.h"

#include <stb/stb_truetype.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "framework/core/error.h"

#ifndef CONVLAB_FONT_PATH
#define CONVLAB_FONT_PATH "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
#endif

namespace convlab {
namespace {

class Font {
 public:
  explicit Font(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
      CONVLAB_FAIL("font {} not found: install the Debian package fonts-dejavu-core "
                   "(apt-get install fonts-dejavu-core), or build with -DCONVLAB_FONT_PATH=<a .ttf file>",
                   path.string());
    data_.assign(std::istreambuf_iterator<char>(in), {});
    const int offset = data_.empty() ? -1 : stbtt_GetFontOffsetForIndex(data_.data(), 0);
    if (offset < 0 || !stbtt_InitFont(&info_, data_.data(), offset))
      CONVLAB_FAIL("{} is not a TrueType font stb_truetype can read", path.string());
    stbtt_GetFontVMetrics(&info_, &ascent_, &descent_, &line_gap_);
  }

  float scale(float size) const { return stbtt_ScaleForPixelHeight(&info_, size); }
  float ascent(float scale) const { return static_cast<float>(ascent_) * scale; }
  float descent(float scale) const { return -static_cast<float>(descent_) * scale; }
  const stbtt_fontinfo* info() const { return &info_; }

 private:
  std::vector<unsigned char> data_;  // stbtt_fontinfo points into it
  stbtt_fontinfo info_{};
  int ascent_ = 0, descent_ = 0, line_gap_ = 0;
};

// Loaded on first use; a failed load throws and is retried by the next call.
const Font& default_font() {
  static const Font font(CONVLAB_FONT_PATH);
  return font;
}

// UTF-8 to code points; a malformed sequence becomes U+FFFD.
std::vector<int> decode_utf8(const std::string& text) {
  std::vector<int> codepoints;
  for (size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    int length = byte < 0x80 ? 1 : (byte >> 5) == 0x6 ? 2 : (byte >> 4) == 0xe ? 3 : (byte >> 3) == 0x1e ? 4 : 0;
    int codepoint = length == 1 ? byte : length == 2 ? byte & 0x1f : length == 3 ? byte & 0x0f : byte & 0x07;
    bool valid = length > 0 && i + static_cast<size_t>(length) <= text.size();
    for (int k = 1; valid && k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      valid = (next & 0xc0) == 0x80;
      codepoint = (codepoint << 6) | (next & 0x3f);
    }
    codepoints.push_back(valid ? codepoint : 0xfffd);
    i += valid ? static_cast<size_t>(length) : 1;
  }
  return codepoints;
}

// Pen positions of each glyph along the baseline, with kerning, and the total advance.
struct Layout {
  std::vector<int> codepoints;
  std::vector<float> pen;
  float width = 0;
};

Layout lay_out(const Font& font, const std::string& text, float scale) {
  Layout layout;
  layout.codepoints = decode_utf8(text);
  float pen = 0;
  for (size_t i = 0; i < layout.codepoints.size(); ++i) {
    const int codepoint = layout.codepoints[i];
    if (i > 0) pen += static_cast<float>(stbtt_GetCodepointKernAdvance(font.info(), layout.codepoints[i - 1], codepoint)) * scale;
    layout.pen.push_back(pen);
    int advance = 0, left_bearing = 0;
    stbtt_GetCodepointHMetrics(font.info(), codepoint, &advance, &left_bearing);
    pen += static_cast<float>(advance) * scale;
  }
  layout.width = pen;
  return layout;
}

}  // namespace

TextExtent measure_text(const std::string& text, float size) {
  const Font& font = default_font();
  const float scale = font.scale(size);
  return TextExtent{lay_out(font, text, scale).width, font.ascent(scale), font.descent(scale)};
}

void draw_text(Canvas& canvas, float x, float y, const std::string& text, const TextStyle& style) {
  if (text.empty()) return;
  CONVLAB_CHECK(style.size > 0.0f && style.size <= 2000.0f, "text size {} is not in (0, 2000] pixels", style.size);
  const Font& font = default_font();
  const float scale = font.scale(style.size);
  const Layout layout = lay_out(font, text, scale);
  const float ascent = font.ascent(scale), descent = font.descent(scale);

  // Render horizontally into a coverage mask, with room for glyphs that overhang their advance.
  const int pad = static_cast<int>(std::ceil(style.size / 4.0f)) + 2;
  const int baseline = pad + static_cast<int>(std::ceil(ascent));
  const int mask_width = static_cast<int>(std::ceil(layout.width)) + 2 * pad;
  const int mask_height = baseline + static_cast<int>(std::ceil(descent)) + pad;
  std::vector<uint8_t> mask(static_cast<size_t>(mask_width) * mask_height, 0);
  std::vector<uint8_t> glyph;
  for (size_t i = 0; i < layout.codepoints.size(); ++i) {
    const int codepoint = layout.codepoints[i];
    const float whole = std::floor(layout.pen[i]);
    const float shift = layout.pen[i] - whole;  // sub-pixel position keeps spacing even
    int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
    stbtt_GetCodepointBitmapBoxSubpixel(font.info(), codepoint, scale, scale, shift, 0, &x0, &y0, &x1, &y1);
    const int w = x1 - x0, h = y1 - y0;
    if (w <= 0 || h <= 0) continue;  // a space
    glyph.assign(static_cast<size_t>(w) * h, 0);
    stbtt_MakeCodepointBitmapSubpixel(font.info(), glyph.data(), w, h, w, scale, scale, shift, 0, codepoint);
    const int left = pad + static_cast<int>(whole) + x0, top = baseline + y0;
    for (int gy = 0; gy < h; ++gy)
      for (int gx = 0; gx < w; ++gx) {
        const int mx = left + gx, my = top + gy;
        if (mx < 0 || mx >= mask_width || my < 0 || my >= mask_height) continue;
        uint8_t& cell = mask[static_cast<size_t>(my) * mask_width + mx];
        cell = std::max(cell, glyph[static_cast<size_t>(gy) * w + gx]);
      }
  }

  // The anchor in mask coordinates: u along the text, v across it (downwards when horizontal).
  const float u = static_cast<float>(pad) + (style.h_align == HAlign::left     ? 0.0f
                                             : style.h_align == HAlign::center ? layout.width / 2.0f
                                                                               : layout.width);
  const float v = static_cast<float>(baseline) + (style.v_align == VAlign::top      ? -ascent
                                                  : style.v_align == VAlign::bottom ? descent
                                                  : style.v_align == VAlign::center ? (descent - ascent) / 2.0f
                                                                                    : 0.0f);
  if (!style.vertical) {
    canvas.blend_mask(static_cast<int>(std::lround(x - u)), static_cast<int>(std::lround(y - v)), mask_width, mask_height,
                      mask.data(), style.color);
    return;
  }
  // Turned counter-clockwise: along the text is up the screen, across it is to the right.
  std::vector<uint8_t> turned(mask.size());
  for (int j = 0; j < mask_height; ++j)
    for (int i = 0; i < mask_width; ++i)
      turned[static_cast<size_t>(mask_width - 1 - i) * mask_height + j] = mask[static_cast<size_t>(j) * mask_width + i];
  canvas.blend_mask(static_cast<int>(std::lround(x - v)), static_cast<int>(std::lround(y + u)) - mask_width, mask_height,
                    mask_width, turned.data(), style.color);
}

}  // namespace convlab
