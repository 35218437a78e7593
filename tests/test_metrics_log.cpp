#include "framework/io/metrics_log.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>

#include "framework/core/error.h"

namespace convlab {
namespace {

class MetricsLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("convlab_test_metrics_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
};

EpochMetrics row(int64_t epoch) {
  EpochMetrics m;
  m.epoch = epoch;
  m.updates = epoch * 391;
  m.lr = epoch > 2 ? 0.01 : 0.1;
  m.train_loss = 2.0 / static_cast<double>(epoch) + 1e-9;
  m.train_acc = 0.1 + 0.2 * static_cast<double>(epoch) / 3.0;
  m.test_loss = 1.0 / 3.0 + static_cast<double>(epoch);
  m.test_acc = 0.93456789012345678;
  m.seconds = 12.25;
  m.images_per_second = 4081.6326530612246;
  return m;
}

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

size_t count_lines(const std::string& text) { return static_cast<size_t>(std::count(text.begin(), text.end(), '\n')); }

TEST_F(MetricsLogTest, WritesCsvAndJsonlRowByRow) {
  MetricsLog log(dir_ / "run", false);
  EXPECT_EQ(log.csv_path(), dir_ / "run" / "metrics.csv");
  for (int64_t epoch = 1; epoch <= 3; ++epoch) {
    log.append(row(epoch));
    // Flushed at once: readable while the log is still open.
    EXPECT_EQ(MetricsLog::read_csv(log.csv_path()).size(), static_cast<size_t>(epoch));
  }
  const std::string csv = read_all(log.csv_path());
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "epoch,updates,lr,train_loss,train_acc,test_loss,test_acc,seconds,images_per_second");
  EXPECT_EQ(count_lines(csv), 4u);

  const std::string jsonl = read_all(log.jsonl_path());
  EXPECT_EQ(count_lines(jsonl), 3u);
  EXPECT_EQ(jsonl.substr(0, jsonl.find('\n')),
            R"({"epoch":1,"updates":391,"lr":0.1,"train_loss":2.000000001,"train_acc":0.16666666666666669,)"
            R"("test_loss":1.3333333333333333,"test_acc":0.9345678901234568,"seconds":12.25,)"
            R"("images_per_second":4081.6326530612246})");

