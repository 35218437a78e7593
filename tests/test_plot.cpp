// Figures: the cairo-backed Figure and its files (PNG, PDF, SVG), text, ticks, colours, line
// plots and the learning curve. Files are checked as a user's tools read them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>

#include "framework/core/error.h"
#include "framework/plot/colormap.h"
#include "framework/plot/figure.h"
#include "framework/plot/learning_curve.h"
#include "framework/plot/line_plot.h"
#include "framework/plot/ticks.h"
#include "tests/support/figure_files.h"
#include "tests/support/scratch_dir.h"

namespace convlab {
namespace {

using test_support::pdf_page_size;
using test_support::pdf_text;
using test_support::png_size;
using test_support::svg_size;
using test_support::svg_texts;

class PlotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test_support::fresh_test_dir("plot");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
};

bool contains(const std::vector<std::string>& texts, const std::string& wanted) {
  return std::find(texts.begin(), texts.end(), wanted) != texts.end();
}

bool any_contains(const std::vector<std::string>& texts, const std::string& part) {
  return std::any_of(texts.begin(), texts.end(), [&](const std::string& t) { return t.find(part) != std::string::npos; });
}

TEST_F(PlotTest, FigureFormatsParseAndNameTheBadOne) {
  EXPECT_EQ(parse_figure_formats("png"), (FigureFormats{FigureFormat::png}));
  EXPECT_EQ(parse_figure_formats("png,pdf,svg"), (FigureFormats{FigureFormat::png, FigureFormat::pdf, FigureFormat::svg}));
  EXPECT_EQ(parse_figure_formats("SVG,png"), (FigureFormats{FigureFormat::svg, FigureFormat::png}));
  for (const char* bad : {"", "jpg", "png,", "png,png", "png pdf"}) {
    try {
      parse_figure_formats(bad);
      ADD_FAILURE() << "'" << bad << "' was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(format_of("a/b.PDF"), FigureFormat::pdf);
  EXPECT_EQ(format_of("x.svg"), FigureFormat::svg);
  EXPECT_THROW(format_of("x.gif"), Error);
  EXPECT_THROW(format_of("x"), Error);
}

TEST_F(PlotTest, FigureWritesEachFormatAtItsSize) {
  Figure figure(200, 120, Rgb{10, 20, 30});
  figure.set_title("a test figure");
  figure.fill_rect(Rect{5, 5, 10, 4}, Rgb{200, 0, 0});
  figure.draw_text(100, 60, "hello <figure> & more", TextStyle{14, kWhite, HAlign::center, VAlign::center});
  const auto files = figure.save(dir_ / "f", {FigureFormat::png, FigureFormat::pdf, FigureFormat::svg});
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0], dir_ / "f.png");
  EXPECT_EQ(files[2], dir_ / "f.svg");
  for (const auto& f : files) EXPECT_FALSE(std::filesystem::exists(f.string() + ".tmp"));

  const auto png = png_size(dir_ / "f.png");
  EXPECT_EQ(png.width, 200);
  EXPECT_EQ(png.height, 120);
  const auto page = pdf_page_size(dir_ / "f.pdf");  // 96 units to the inch: 0.75 pt each
  EXPECT_DOUBLE_EQ(page.width, 150);
  EXPECT_DOUBLE_EQ(page.height, 90);
  const auto svg = svg_size(dir_ / "f.svg");
  EXPECT_EQ(svg.width, 200);
  EXPECT_EQ(svg.height, 120);
  EXPECT_TRUE(contains(svg_texts(dir_ / "f.svg"), "hello <figure> & more"));
  if (const auto text = pdf_text(dir_ / "f.pdf")) EXPECT_NE(text->find("hello <figure> & more"), std::string::npos) << *text;
  EXPECT_NE(test_support::read_bytes(dir_ / "f.pdf").find("a test figure"), std::string::npos);  // the PDF's title

  // The pixels behind the files: background and a filled rectangle exactly.
  const RgbImage image = figure.render();
  EXPECT_EQ(image.pixel(0, 0), (Rgb{10, 20, 30}));
  EXPECT_EQ(image.pixel(5, 5), (Rgb{200, 0, 0}));
  EXPECT_EQ(image.pixel(14, 8), (Rgb{200, 0, 0}));
  EXPECT_EQ(image.pixel(15, 8), (Rgb{10, 20, 30}));
  EXPECT_THROW(image.pixel(200, 0), Error);

  figure.write(dir_ / "single.svg");
  EXPECT_GT(svg_size(dir_ / "single.svg").width, 0);
  EXPECT_THROW(figure.write(dir_ / "x.bmp"), Error);
  EXPECT_THROW(figure.write(dir_ / "missing" / "x.png"), Error);
  EXPECT_THROW(Figure(0, 10), Error);
  EXPECT_THROW(Figure(40000, 10), Error);
}

TEST_F(PlotTest, PdfTextIsExtractableWithPdftotext) {
  Figure figure(300, 200);
  figure.draw_text(20, 40, "conv7 (3b) 0.82 \u00b1 0.01");
  figure.draw_text(150, 180, "reads upwards", TextStyle{12, kBlack, HAlign::left, VAlign::baseline, true});
  figure.write(dir_ / "t.pdf");
  const auto text = pdf_text(dir_ / "t.pdf");
  if (!text) GTEST_SKIP() << "pdftotext is not installed (Debian: poppler-utils)";
  EXPECT_NE(text->find("conv7 (3b) 0.82 \u00b1 0.01"), std::string::npos) << *text;
  EXPECT_NE(text->find("reads upwards"), std::string::npos) << *text;
}

TEST_F(PlotTest, LinesAreAntiAliasedAndBrokenAtNaN) {
  Figure figure(100, 100);
  figure.draw_line(PointF{10, 10}, PointF{90, 70}, kBlack, 2.0f);
  const RgbImage image = figure.render();
  int partial = 0, full = 0;
  for (int y = 0; y < 100; ++y)
    for (int x = 0; x < 100; ++x) {
      const Rgb c = image.pixel(x, y);
      if (c.r < 10) ++full;
      else if (c.r < 245) ++partial;
    }
  EXPECT_GT(full, 40);
  EXPECT_GT(partial, 40);  // soft edges

  Figure broken(100, 20);
  broken.draw_polyline({{5, 10}, {40, 10}, {NAN, NAN}, {60, 10}, {95, 10}}, kBlack, 2.0f);
  const RgbImage b = broken.render();
  EXPECT_LT(b.pixel(30, 10).r, 40);
  EXPECT_EQ(b.pixel(50, 10), kWhite);  // the gap
  EXPECT_LT(b.pixel(65, 10).r, 40);

  Figure dot(20, 20);
  dot.draw_polyline({{10, 10}}, kBlack, 4.0f);  // one point: a dot
  EXPECT_LT(dot.render().pixel(10, 10).r, 40);
}

TEST_F(PlotTest, TextIsMeasuredAndPlacedByItsAlignment) {
  const TextExtent small = measure_text("conv1 (1a)", 10), large = measure_text("conv1 (1a)", 20);
  EXPECT_GT(small.width, 30);
  EXPECT_NEAR(large.width, 2 * small.width, 1e-3);  // no hinting: widths scale with the size
  EXPECT_GT(small.ascent, small.descent);
  EXPECT_GT(small.descent, 0);
  EXPECT_GT(measure_text("WWW", 12).width, measure_text("iii", 12).width);

  Figure figure(400, 200);
  figure.draw_text(300, 50, "right", TextStyle{12, kBlack, HAlign::right, VAlign::top});
  figure.draw_text(200, 100, "centre", TextStyle{12, kBlack, HAlign::center, VAlign::baseline});
  figure.draw_text(50, 150, "up", TextStyle{12, kBlack, HAlign::left, VAlign::top, true});
  const auto& placed = figure.texts();
  ASSERT_EQ(placed.size(), 3u);
  const TextExtent right = measure_text("right", 12);
  EXPECT_NEAR(placed[0].x + placed[0].width, 300, 1e-3);
  EXPECT_NEAR(placed[0].y, 50 + right.ascent, 1e-3);  // the ascender line at y
  EXPECT_NEAR(placed[1].x + placed[1].width / 2, 200, 1e-3);
  EXPECT_NEAR(placed[1].y, 100, 1e-3);
  EXPECT_TRUE(placed[2].vertical);
  EXPECT_NEAR(placed[2].x, 50 + measure_text("up", 12).ascent, 1e-3);  // reads upwards from y
  EXPECT_NEAR(placed[2].y, 150, 1e-3);
  EXPECT_THROW(figure.draw_text(0, 0, "x", TextStyle{0}), Error);
}

TEST_F(PlotTest, MalformedTextIsMadePrintable) {
  EXPECT_EQ(printable_text("conv1 \u00b1 \u4e2d"), "conv1 \u00b1 \u4e2d");
  EXPECT_EQ(printable_text("a\xff" "b"), "a\ufffd" "b");
  EXPECT_EQ(printable_text("\xc0\xaf"), "\ufffd\ufffd");  // an overlong '/'
  EXPECT_EQ(printable_text("\xe2\x82"), "\ufffd\ufffd");  // cut off
  EXPECT_EQ(printable_text("tab\there\nnewline"), "tab here newline");
  // Drawing such text works, and the SVG stays well-formed.
  Figure figure(100, 40);
  figure.draw_text(5, 20, "bad \xfe\xff name");
  figure.write(dir_ / "bad.svg");
  EXPECT_TRUE(contains(svg_texts(dir_ / "bad.svg"), "bad \ufffd\ufffd name"));
}

TEST_F(PlotTest, TextWrapsAtSpacesAndFirstAfterAColon) {
  const std::string title = "Linear CKA, debiased, 1000 examples: 3 .npy feature files vs 4 .npy feature files";
  const auto lines = wrap_text(title, 15, 300);
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(lines[0], "Linear CKA, debiased, 1000 examples:");
  std::string joined;
  for (const auto& line : lines) {
    EXPECT_LE(measure_text(line, 15).width, 300) << line;
    joined += (joined.empty() ? "" : " ") + line;
  }
  EXPECT_EQ(joined, title);
  EXPECT_EQ(wrap_text("short: one line", 15, 300), (std::vector<std::string>{"short: one line"}));
  EXPECT_TRUE(wrap_text("", 15, 300).empty());
  EXPECT_EQ(wrap_text("unbreakable_very_long_word", 15, 20).size(), 1u);
}

TEST_F(PlotTest, ViridisMatchesTheMapsEndsAndMiddle) {
  EXPECT_EQ(viridis(0.0f), (Rgb{0x44, 0x01, 0x54}));
  EXPECT_EQ(viridis(0.5f), (Rgb{0x21, 0x91, 0x8c}));
  EXPECT_EQ(viridis(1.0f), (Rgb{0xfd, 0xe7, 0x25}));
  EXPECT_EQ(viridis(-3.0f), viridis(0.0f));
  EXPECT_EQ(viridis(7.0f), viridis(1.0f));
  EXPECT_EQ(viridis(NAN), (Rgb{128, 128, 128}));
  EXPECT_EQ(viridis_stops().size(), 11u);
  EXPECT_EQ(viridis_stops().front(), viridis(0.0f));
  EXPECT_EQ(viridis_stops()[3], viridis(0.3f));
  // Brightness rises along the map.
  float previous = -1;
  for (int i = 0; i <= 100; ++i) {
    const float brightness = luma(viridis(static_cast<float>(i) / 100.0f));
    EXPECT_GT(brightness, previous - 0.5f) << i;
    previous = brightness;
  }
  EXPECT_NE(series_color(0), series_color(1));
  EXPECT_EQ(series_color(10), series_color(0));
}

TEST_F(PlotTest, TicksAreRoundNumbers) {
  const Ticks epochs = nice_ticks(-13, 364, 9, false, true);
  EXPECT_EQ(epochs.step, 50);
  EXPECT_EQ(epochs.values, (std::vector<double>{0, 50, 100, 150, 200, 250, 300, 350}));
  EXPECT_EQ(epochs.low, -13);

  const Ticks loss = nice_ticks(0.02, 2.31, 6, true);
  EXPECT_EQ(loss.step, 0.5);
  EXPECT_EQ(loss.low, 0);
  EXPECT_EQ(loss.high, 2.5);
  EXPECT_EQ(loss.values.size(), 6u);

  const Ticks two_epochs = nice_ticks(0.96, 2.04, 9, false, true);
  EXPECT_EQ(two_epochs.values, (std::vector<double>{1, 2}));

  const Ticks single = nice_ticks(5, 5);
  EXPECT_LT(single.low, 5);
  EXPECT_GT(single.high, 5);

  EXPECT_EQ(format_tick(0.25, 0.25), "0.25");
  EXPECT_EQ(format_tick(100, 20), "100");
  EXPECT_EQ(format_tick(1.5, 0.5), "1.5");
  EXPECT_EQ(format_tick(-1e-17, 0.5), "0.0");
  EXPECT_EQ(format_tick(0.3 - 0.1, 0.1), "0.2");
  EXPECT_THROW(nice_ticks(NAN, 1), Error);
}

Series make_series(const std::string& name, std::vector<double> x, std::vector<double> y, Rgb color) {
  Series series;
  series.name = name;
  series.x = std::move(x);
  series.y = std::move(y);
  series.color = color;
  return series;
}

TEST_F(PlotTest, LinePlotDrawsSeriesAxesMarkersAndLegend) {
  Figure figure(500, 360);
  LinePlot plot;
  plot.title = "title";
  plot.x_label = "x axis";
  plot.y_label = "y axis";
  plot.series = {make_series("rising", {0, 1, 2, 3}, {0, 1, 4, 9}, Rgb{200, 0, 0}),
                 make_series("flat", {0, 3}, {5, 5}, Rgb{0, 0, 200})};
  plot.x_markers = {1.5, 2.97};
  plot.x_markers_name = "an event";
  plot.x_marker_labels = {"lr 0.01", "lr 0.0001"};
  draw_line_plot(figure, Rect{0, 0, 500, 360}, plot);
  // A marker's label near the plot's right end goes left of its line, inside the plot.
  for (const PlacedText& t : figure.texts())
    if (t.text == "lr 0.0001") EXPECT_LT(t.x + t.width, 500 - 14);
  figure.write(dir_ / "plot.svg");
  const auto texts = svg_texts(dir_ / "plot.svg");
  for (const char* t : {"title", "x axis", "y axis", "rising", "flat", "an event", "lr 0.01", "lr 0.0001", "0.0", "3.0", "8"})
    EXPECT_TRUE(contains(texts, t)) << t;
  // The series' colours are drawn.
  const RgbImage image = figure.render();
  int red = 0, blue = 0;
  for (int y = 0; y < 360; ++y)
    for (int x = 0; x < 500; ++x) {
      red += image.pixel(x, y) == Rgb{200, 0, 0} ? 1 : 0;
      blue += image.pixel(x, y) == Rgb{0, 0, 200} ? 1 : 0;
    }
  EXPECT_GT(red, 100);
  EXPECT_GT(blue, 100);

  plot.x_marker_labels = {"one"};
  EXPECT_THROW(draw_line_plot(figure, Rect{0, 0, 500, 360}, plot), Error);
  plot.x_marker_labels.clear();
  plot.series.push_back(make_series("bad", {0, 1}, {0}, kBlack));
  EXPECT_THROW(draw_line_plot(figure, Rect{0, 0, 500, 360}, plot), Error);
  plot.series.pop_back();
  EXPECT_THROW(draw_line_plot(figure, Rect{0, 0, 30, 30}, plot), Error);
}

std::vector<EpochMetrics> run_rows(int epochs) {
  std::vector<EpochMetrics> rows;
  for (int e = 0; e <= epochs; ++e) {
    EpochMetrics row;
    row.epoch = e;
    row.updates = e * 10;
    row.lr = e <= 3 ? 0.1 : e <= 5 ? 0.01 : 0.001;
    row.train_loss = e == 0 ? NAN : 2.0 / e;
    row.train_acc = e == 0 ? NAN : 1.0 - 0.5 / e;
    row.test_loss = 2.3 / (1 + e);
    row.test_acc = 0.1 + 0.1 * e;
    rows.push_back(row);
  }
  return rows;
}

TEST_F(PlotTest, LearningRateDropsAreFoundInTheRows) {
  const auto drops = learning_rate_drops(run_rows(7));
  ASSERT_EQ(drops.size(), 2u);
  EXPECT_EQ(drops[0].after, 3);
  EXPECT_DOUBLE_EQ(drops[0].lr, 0.01);
  EXPECT_EQ(drops[1].after, 5);
  EXPECT_DOUBLE_EQ(drops[1].lr, 0.001);
  EXPECT_TRUE(learning_rate_drops(run_rows(3)).empty());
}

TEST_F(PlotTest, LearningCurveSaysWhatItsCurvesAreInEveryFormat) {
  const auto rows = run_rows(7);
  const LearningCurveInfo info{"run name", 1000, true};
  const auto files =
      save_learning_curve(rows, dir_ / "learning_curve", info, {FigureFormat::png, FigureFormat::pdf, FigureFormat::svg});
  ASSERT_EQ(files.size(), 3u);
  const Figure figure = learning_curve_figure(rows, info);
  EXPECT_GT(figure.width(), figure.height());  // two panels side by side
  const auto png = png_size(dir_ / "learning_curve.png");
  EXPECT_EQ(png.width, figure.width());
  EXPECT_EQ(png.height, figure.height());
  const auto page = pdf_page_size(dir_ / "learning_curve.pdf");
  EXPECT_DOUBLE_EQ(page.width, figure.width() * 0.75);
  EXPECT_DOUBLE_EQ(page.height, figure.height() * 0.75);

  const auto texts = svg_texts(dir_ / "learning_curve.svg");
  EXPECT_TRUE(contains(texts, "run name"));
  EXPECT_TRUE(contains(texts, "train: running mean over the epoch's augmented batches"));
  EXPECT_TRUE(contains(texts, "test: 1,000 images (epoch 0: the network at init)"));
  EXPECT_TRUE(contains(texts, "learning-rate drop"));
  EXPECT_TRUE(contains(texts, "lr 0.01"));
  EXPECT_TRUE(contains(texts, "lr 0.001"));
  EXPECT_TRUE(any_contains(texts, "Accuracy (epoch 7: train 92.86%, test 80.00%)"));
  EXPECT_TRUE(contains(texts, "0"));  // the epoch axis starts at init
  if (const auto text = pdf_text(dir_ / "learning_curve.pdf"))
    EXPECT_NE(text->find("1,000 images"), std::string::npos) << *text;

  // Without augmentation or drops, and at epoch 0 alone (train not yet measured).
  plot_learning_curve({rows[0]}, dir_ / "first.svg", LearningCurveInfo{"start", 10000, false});
  const auto first = svg_texts(dir_ / "first.svg");
  EXPECT_TRUE(contains(first, "train: running mean over the epoch's batches"));
  EXPECT_TRUE(contains(first, "test: 10,000 images (epoch 0: the network at init)"));
  EXPECT_FALSE(contains(first, "learning-rate drop"));
  EXPECT_TRUE(any_contains(first, "Accuracy (epoch 0: test 10.00%)"));
  EXPECT_THROW(learning_curve_figure({}, info), Error);
}

}  // namespace
}  // namespace convlab
