#include "framework/analysis/report.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "framework/core/error.h"
#include "framework/io/atomic_file.h"
#include "framework/io/npy.h"

namespace convlab {

std::string describe_settings(const CkaMatrix& m) {
  if (m.measure == Measure::rsa) return fmt::format("RSA (Spearman of RDMs), {} examples", m.examples);
  if (m.measure == Measure::procrustes) return fmt::format("Procrustes distance, {} examples", m.examples);
  const auto parameter = [&m](const std::string& key) {
    for (const auto& [name, value] : m.parameters)
      if (name == key) return value;
    return 0.0;
  };
  switch (m.measure) {
    case Measure::mutual_knn:
      return fmt::format("Mutual k-NN (k = {:g}, batches of {}), {} examples", parameter("knn"), m.batch_size,
                         m.examples);
    case Measure::cknna:
      return fmt::format("CKNNA (k = {:g}, batches of {}), {} examples", parameter("knn"), m.batch_size, m.examples);
    case Measure::svcca:
    case Measure::pwcca: {
      const std::string reduction = parameter("svcca_dims") > 0
                                        ? fmt::format("{:g} directions", parameter("svcca_dims"))
                                        : fmt::format("{:g} % of variance", 100 * parameter("svcca_variance"));
      return fmt::format("{} ({}), {} examples", m.measure == Measure::svcca ? "SVCCA" : "PWCCA (weighted by rows)",
                         reduction, m.examples);
    }
    case Measure::ridge:
      return fmt::format("Linear predictivity (leave-one-out R^2 of rows predicting columns, ridge {:g}), {} examples",
                         parameter("ridge"), m.examples);
    default: break;
  }
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
  if (m.measure == Measure::rsa) spec.colorbar_label = "RSA (Spearman)";
  if (m.measure == Measure::procrustes) {
    spec.colorbar_label = "Procrustes distance";
    spec.vmax = 2;
  }
  switch (m.measure) {
    case Measure::mutual_knn: spec.colorbar_label = "mutual k-NN"; break;
    case Measure::cknna: spec.colorbar_label = "CKNNA"; break;
    case Measure::svcca: spec.colorbar_label = "SVCCA (mean canonical correlation)"; break;
    case Measure::pwcca: spec.colorbar_label = "PWCCA"; break;
    case Measure::ridge: spec.colorbar_label = "R^2 (rows predict columns)"; break;
    default: break;
  }
  if (m.bootstrap) spec.stddev = m.bootstrap->std;
  if (m.permutation) {
    spec.marked.resize(m.values.size());
    for (size_t c = 0; c < m.values.size(); ++c) spec.marked[c] = !m.permutation->significant[c];
    spec.title += fmt::format(" (corner square: not significant, {} permutations, Holm)", m.permutation->permutations);
  }
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

// A (rows, cols) matrix as JSON rows; NaN as null.
nlohmann::json rows_of(const std::vector<double>& values, int64_t rows, int64_t cols) {
  nlohmann::json out = nlohmann::json::array();
  for (int64_t i = 0; i < rows; ++i) {
    nlohmann::json row = nlohmann::json::array();
    for (int64_t j = 0; j < cols; ++j) {
      const double v = values[static_cast<size_t>(i * cols + j)];
      row.push_back(std::isfinite(v) ? nlohmann::json(v) : nlohmann::json());
    }
    out.push_back(row);
  }
  return out;
}

std::string estimator_note(const CkaMatrix& m) {
  switch (m.measure) {
    case Measure::rsa:
      return "per batch: Spearman correlation of the upper triangles of the k x k RDMs (1 - Pearson); mean over "
             "batches weighted by batch size";
    case Measure::procrustes:
      return "per batch: 2 - 2 ||X^T Y||_* of the centred, Frobenius-normalised k x p features; mean over batches "
             "weighted by batch size";
    case Measure::mutual_knn:
      return "per batch: mean over its examples of the share of k nearest neighbours (cosine of the raw features, "
             "within the batch, ties to the lower index) that both layers share; mean over batches weighted by batch "
             "size";
    case Measure::cknna:
      return "per batch: debiased HSIC of the cosine kernels masked to the pairs that are k nearest neighbours in "
             "both layers, and of each layer with its own mask; CKNNA from their means over batches weighted by "
             "batch size";
    case Measure::svcca:
      return "per batch: centred features reduced to their leading principal directions, then the mean canonical "
             "correlation; mean over batches weighted by batch size";
    case Measure::pwcca:
      return "per batch: canonical correlations after the SVCCA reduction, weighted by each canonical variate's "
             "share of the row layer's reduced units; mean over batches weighted by batch size";
    case Measure::ridge:
      return "per batch: leave-one-out R^2 of a ridge regression from the row layer to the column layer, both "
             "centred on the batch; mean over batches weighted by batch size";
    default:
      return "per batch: HSIC of every pair of layers; CKA from their means over batches weighted by batch size "
             "(Nguyen et al. 2021)";
  }
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
  if (!m.bootstrap) return files;
  const std::filesystem::path std_npy = stem.string() + "_std.npy";
  write_npy(std_npy, std::vector<int64_t>{m.rows, m.cols}, m.bootstrap->std);
  files.push_back(std_npy);
  return files;
}

void write_summary(const std::filesystem::path& path, const std::string& command, const std::vector<std::string>& inputs,
                   const std::vector<AnalysisRecord>& records, double seconds) {
  write_summary(path, command, inputs, records, seconds, nlohmann::json::object());
}

void write_summary(const std::filesystem::path& path, const std::string& command, const std::vector<std::string>& inputs,
                   const std::vector<AnalysisRecord>& records, double seconds, const nlohmann::json& extra) {
  CONVLAB_CHECK(extra.is_object(), "summary.json's extra fields must be a JSON object, not {}", extra.type_name());
  nlohmann::json summary;
  summary["command"] = command;
  summary["inputs"] = inputs;
  summary["seconds"] = seconds;
  nlohmann::json list = nlohmann::json::array();
  for (const AnalysisRecord& r : records) {
    const CkaMatrix& m = *r.matrix;
    nlohmann::json entry;
    entry["name"] = r.name;
    entry["measure"] = measure_name(m.measure);
    entry["settings"] = describe_settings(m);
    entry["kernel"] = m.options.kernel.kind == cka::KernelKind::linear ? "linear" : "rbf";
    entry["rbf_frac"] = m.options.kernel.rbf_frac;
    entry["estimator"] = m.options.estimator == cka::Estimator::debiased ? "debiased" : "biased";
    entry["examples"] = m.examples;
    entry["batch_size"] = m.batch_size;
    entry["batches"] = m.batches;
    entry["last_batch"] = last_batch_name(m.last_batch);
    entry["minibatch_estimator"] = estimator_note(m);
    entry["precision"] = m.precision;
    entry["seconds"] = m.seconds;
    entry["rows"] = m.row_source;
    entry["columns"] = m.col_source;
    entry["row_layers"] = m.row_names;
    entry["column_layers"] = m.col_names;
    nlohmann::json files = nlohmann::json::array();
    for (const auto& f : r.files) files.push_back(f.string());
    entry["files"] = files;
    entry["values"] = rows_of(m.values, m.rows, m.cols);
    if (m.measure == Measure::cka) entry["cka"] = entry["values"];
    if (!m.parameters.empty()) {
      nlohmann::json parameters = nlohmann::json::object();
      for (const auto& [name, value] : m.parameters) parameters[name] = value;
      entry["parameters"] = parameters;
    }
    entry["symmetric"] = !asymmetric(m.measure);
    if (!m.kept_dims.empty()) {
      // One count per row of the comparison: A's layers, then (two networks) B's, marked "B:".
      std::vector<std::string> names = m.row_names;
      if (m.kept_dims.size() > names.size())
        for (const std::string& n : m.col_names) names.push_back("B:" + n);
      nlohmann::json dims;
      for (size_t i = 0; i < m.kept_dims.size() && i < names.size(); ++i) dims[names[i]] = m.kept_dims[i];
      entry["svcca_kept_dims"] = dims;
    }
    if (!m.forms.empty()) {
      // One form per row of the comparison: A's layers, then (two networks) B's, marked "B:".
      std::vector<std::string> names = m.row_names;
      if (m.forms.size() > names.size())
        for (const std::string& n : m.col_names) names.push_back("B:" + n);
      nlohmann::json forms;
      for (size_t i = 0; i < m.forms.size() && i < names.size(); ++i) forms[names[i]] = m.forms[i];
      entry["procrustes_forms"] = forms;
    }
    if (m.permutation) {
      const stats::PermutationSummary& p = *m.permutation;
      nlohmann::json test;
      test["permutations"] = p.permutations;
      test["seed"] = p.seed;
      test["null"] = "network B's examples shuffled within each batch (the same shuffles for every measure), the "
                     "measure recomputed from its per-batch terms";
      test["p_value"] = "(1 + permutations at least as similar as the estimate) / (1 + permutations)";
      test["more_similar"] = p.lower_is_similar ? "lower" : "higher";
      test["correction"] = "Holm over the matrix's cells";
      test["alpha"] = p.alpha;
      test["p_values"] = rows_of(p.p_value, m.rows, m.cols);
      test["null_mean"] = rows_of(p.null_mean, m.rows, m.cols);
      test["null_q05"] = rows_of(p.null_q05, m.rows, m.cols);
      test["null_q95"] = rows_of(p.null_q95, m.rows, m.cols);
      nlohmann::json significant = nlohmann::json::array();
      for (int64_t i = 0; i < m.rows; ++i) {
        nlohmann::json row = nlohmann::json::array();
        for (int64_t j = 0; j < m.cols; ++j) row.push_back(static_cast<bool>(p.significant[i * m.cols + j]));
        significant.push_back(row);
      }
      test["significant"] = significant;
      entry["permutation_test"] = test;
    }
    if (m.bootstrap) {
      const stats::BootstrapSummary& b = *m.bootstrap;
      nlohmann::json boot;
      boot["replicates"] = b.replicates;
      boot["seed"] = b.seed;
      boot["resampling"] = "the batches, uniformly with replacement, as many as there were (a block bootstrap over "
                           "minibatches of batch_size examples)";
      boot["mean"] = rows_of(b.mean, m.rows, m.cols);
      boot["std"] = rows_of(b.std, m.rows, m.cols);
      boot["q025"] = rows_of(b.q025, m.rows, m.cols);
      boot["q975"] = rows_of(b.q975, m.rows, m.cols);
      entry["bootstrap"] = boot;
    }
    list.push_back(entry);
  }
  summary["analyses"] = list;
  for (const auto& [key, value] : extra.items()) {
    CONVLAB_CHECK(!summary.contains(key), "summary.json already has a field '{}'", key);
    summary[key] = value;
  }
  write_file_atomically(path, [&](std::ostream& out) { out << summary.dump(2) << '\n'; });
}

}  // namespace convlab
