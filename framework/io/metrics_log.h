// Per-epoch training metrics, kept twice in the run folder: metrics.csv for spreadsheets and
// plots, metrics.jsonl (one JSON object per line) for scripts. Each row is flushed as it is
// written, so a killed run keeps every finished epoch.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <vector>

namespace convlab {

struct EpochMetrics {
  int64_t epoch = 0;    // the epoch just finished; 0: the network at init, before any update
  int64_t updates = 0;  // optimiser steps taken so far
  double lr = 0;        // learning rate of the epoch's last update (epoch 0: of the first)
  // Running means over the epoch's training batches; NaN at epoch 0.
  double train_loss = 0;
  double train_acc = 0;  // fraction in [0, 1]
  double test_loss = 0;
  double test_acc = 0;  // fraction in [0, 1]
  double seconds = 0;   // wall time of the epoch (epoch 0: of the evaluation)
  double images_per_second = 0;  // training throughput; NaN at epoch 0

  bool operator==(const EpochMetrics&) const = default;
};

// Calls visit(column, value) for each field under its metrics.csv column name, in the file's
// order (integers as int64_t, the rest as double): the one list of names that the JSON lines
// and other writers of a row (the Python package's dicts) share.
template <class Visit>
void visit_metrics(const EpochMetrics& m, Visit&& visit) {
  visit("epoch", m.epoch);
  visit("updates", m.updates);
  visit("lr", m.lr);
  visit("train_loss", m.train_loss);
  visit("train_acc", m.train_acc);
  visit("test_loss", m.test_loss);
  visit("test_acc", m.test_acc);
  visit("seconds", m.seconds);
  visit("images_per_second", m.images_per_second);
}

class MetricsLog {
 public:
  static constexpr const char* kCsvName = "metrics.csv";
  static constexpr const char* kJsonlName = "metrics.jsonl";

  // Creates run_dir if needed. A fresh log replaces existing files; resume keeps their rows
  // (call truncate_after to drop epochs past the checkpoint resumed from).
  MetricsLog(const std::filesystem::path& run_dir, bool resume);

  void append(const EpochMetrics& row);

  // Keeps the rows with epoch <= last_epoch in both files, rewritten atomically.
  void truncate_after(int64_t last_epoch);

  // The rows written so far, as read back from metrics.csv.
  std::vector<EpochMetrics> rows() const;

  const std::filesystem::path& csv_path() const { return csv_path_; }
  const std::filesystem::path& jsonl_path() const { return jsonl_path_; }

  // Reads a metrics.csv. Columns are found by name; rows must be complete, except that a
  // last line cut off mid-write (no newline, unparsable) is dropped.
  static std::vector<EpochMetrics> read_csv(const std::filesystem::path& csv);

  // One row as a line of metrics.csv (its column order) and back, exactly: a checkpoint
  // carries the row of its epoch, so a row lost with a crash can be written again. Parsing
  // errors name `where`.
  static std::string row_text(const EpochMetrics& row);
  static EpochMetrics parse_row_text(const std::string& text, const std::string& where);

 private:
  void open_for_append();
  void write_all(const std::vector<EpochMetrics>& rows);

  std::filesystem::path csv_path_;
  std::filesystem::path jsonl_path_;
  std::ofstream csv_;
  std::ofstream jsonl_;
};

}  // namespace convlab
