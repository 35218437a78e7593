// Reading back the figures convlab writes, as a user's tools would see them: a PNG's size,
// a PDF's page size and extractable text, an SVG's size and text nodes.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace convlab::test_support {

std::string read_bytes(const std::filesystem::path& file);

struct FileSize {
  double width = 0, height = 0;
};

// The PNG decoded (stb_image): its width and height in pixels; 0 x 0 when it does not decode.
FileSize png_size(const std::filesystem::path& png);

// The first page's /MediaBox width and height in points; 0 x 0 when there is none.
FileSize pdf_page_size(const std::filesystem::path& pdf);

// The text pdftotext extracts, or nothing when pdftotext (poppler-utils) is not installed.
std::optional<std::string> pdf_text(const std::filesystem::path& pdf);

// The root <svg> element's width and height attributes, in px.
FileSize svg_size(const std::filesystem::path& svg);

// The content of every <text> element, with XML entities decoded.
std::vector<std::string> svg_texts(const std::filesystem::path& svg);

}  // namespace convlab::test_support
