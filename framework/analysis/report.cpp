#include "framework/analysis/report.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "framework/io/atomic_file.h"
#include "framework/io/npy.h"

namespace convlab {

std::string describe_settings(const CkaMatrix& m) {
  const cka::Kernel& k = m.options.kernel;
  const std::string kernel = k.kind == cka::KernelKind::linear ? "Linear CKA" : fmt::format("RBF CKA (frac {:g})", k.rbf_frac);
  return fmt::format("{}, {}, {} examples", kernel,
                     m.options.estimator == cka::Estimator::debiased ? "debiased" : "biased", m.examples);
}

HeatmapSpec heatmap_of(const CkaMatrix& m, const std::string& title) {
  HeatmapSpec spec;
  spec.title = title;
  spec.row_axis = m.row_source;
  spec.col_axis = m.col_source;
  spec.row_labels = m.row_names;
  spec.col_labels = m.col_names;
  spec.values = m.values;
  return spec;
}

namespace {

// CSV cells: names quoted when they hold a comma or quote.
std::string csv_cell(const std::string& text) {
  if (text.find_first_of(",\"") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

}  // namespace

std::vector<std::filesystem::path> write_cka_matrix(const CkaMatrix& m, const std::filesystem::path& stem,
                                                    const std::string& title, const FigureFormats& formats) {
  std::filesystem::create_directories(stem.parent_path().empty() ? "." : stem.parent_path());
  const std::filesystem::path npy = stem.string() + ".npy", csv = stem.string() + ".csv";
  write_npy(npy, std::vector<int64_t>{m.rows, m.cols}, m.values);
  write_file_atomically(csv, [&](std::ostream& out) {
    out << "layer";
    for (const std::string& name : m.col_names) out << ',' << csv_cell(name);
    out << '\n';
    for (int64_t i = 0; i < m.rows; ++i) {
      out << csv_cell(m.row_names[i]);
      for (int64_t j = 0; j < m.cols; ++j) out << ',' << fmt::format("{:.6f}", m.at(i, j));
      out << '\n';
    }
  });
  std::vector<std::filesystem::path> files = {npy, csv};
  for (const std::filesystem::path& figure : save_heatmap(heatmap_of(m, title), stem, formats)) files.push_back(figure);
  return files;
}

void write_summary(const std::filesystem::path& path, const std::string& command, const std::vector<std::string>& inputs,
                   const std::vector<AnalysisRecord>& records, double seconds) {
  nlohmann::json summary;
  summary["command"] = command;
  summary["inputs"] = inputs;
  summary["seconds"] = seconds;
  nlohmann::json list = nlohmann::json::array();
  for (const AnalysisRecord& r : records) {
    const CkaMatrix& m = *r.matrix;
    nlohmann::json entry;
    entry["name"] = r.name;
    entry["settings"] = describe_settings(m);
    entry["kernel"] = m.options.kernel.kind == cka::KernelKind::linear ? "linear" : "rbf";
    entry["rbf_frac"] = m.options.kernel.rbf_frac;
    entry["estimator"] = m.options.estimator == cka::Estimator::debiased ? "debiased" : "biased";
    entry["examples"] = m.examples;
    entry["batch_size"] = m.batch_size;
    entry["seconds"] = m.seconds;
    entry["rows"] = m.row_source;
    entry["columns"] = m.col_source;
    entry["row_layers"] = m.row_names;
    entry["column_layers"] = m.col_names;
    nlohmann::json files = nlohmann::json::array();
    for (const auto& f : r.files) files.push_back(f.string());
    entry["files"] = files;
    nlohmann::json values = nlohmann::json::array();
    for (int64_t i = 0; i < m.rows; ++i) {
      nlohmann::json row = nlohmann::json::array();
      for (int64_t j = 0; j < m.cols; ++j) row.push_back(std::isfinite(m.at(i, j)) ? nlohmann::json(m.at(i, j)) : nlohmann::json());
      values.push_back(row);
    }
    entry["cka"] = values;
    list.push_back(entry);
  }
  summary["analyses"] = list;
  write_file_atomically(path, [&](std::ostream& out) { out << summary.dump(2) << '\n'; });
}

}  // namespace convlab
