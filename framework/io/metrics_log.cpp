#include "framework/io/metrics_log.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <sstream>

#include "framework/core/error.h"
#include "framework/io/atomic_file.h"

namespace convlab {
namespace {

// Column order of metrics.csv; reading finds columns by name, so this order is only a convention.
constexpr std::array<const char*, 9> kColumns = {"epoch",    "updates",   "lr",      "train_loss",       "train_acc",
                                                 "test_loss", "test_acc", "seconds", "images_per_second"};

std::string csv_header() {
  std::string text;
  for (size_t i = 0; i < kColumns.size(); ++i) {
    if (i) text += ',';
    text += kColumns[i];
  }
  return text;
}

// fmt's shortest form reads back to the same double (and writes nan/inf, which from_chars reads).
std::string csv_row(const EpochMetrics& m) {
  return fmt::format("{},{},{},{},{},{},{},{},{}", m.epoch, m.updates, m.lr, m.train_loss, m.train_acc, m.test_loss,
                     m.test_acc, m.seconds, m.images_per_second);
}

// JSON has no NaN: nlohmann writes non-finite numbers as null.
std::string jsonl_row(const EpochMetrics& m) {
  nlohmann::ordered_json row;
  visit_metrics(m, [&](const char* column, auto value) { row[column] = value; });
  return row.dump();
}

std::vector<std::string> split(const std::string& line, char separator) {
  std::vector<std::string> fields;
  size_t start = 0;
  while (true) {
    const size_t end = line.find(separator, start);
    fields.push_back(line.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return fields;
    start = end + 1;
  }
}

template <class T>
bool parse_number(const std::string& text, T& value) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size();
}

// Fills row from fields; returns an empty string on success, otherwise what is wrong.
std::string parse_row(const std::vector<std::string>& fields, const std::array<size_t, 9>& index, EpochMetrics& row) {
  int64_t* ints[] = {&row.epoch, &row.updates};
  double* doubles[] = {&row.lr,        &row.train_loss, &row.train_acc, &row.test_loss,
                       &row.test_acc, &row.seconds,    &row.images_per_second};
  for (size_t c = 0; c < kColumns.size(); ++c) {
    const std::string& text = fields[index[c]];
    const bool ok = c < 2 ? parse_number(text, *ints[c]) : parse_number(text, *doubles[c - 2]);
    if (!ok) return fmt::format("column '{}' holds '{}', not a number", kColumns[c], text);
  }
  return {};
}

}  // namespace

MetricsLog::MetricsLog(const std::filesystem::path& run_dir, bool resume)
    : csv_path_(run_dir / kCsvName), jsonl_path_(run_dir / kJsonlName) {
  std::error_code ec;
  std::filesystem::create_directories(run_dir, ec);
  if (ec) CONVLAB_FAIL("cannot create the run folder {}: {}", run_dir.string(), ec.message());
  std::vector<EpochMetrics> kept;
  if (resume && std::filesystem::exists(csv_path_)) kept = read_csv(csv_path_);
  // Rewriting both files from the CSV also drops a row cut off by a crash and restores a
  // missing metrics.jsonl.
  write_all(kept);
  open_for_append();
}

void MetricsLog::open_for_append() {
  csv_.open(csv_path_, std::ios::app);
  if (!csv_) CONVLAB_FAIL("cannot open {} for appending", csv_path_.string());
  jsonl_.open(jsonl_path_, std::ios::app);
  if (!jsonl_) CONVLAB_FAIL("cannot open {} for appending", jsonl_path_.string());
}

void MetricsLog::write_all(const std::vector<EpochMetrics>& rows) {
  write_file_atomically(csv_path_, [&](std::ostream& out) {
    out << csv_header() << '\n';
    for (const EpochMetrics& row : rows) out << csv_row(row) << '\n';
  });
  write_file_atomically(jsonl_path_, [&](std::ostream& out) {
    for (const EpochMetrics& row : rows) out << jsonl_row(row) << '\n';
  });
}

void MetricsLog::append(const EpochMetrics& row) {
  csv_ << csv_row(row) << '\n' << std::flush;
  if (!csv_) CONVLAB_FAIL("error appending to {} (disk full?)", csv_path_.string());
  jsonl_ << jsonl_row(row) << '\n' << std::flush;
  if (!jsonl_) CONVLAB_FAIL("error appending to {} (disk full?)", jsonl_path_.string());
}

void MetricsLog::truncate_after(int64_t last_epoch) {
  std::vector<EpochMetrics> kept;
  for (const EpochMetrics& row : read_csv(csv_path_))
    if (row.epoch <= last_epoch) kept.push_back(row);
  csv_.close();
  jsonl_.close();
  write_all(kept);
  open_for_append();
}

std::vector<EpochMetrics> MetricsLog::rows() const { return read_csv(csv_path_); }

std::string MetricsLog::row_text(const EpochMetrics& row) { return csv_row(row); }

EpochMetrics MetricsLog::parse_row_text(const std::string& text, const std::string& where) {
  const std::vector<std::string> fields = split(text, ',');
  if (fields.size() != kColumns.size())
    CONVLAB_FAIL("{}: a metrics row needs {} fields ({}), got {}", where, kColumns.size(), csv_header(), fields.size());
  std::array<size_t, 9> index{};
  for (size_t c = 0; c < index.size(); ++c) index[c] = c;
  EpochMetrics row;
  const std::string problem = parse_row(fields, index, row);
  if (!problem.empty()) CONVLAB_FAIL("{}: {}", where, problem);
  return row;
}

std::vector<EpochMetrics> MetricsLog::read_csv(const std::filesystem::path& csv) {
  std::ifstream in(csv, std::ios::binary);
  if (!in) CONVLAB_FAIL("cannot open metrics file {}", csv.string());
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  if (text.empty()) return {};  // killed before the header was written
  const bool ends_with_newline = text.back() == '\n';

  std::vector<std::string> lines = split(text, '\n');
  if (ends_with_newline) lines.pop_back();
  for (std::string& line : lines)
    if (!line.empty() && line.back() == '\r') line.pop_back();

  const std::vector<std::string> header = split(lines[0], ',');
  std::array<size_t, 9> index{};
  for (size_t c = 0; c < kColumns.size(); ++c) {
    const auto it = std::find(header.begin(), header.end(), kColumns[c]);
    if (it == header.end())
      CONVLAB_FAIL("{}:1: no column '{}' in the header '{}' (expected {})", csv.string(), kColumns[c], lines[0],
                   csv_header());
    index[c] = static_cast<size_t>(it - header.begin());
  }

  std::vector<EpochMetrics> rows;
  for (size_t i = 1; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    const bool interrupted_last = i + 1 == lines.size() && !ends_with_newline;
    const std::vector<std::string> fields = split(lines[i], ',');
    EpochMetrics row;
    std::string problem = fields.size() == header.size()
                              ? parse_row(fields, index, row)
                              : fmt::format("{} fields, the header has {}", fields.size(), header.size());
    if (!problem.empty()) {
      if (interrupted_last) break;  // the write of this row was cut off
      CONVLAB_FAIL("{}:{}: {}", csv.string(), i + 1, problem);
    }
    rows.push_back(row);
  }
  return rows;
}

}  // namespace convlab
