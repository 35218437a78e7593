#include "framework/plot/figure_format.h"

#include <algorithm>
#include <cctype>

#include "framework/core/error.h"

namespace convlab {
namespace {

constexpr FigureFormat kAll[] = {FigureFormat::png, FigureFormat::pdf, FigureFormat::svg};

bool name_to_format(std::string name, FigureFormat& format) {
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  for (FigureFormat f : kAll)
    if (name == format_name(f)) {
      format = f;
      return true;
    }
  return false;
}

}  // namespace

const char* format_name(FigureFormat format) {
  switch (format) {
    case FigureFormat::png: return "png";
    case FigureFormat::pdf: return "pdf";
    case FigureFormat::svg: return "svg";
  }
  return "?";
}

FigureFormats parse_figure_formats(const std::string& list) {
  FigureFormats formats;
  size_t start = 0;
  while (true) {
    const size_t end = list.find(',', start);
    const std::string name = list.substr(start, end == std::string::npos ? std::string::npos : end - start);
    FigureFormat format{};
    if (!name_to_format(name, format))
      CONVLAB_FAIL("figure format '{}' in '{}' is not one of png, pdf, svg (give e.g. png,pdf,svg)", name, list);
    if (std::find(formats.begin(), formats.end(), format) != formats.end())
      CONVLAB_FAIL("figure format '{}' is given twice in '{}'", name, list);
    formats.push_back(format);
    if (end == std::string::npos) return formats;
    start = end + 1;
  }
}

FigureFormat format_of(const std::filesystem::path& path) {
  const std::string extension = path.extension().string();
  FigureFormat format{};
  if (extension.size() < 2 || !name_to_format(extension.substr(1), format))
    CONVLAB_FAIL("cannot tell the figure format of {}: its name must end in .png, .pdf or .svg", path.string());
  return format;
}

}  // namespace convlab
