// Command-line numbers: whole text, range checked, errors naming the flag.
#include "framework/io/cli_numbers.h"

#include <gtest/gtest.h>

#include <string>

#include "framework/core/error.h"

namespace convlab {
namespace {

std::string int_error(const std::string& text, int64_t min, int64_t max) {
  try {
    parse_int_flag("--epochs", text, min, max);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string number_error(const std::string& text) {
  try {
    parse_number_flag("--rbf-frac", text, 0, 100, /*min_exclusive=*/true);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(CliNumbers, IntegersInRange) {
  EXPECT_EQ(parse_int_flag("--epochs", "1", 1, 100), 1);
  EXPECT_EQ(parse_int_flag("--epochs", "100", 1, 100), 100);
  EXPECT_EQ(parse_int_flag("--epochs", "+7", 1, 100), 7);
  EXPECT_EQ(parse_int_flag("--seed", "-3", -5, 5), -3);
}

TEST(CliNumbers, IntegersOutOfRangeOrMalformedNameTheFlag) {
  // Values that an int cast once wrapped: 4294967297 became 1, 4294967301 became 5.
  for (const char* text : {"4294967297", "4294967301", "0", "-5", "101", "99999999999999999999999"}) {
    const std::string message = int_error(text, 1, 100);
    EXPECT_NE(message.find("--epochs must be in 1..100, got"), std::string::npos) << text << ": " << message;
  }
  for (const char* text : {"abc", "", "1.5", "12abc", " 3", "0x10", "1e3"}) {
    const std::string message = int_error(text, 1, 100);
    EXPECT_NE(message.find("--epochs expects a whole number in 1..100, got '"), std::string::npos)
        << text << ": " << message;
    EXPECT_EQ(message.find("stoll"), std::string::npos) << message;
  }
  EXPECT_LT(int_error(std::string(100'000, '7'), 1, 100).size(), 400u);
}

TEST(CliNumbers, NumbersInRange) {
  EXPECT_DOUBLE_EQ(parse_number_flag("--rbf-frac", "0.5", 0, 100, true), 0.5);
  EXPECT_DOUBLE_EQ(parse_number_flag("--rbf-frac", "1e2", 0, 100, true), 100);
  EXPECT_DOUBLE_EQ(parse_number_flag("--x", "0", 0, 1), 0);
}

TEST(CliNumbers, NumbersOutOfRangeOrMalformedNameTheFlag) {
  for (const char* text : {"0", "-1", "101", "nan", "inf", "1e400"})
    EXPECT_NE(number_error(text).find("--rbf-frac must be in (0, 100], got"), std::string::npos)
        << text << ": " << number_error(text);
  for (const char* text : {"abc", "", "1,5", "0.5x"})
    EXPECT_NE(number_error(text).find("--rbf-frac expects a number in (0, 100], got '"), std::string::npos)
        << text << ": " << number_error(text);
}

}  // namespace
}  // namespace convlab
