#include "framework/analysis/identify.h"

#include <fmt/ranges.h>

#include <cmath>

#include "framework/core/error.h"

namespace convlab {

std::string identify_label(const SimilarityMatrix& m) {
  if (m.measure != Measure::cka) return measure_name(m.measure);
  return std::string("cka ") + (m.options.kernel.kind == cka::KernelKind::linear ? "linear" : "rbf");
}

double identification_credit(const double* row, int64_t cols, int64_t right, bool lower_is_better) {
  bool any = false;
  double best = 0.0;
  for (int64_t j = 0; j < cols; ++j) {
    const double v = row[j];
    if (std::isnan(v)) continue;
    if (!any || (lower_is_better ? v < best : v > best)) best = v;
    any = true;
  }
  if (!any || std::isnan(row[right]) || row[right] != best) return 0.0;
  int64_t ties = 0;
  for (int64_t j = 0; j < cols; ++j) ties += row[j] == best ? 1 : 0;
  return 1.0 / static_cast<double>(ties);
}

std::vector<IdentifyRow> identify_layers(const std::vector<std::vector<SimilarityMatrix>>& pair_matrices) {
  CONVLAB_CHECK(!pair_matrices.empty(), "identify needs at least one ordered pair of networks");
  const size_t outputs = pair_matrices.front().size();
  std::vector<IdentifyRow> rows;
  for (size_t o = 0; o < outputs; ++o) {
    const SimilarityMatrix& first = pair_matrices.front()[o];
    IdentifyRow row;
    row.measure = identify_label(first);
    row.layers = first.rows;
    row.pairs = static_cast<int64_t>(pair_matrices.size());
    row.per_layer.assign(static_cast<size_t>(row.layers), 0.0);
    for (const std::vector<SimilarityMatrix>& pair : pair_matrices) {
      CONVLAB_CHECK(pair.size() == outputs, "every pair of networks needs the same measures");
      const SimilarityMatrix& m = pair[o];
      CONVLAB_CHECK(m.rows == m.cols && m.rows == row.layers && m.row_names == first.row_names &&
                        m.col_names == first.row_names,
                    "identify compares networks of one architecture: {} has layers [{}] and {} has [{}]", m.row_source,
                    fmt::join(m.row_names, ", "), m.col_source, fmt::join(m.col_names, ", "));
      for (int64_t i = 0; i < m.rows; ++i)
        row.per_layer[static_cast<size_t>(i)] +=
            identification_credit(m.values.data() + i * m.cols, m.cols, i, m.measure == Measure::procrustes);
    }
    double total = 0.0;
    for (double& v : row.per_layer) {
      total += v;
      v /= static_cast<double>(row.pairs);
    }
    row.accuracy = total / static_cast<double>(row.pairs * row.layers);
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<std::pair<size_t, size_t>> identify_pairs(size_t networks) {
  std::vector<std::pair<size_t, size_t>> out;
  for (size_t b = 0; b < networks; ++b)
    for (size_t a = 0; a < networks; ++a)
      if (a != b) out.emplace_back(a, b);
  return out;
}

std::vector<IdentifyRow> identify_layers(const std::vector<FeatureSource*>& networks, const CompareSettings& settings,
                                         std::vector<std::vector<SimilarityMatrix>>* pair_matrices) {
  CONVLAB_CHECK(networks.size() >= 2, "identify needs two or more networks of one architecture (different seeds), "
                "got {}", networks.size());
  const std::vector<std::string> names = networks.front()->layer_names();
  for (const FeatureSource* n : networks)
    CONVLAB_CHECK(n->layer_names() == names,
                  "identify compares networks of one architecture: {} has layers [{}] and {} has [{}]",
                  networks.front()->description(), fmt::join(names, ", "), n->description(),
                  fmt::join(n->layer_names(), ", "));
  std::vector<std::vector<SimilarityMatrix>> all;
  for (size_t b = 0; b < networks.size(); ++b) {
    std::vector<FeatureSource*> sources;
    for (size_t a = 0; a < networks.size(); ++a)
      if (a != b) sources.push_back(networks[a]);
    for (std::vector<SimilarityMatrix>& matrices : compare_against(sources, *networks[b], settings, b == 0))
      all.push_back(std::move(matrices));
  }
  std::vector<IdentifyRow> rows = identify_layers(all);
  if (pair_matrices) *pair_matrices = std::move(all);
  return rows;
}

}  // namespace convlab
