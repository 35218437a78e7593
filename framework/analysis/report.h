// Writing a CKA matrix: .npy (float64, rows x cols, numpy.load reads it), .csv (layer names
// on both edges) and a heatmap figure (PNG, and PDF and SVG on request); and the JSON summary
// of an analysis.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "framework/analysis/compare.h"
#include "framework/plot/heatmap.h"

namespace convlab {

// "Linear CKA (debiased, 10000 examples)" and the like.
std::string describe_settings(const CkaMatrix& m);

// The heatmap of a matrix, titled `title`, axes named after its sources.
HeatmapSpec heatmap_of(const CkaMatrix& m, const std::string& title);

// stem.npy, stem.csv and the heatmap as stem.png (and .pdf, .svg: one per format); returns
// the paths.
std::vector<std::filesystem::path> write_cka_matrix(const CkaMatrix& m, const std::filesystem::path& stem,
                                                    const std::string& title,
                                                    const FigureFormats& formats = {FigureFormat::png});

// One entry of summary.json.
struct AnalysisRecord {
  std::string name;  // e.g. "self_linear"
  const CkaMatrix* matrix = nullptr;
  std::vector<std::filesystem::path> files;
};

// summary.json: the command, inputs, settings, time taken and each matrix with its files.
void write_summary(const std::filesystem::path& path, const std::string& command, const std::vector<std::string>& inputs,
                   const std::vector<AnalysisRecord>& records, double seconds);

}  // namespace convlab
