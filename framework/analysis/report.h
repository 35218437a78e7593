// Writing a similarity matrix (CKA, RSA or Procrustes): .npy (float64, rows x cols,
// numpy.load reads it), .csv (layer names on both edges), a heatmap figure (PNG, and PDF and
// SVG on request) and, with a bootstrap, the per-cell standard deviations as stem_std.npy
// (and "0.82 ± 0.01" in the heatmap); and the JSON summary of an analysis.
#pragma once

#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "framework/analysis/compare.h"
#include "framework/plot/heatmap.h"

namespace convlab {

// "Linear CKA, debiased, 10000 examples", "RSA (Spearman of RDMs), 10000 examples", ...
std::string describe_settings(const CkaMatrix& m);

// The heatmap of a matrix, titled `title`, axes named after its sources.
HeatmapSpec heatmap_of(const CkaMatrix& m, const std::string& title);

// stem.npy, stem.csv, the heatmap as stem.png (and .pdf, .svg: one per format) and with a
// bootstrap stem_std.npy; returns the paths.
std::vector<std::filesystem::path> write_cka_matrix(const CkaMatrix& m, const std::filesystem::path& stem,
                                                    const std::string& title,
                                                    const FigureFormats& formats = {FigureFormat::png});

// One entry of summary.json.
struct AnalysisRecord {
  std::string name;  // e.g. "self_linear", "self_rsa"
  const CkaMatrix* matrix = nullptr;
  std::vector<std::filesystem::path> files;
};

// summary.json: the command, inputs, settings, time taken and each matrix with its files.
void write_summary(const std::filesystem::path& path, const std::string& command, const std::vector<std::string>& inputs,
                   const std::vector<AnalysisRecord>& records, double seconds);
// The same with the fields of `extra`, a JSON object, added at the top level: what a command
// computes besides matrices (invariance's rows, the runs of curves). A key that summary.json
// has already is an error.
void write_summary(const std::filesystem::path& path, const std::string& command, const std::vector<std::string>& inputs,
                   const std::vector<AnalysisRecord>& records, double seconds, const nlohmann::json& extra);

}  // namespace convlab
