#include "tests/support/figure_files.h"

#include <stb/stb_image.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace convlab::test_support {
namespace {

double number_after(const std::string& text, const std::string& key, size_t from = 0) {
  const size_t at = text.find(key, from);
  return at == std::string::npos ? 0.0 : std::atof(text.c_str() + at + key.size());
}

std::string xml_unescape(const std::string& text) {
  static const std::pair<const char*, const char*> kEntities[] = {
      {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"}, {"&amp;", "&"}};
  std::string out;
  for (size_t i = 0; i < text.size();) {
    bool replaced = false;
    for (const auto& [entity, character] : kEntities)
      if (text.compare(i, std::char_traits<char>::length(entity), entity) == 0) {
        out += character;
        i += std::char_traits<char>::length(entity);
        replaced = true;
        break;
      }
    if (!replaced) out += text[i++];
  }
  return out;
}

// The PDF's bytes with every Flate-compressed stream inflated after them: a writer may keep
// page dictionaries in compressed object streams (PDF 1.5), where /MediaBox is not plain text.
std::string with_streams_inflated(const std::string& pdf) {
  std::string out = pdf;
  for (size_t at = pdf.find("stream"); at != std::string::npos; at = pdf.find("stream", at + 6)) {
    if (at >= 3 && pdf.compare(at - 3, 3, "end") == 0) continue;
    size_t begin = at + 6;
    if (begin < pdf.size() && pdf[begin] == '\r') ++begin;
    if (begin < pdf.size() && pdf[begin] == '\n') ++begin;
    const size_t end = pdf.find("endstream", begin);
    if (end == std::string::npos) break;
    z_stream z{};
    if (inflateInit(&z) != Z_OK) continue;
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(pdf.data() + begin));
    z.avail_in = static_cast<uInt>(end - begin);
    char buffer[1 << 14];
    int status = Z_OK;
    while (status == Z_OK) {
      z.next_out = reinterpret_cast<Bytef*>(buffer);
      z.avail_out = sizeof buffer;
      status = inflate(&z, Z_NO_FLUSH);
      out.append(buffer, sizeof buffer - z.avail_out);
    }
    inflateEnd(&z);
  }
  return out;
}

}  // namespace

std::string read_bytes(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

FileSize png_size(const std::filesystem::path& png) {
  int width = 0, height = 0, channels = 0;
  unsigned char* pixels = stbi_load(png.c_str(), &width, &height, &channels, 3);
  if (!pixels) return {};
  stbi_image_free(pixels);
  return FileSize{static_cast<double>(width), static_cast<double>(height)};
}

FileSize pdf_page_size(const std::filesystem::path& pdf) {
  const std::string bytes = with_streams_inflated(read_bytes(pdf));
  const size_t at = bytes.find("/MediaBox");
  if (at == std::string::npos) return {};
  std::istringstream box(bytes.substr(bytes.find('[', at) + 1, 100));
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  box >> x0 >> y0 >> x1 >> y1;
  return FileSize{x1 - x0, y1 - y0};
}

std::optional<std::string> pdf_text(const std::filesystem::path& pdf) {
  if (std::system("pdftotext -v > /dev/null 2>&1") != 0) return std::nullopt;
  const std::filesystem::path out = pdf.string() + ".txt";
  const std::string command = "pdftotext -enc UTF-8 '" + pdf.string() + "' '" + out.string() + "' 2>&1";
  if (std::system(command.c_str()) != 0) return std::string();
  std::string text = read_bytes(out);
  std::filesystem::remove(out);
  return text;
}

FileSize svg_size(const std::filesystem::path& svg) {
  const std::string bytes = read_bytes(svg);
  const size_t root = bytes.find("<svg");
  if (root == std::string::npos) return {};
  return FileSize{number_after(bytes, "width=\"", root), number_after(bytes, "height=\"", root)};
}

std::vector<std::string> svg_texts(const std::filesystem::path& svg) {
  const std::string bytes = read_bytes(svg);
  std::vector<std::string> texts;
  for (size_t at = bytes.find("<text"); at != std::string::npos; at = bytes.find("<text", at + 1)) {
    const size_t open_end = bytes.find('>', at), close = bytes.find("</text>", at);
    if (open_end == std::string::npos || close == std::string::npos) break;
    texts.push_back(xml_unescape(bytes.substr(open_end + 1, close - open_end - 1)));
  }
  return texts;
}

}  // namespace convlab::test_support
