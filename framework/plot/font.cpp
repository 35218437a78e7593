#include "framework/plot/font.h"

#include <cairo-ft.h>
#include <cairo.h>
#include <ft2build.h>
#include FT_FREETYPE_H

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "framework/core/error.h"

#ifndef CONVLAB_FONT_PATH
#define CONVLAB_FONT_PATH "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
#endif

namespace convlab {
namespace {

// The FreeType face lives as long as the program: cairo's face refers to it.
class LoadedFont {
 public:
  explicit LoadedFont(const char* path) {
    if (!std::filesystem::exists(path))
      CONVLAB_FAIL("font {} not found: install the Debian package fonts-dejavu-core "
                   "(apt-get install fonts-dejavu-core), or name a .ttf file in the environment variable "
                   "CONVLAB_FONT",
                   path);
    if (FT_Init_FreeType(&library_) != 0) CONVLAB_FAIL("FreeType could not start, so figures cannot have text");
    if (FT_New_Face(library_, path, 0, &face_) != 0) {
      FT_Done_FreeType(library_);
      CONVLAB_FAIL("{} is not a font FreeType can read: reinstall fonts-dejavu-core or name another in CONVLAB_FONT",
                   path);
    }
    cairo_face_ = cairo_ft_font_face_create_for_ft_face(face_, 0);
    CONVLAB_CHECK(cairo_font_face_status(cairo_face_) == CAIRO_STATUS_SUCCESS, "cairo cannot use the font {}: {}",
                  path, cairo_status_to_string(cairo_font_face_status(cairo_face_)));
    options_ = cairo_font_options_create();
    cairo_font_options_set_hint_metrics(options_, CAIRO_HINT_METRICS_OFF);
    cairo_font_options_set_hint_style(options_, CAIRO_HINT_STYLE_NONE);
    cairo_font_options_set_antialias(options_, CAIRO_ANTIALIAS_GRAY);
    // A context for measuring only: text extents need one, not a real surface.
    measure_surface_ = cairo_image_surface_create(CAIRO_FORMAT_A8, 1, 1);
    measure_ = cairo_create(measure_surface_);
    cairo_set_font_face(measure_, cairo_face_);
    cairo_set_font_options(measure_, options_);
  }

  cairo_font_face_t* face() const { return cairo_face_; }
  const cairo_font_options_t* options() const { return options_; }

  TextExtent measure(const std::string& text, float size) {
    const std::lock_guard<std::mutex> lock(mutex_);
    cairo_set_font_size(measure_, size);
    cairo_font_extents_t font{};
    cairo_font_extents(measure_, &font);
    cairo_text_extents_t extents{};
    cairo_text_extents(measure_, printable_text(text).c_str(), &extents);
    return TextExtent{static_cast<float>(extents.x_advance), static_cast<float>(font.ascent),
                      static_cast<float>(font.descent)};
  }

 private:
  FT_Library library_ = nullptr;
  FT_Face face_ = nullptr;
  cairo_font_face_t* cairo_face_ = nullptr;
  cairo_font_options_t* options_ = nullptr;
  cairo_surface_t* measure_surface_ = nullptr;
  cairo_t* measure_ = nullptr;
  std::mutex mutex_;
};

// Loaded on first use, from $CONVLAB_FONT when set (a machine without Debian's fonts, such
// as a GPU machine the bundle is carried to), else the path built in; a failed load throws and
// is retried by the next call.
LoadedFont& loaded_font() {
  static LoadedFont font([] {
    const char* chosen = std::getenv("CONVLAB_FONT");
    return chosen && *chosen ? chosen : CONVLAB_FONT_PATH;
  }());
  return font;
}

}  // namespace

TextExtent measure_text(const std::string& text, float size) {
  CONVLAB_CHECK(size > 0.0f && size <= 2000.0f, "text size {} is not in (0, 2000]", size);
  return loaded_font().measure(text, size);
}

std::vector<std::string> wrap_text(const std::string& text, float size, float max_width) {
  // Titles read "what: of what"; where they need two lines, the first break goes after the colon.
  const size_t colon = text.find(": ");
  if (colon != std::string::npos && measure_text(text, size).width > max_width) {
    std::vector<std::string> lines = wrap_text(text.substr(0, colon + 1), size, max_width);
    for (std::string& line : wrap_text(text.substr(colon + 2), size, max_width)) lines.push_back(std::move(line));
    return lines;
  }
  std::vector<std::string> lines;
  std::string line;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find(' ', start), text.size());
    const std::string word = text.substr(start, end - start);
    start = end + 1;
    if (word.empty()) continue;
    const std::string longer = line.empty() ? word : line + " " + word;
    if (!line.empty() && measure_text(longer, size).width > max_width) {
      lines.push_back(line);
      line = word;
    } else {
      line = longer;
    }
  }
  if (!line.empty()) lines.push_back(line);
  return lines;
}

cairo_font_face_t* plot_font() { return loaded_font().face(); }

const cairo_font_options_t* plot_font_options() { return loaded_font().options(); }

std::string printable_text(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x20 || byte == 0x7f) {
      out += ' ';
      ++i;
      continue;
    }
    const size_t length = byte < 0x80 ? 1 : (byte >> 5) == 0x6 ? 2 : (byte >> 4) == 0xe ? 3 : (byte >> 3) == 0x1e ? 4 : 0;
    bool valid = length > 0 && i + length <= text.size();
    unsigned codepoint = length == 1 ? byte : length == 2 ? byte & 0x1fu : length == 3 ? byte & 0x0fu : byte & 0x07u;
    for (size_t k = 1; valid && k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      valid = (next & 0xc0) == 0x80;
      codepoint = (codepoint << 6) | (next & 0x3fu);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8 either.
    static constexpr unsigned kSmallest[5] = {0, 0, 0x80, 0x800, 0x10000};
    valid = valid && codepoint >= kSmallest[length] && codepoint <= 0x10ffff && (codepoint < 0xd800 || codepoint > 0xdfff);
    if (valid) {
      out.append(text, i, length);
      i += length;
    } else {
      out += "\xef\xbf\xbd";  // U+FFFD
      ++i;
    }
  }
  return out;
}

}  // namespace convlab
