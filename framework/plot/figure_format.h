// The file formats a figure is written in: PNG (raster, for screens and the README), PDF and
// SVG (vector, with real text, for papers and the web).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace convlab {

enum class FigureFormat { png, pdf, svg };
using FigureFormats = std::vector<FigureFormat>;

// "png", "pdf" or "svg"; also the file extension without its dot.
const char* format_name(FigureFormat format);

// A comma-separated list such as "png,pdf,svg" (the --figure-format option): each format
// once, in the order given. An empty list, an unknown name or a repeat is an error naming it.
FigureFormats parse_figure_formats(const std::string& list);

// The format a path's extension names (.png, .pdf, .svg; any case); other extensions are errors.
FigureFormat format_of(const std::filesystem::path& path);

}  // namespace convlab