  const std::vector<EpochMetrics> rows = MetricsLog::read_csv(log.csv_path());
  ASSERT_EQ(rows.size(), 3u);
  for (int64_t epoch = 1; epoch <= 3; ++epoch) EXPECT_EQ(rows[epoch - 1], row(epoch));  // exact doubles
  EXPECT_EQ(log.rows(), rows);
}

TEST_F(MetricsLogTest, FreshLogReplacesOldRowsResumeKeepsThem) {
  {
    MetricsLog log(dir_, false);
    log.append(row(1));
    log.append(row(2));
  }
  {
    MetricsLog log(dir_, true);
    EXPECT_EQ(log.rows().size(), 2u);
    log.append(row(3));
    EXPECT_EQ(log.rows().size(), 3u);
    EXPECT_EQ(count_lines(read_all(log.jsonl_path())), 3u);
  }
  MetricsLog fresh(dir_, false);
  EXPECT_TRUE(fresh.rows().empty());
  EXPECT_EQ(count_lines(read_all(fresh.jsonl_path())), 0u);
}

TEST_F(MetricsLogTest, TruncateAfterKeepsEarlierEpochs) {
  MetricsLog log(dir_, false);
  for (int64_t epoch = 1; epoch <= 7; ++epoch) log.append(row(epoch));
  log.truncate_after(5);
  EXPECT_EQ(log.rows().size(), 5u);
  EXPECT_EQ(count_lines(read_all(log.jsonl_path())), 5u);
  log.append(row(6));  // appending continues after the rewrite
  const auto rows = log.rows();
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_EQ(rows.back(), row(6));
  EXPECT_EQ(count_lines(read_all(log.jsonl_path())), 6u);
  for (const auto& entry : std::filesystem::directory_iterator(dir_))
    EXPECT_NE(entry.path().extension(), ".tmp") << entry.path();
}

TEST_F(MetricsLogTest, NonFiniteValuesSurvive) {
  MetricsLog log(dir_, false);
  EpochMetrics diverged = row(1);
  diverged.train_loss = std::numeric_limits<double>::quiet_NaN();
  diverged.test_loss = std::numeric_limits<double>::infinity();
  log.append(diverged);
  const auto rows = log.rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_TRUE(std::isnan(rows[0].train_loss));
  EXPECT_TRUE(std::isinf(rows[0].test_loss));
  EXPECT_NE(read_all(log.jsonl_path()).find(R"("train_loss":null)"), std::string::npos);
}

TEST_F(MetricsLogTest, TheEpochZeroRowRoundTripsAndSurvivesTruncation) {
  // What the trainer writes at init: evaluated, not trained.
  EpochMetrics init = row(0);
  init.train_loss = init.train_acc = init.images_per_second = std::numeric_limits<double>::quiet_NaN();
  {
    MetricsLog log(dir_, false);
    log.append(init);
    log.append(row(1));
    log.append(row(2));
  }
  MetricsLog resumed(dir_, true);
  resumed.truncate_after(0);  // resuming from the checkpoint at init keeps its row
  const auto rows = resumed.rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].epoch, 0);
  EXPECT_TRUE(std::isnan(rows[0].train_loss));
  EXPECT_TRUE(std::isnan(rows[0].train_acc));
  EXPECT_TRUE(std::isnan(rows[0].images_per_second));
  EXPECT_EQ(rows[0].test_loss, init.test_loss);
  const std::string jsonl = read_all(resumed.jsonl_path());
  EXPECT_NE(jsonl.find(R"("epoch":0,)"), std::string::npos) << jsonl;
  EXPECT_NE(jsonl.find(R"("train_acc":null)"), std::string::npos) << jsonl;
}

TEST_F(MetricsLogTest, RowCutOffByACrashIsDropped) {
  {
    MetricsLog log(dir_, false);
    log.append(row(1));
    log.append(row(2));
  }
  std::ofstream(dir_ / "metrics.csv", std::ios::app) << "3,1173,0.1,0.5";  // no newline: an interrupted write
  EXPECT_EQ(MetricsLog::read_csv(dir_ / "metrics.csv").size(), 2u);
  MetricsLog resumed(dir_, true);
  resumed.append(row(3));
  EXPECT_EQ(resumed.rows().size(), 3u);
}

TEST_F(MetricsLogTest, ReadCsvFindsColumnsByNameAndReportsBadRows) {
  std::filesystem::create_directories(dir_);
  const auto csv = dir_ / "other.csv";
  std::ofstream(csv) << "test_acc,epoch,updates,lr,train_loss,train_acc,test_loss,seconds,images_per_second,extra\n"
                     << "0.5,1,10,0.1,2.0,0.4,1.5,3.0,100.0,x\n";
  const auto rows = MetricsLog::read_csv(csv);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].epoch, 1);
  EXPECT_EQ(rows[0].test_acc, 0.5);

  std::ofstream(csv) << "epoch,updates,lr,train_loss,train_acc,test_loss,test_acc,seconds,images_per_second\n"
                     << "1,10,0.1,2.0,0.4,1.5,oops,3.0,100.0\n";
  try {
    MetricsLog::read_csv(csv);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(csv.string() + ":2"), std::string::npos) << message;
    EXPECT_NE(message.find("test_acc"), std::string::npos) << message;
  }

  std::ofstream(csv) << "epoch,updates\n1,2\n";
  EXPECT_THROW(MetricsLog::read_csv(csv), Error);
  EXPECT_THROW(MetricsLog::read_csv(dir_ / "missing.csv"), Error);
}

}  // namespace
}  // namespace convlab
