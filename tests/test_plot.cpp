#include <gtest/gtest.h>
#include <stb/stb_image.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "framework/core/error.h"
#include "framework/plot/canvas.h"
#include "framework/plot/colormap.h"
#include "framework/plot/learning_curve.h"
#include "framework/plot/line_plot.h"
#include "framework/plot/text.h"
#include "framework/plot/ticks.h"

namespace convlab {
namespace {

class PlotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("convlab_test_plot_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
};

struct Decoded {
  int width = 0, height = 0;
  std::unique_ptr<unsigned char, void (*)(void*)> pixels{nullptr, stbi_image_free};
};

Decoded load_png(const std::filesystem::path& path) {
  Decoded image;
  int channels = 0;
  image.pixels.reset(stbi_load(path.c_str(), &image.width, &image.height, &channels, 3));
  return image;
}

// Pixels in rect that differ from the background.
int count_ink(const Canvas& canvas, const Rect& rect, Rgb background = kWhite) {
  int count = 0;
  for (int y = rect.y; y < rect.bottom(); ++y)
    for (int x = rect.x; x < rect.right(); ++x) count += canvas.pixel(x, y) == background ? 0 : 1;
  return count;
}

// The bounding box of the non-background pixels.
Rect ink_bounds(const Canvas& canvas) {
  int x0 = canvas.width(), y0 = canvas.height(), x1 = -1, y1 = -1;
  for (int y = 0; y < canvas.height(); ++y)
    for (int x = 0; x < canvas.width(); ++x)
      if (!(canvas.pixel(x, y) == kWhite)) x0 = std::min(x0, x), y0 = std::min(y0, y), x1 = std::max(x1, x), y1 = std::max(y1, y);
  return x1 < 0 ? Rect{} : Rect{x0, y0, x1 - x0 + 1, y1 - y0 + 1};
}

bool close_to(Rgb a, Rgb b, int tolerance) {
  return std::abs(a.r - b.r) <= tolerance && std::abs(a.g - b.g) <= tolerance && std::abs(a.b - b.b) <= tolerance;
}

// Pixels in rect within tolerance of color.
int count_color(const Canvas& canvas, const Rect& rect, Rgb color, int tolerance = 12) {
  int count = 0;
  for (int y = rect.y; y < rect.bottom(); ++y)
    for (int x = rect.x; x < rect.right(); ++x) count += close_to(canvas.pixel(x, y), color, tolerance) ? 1 : 0;
  return count;
}

TEST_F(PlotTest, CanvasFillsClipsAndSavesPng) {
  Canvas canvas(40, 30, Rgb{10, 20, 30});
  EXPECT_EQ(canvas.pixel(0, 0), (Rgb{10, 20, 30}));
  canvas.fill_rect(Rect{5, 5, 10, 4}, Rgb{200, 0, 0});
  EXPECT_EQ(canvas.pixel(5, 5), (Rgb{200, 0, 0}));
  EXPECT_EQ(canvas.pixel(14, 8), (Rgb{200, 0, 0}));
  EXPECT_EQ(canvas.pixel(15, 8), (Rgb{10, 20, 30}));
  canvas.fill_rect(Rect{-10, -1, 100, 2}, Rgb{0, 200, 0});  // partly outside: clipped, no crash
  EXPECT_EQ(canvas.pixel(39, 0), (Rgb{0, 200, 0}));
  canvas.set_clip(Rect{20, 20, 5, 5});
  canvas.fill_rect(Rect{0, 0, 40, 30}, Rgb{0, 0, 200});
  canvas.reset_clip();
  EXPECT_EQ(canvas.pixel(20, 20), (Rgb{0, 0, 200}));
  EXPECT_EQ(canvas.pixel(19, 20), (Rgb{10, 20, 30}));
  EXPECT_EQ(canvas.pixel(25, 24), (Rgb{10, 20, 30}));

  const auto path = dir_ / "canvas.png";
  canvas.save_png(path);
  EXPECT_FALSE(std::filesystem::exists(path.string() + ".tmp"));
  const Decoded image = load_png(path);
  ASSERT_NE(image.pixels, nullptr) << stbi_failure_reason();
  EXPECT_EQ(image.width, 40);
  EXPECT_EQ(image.height, 30);
  EXPECT_EQ(std::memcmp(image.pixels.get(), canvas.pixels().data(), canvas.pixels().size()), 0);  // lossless

  EXPECT_THROW(Canvas(0, 10), Error);
  try {
    canvas.save_png(dir_ / "missing_folder" / "x.png");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("x.png"), std::string::npos) << e.what();
  }
}

TEST_F(PlotTest, LinesAreAntiAliasedAndContinuous) {
  Canvas canvas(100, 100);
  canvas.draw_line(PointF{10, 10}, PointF{90, 60}, kBlack, 2.0f);
  // Every column the line crosses holds ink, and partly covered pixels are grey.
  bool grey = false;
  for (int x = 11; x < 89; ++x) {
    EXPECT_GT(count_ink(canvas, Rect{x, 0, 1, 100}), 0) << x;
    for (int y = 0; y < 100; ++y) {
      const Rgb p = canvas.pixel(x, y);
      grey = grey || (p.r > 20 && p.r < 235);
    }
  }
  EXPECT_TRUE(grey);
  EXPECT_EQ(count_ink(canvas, Rect{0, 70, 100, 30}), 0);

  Canvas broken(100, 20);
  broken.draw_polyline({{5, 10}, {30, 10}, {NAN, NAN}, {60, 10}, {95, 10}}, kBlack, 2.0f);
  EXPECT_GT(count_ink(broken, Rect{10, 0, 10, 20}), 0);
  EXPECT_EQ(count_ink(broken, Rect{40, 0, 10, 20}), 0);  // the gap at the NaN
  EXPECT_GT(count_ink(broken, Rect{70, 0, 10, 20}), 0);

  Canvas dot(20, 20);
  dot.fill_circle(PointF{10, 10}, 4, Rgb{200, 0, 0});
  EXPECT_EQ(dot.pixel(10, 10), (Rgb{200, 0, 0}));
  EXPECT_EQ(dot.pixel(1, 1), kWhite);
}

TEST_F(PlotTest, TextRendersWhereAligned) {
  const TextExtent short_text = measure_text("epoch", 16.0f);
  const TextExtent long_text = measure_text("epoch epoch", 16.0f);
  EXPECT_GT(short_text.width, 10.0f);
  EXPECT_GT(long_text.width, 2 * short_text.width);
  EXPECT_NEAR(short_text.height(), 16.0f, 0.5f);
  EXPECT_GT(measure_text("epoch", 32.0f).width, 1.8f * short_text.width);

  Canvas canvas(200, 60);
  draw_text(canvas, 100, 30, "Accuracy", TextStyle{16.0f, kBlack, HAlign::center, VAlign::center});
  const Rect ink = ink_bounds(canvas);
  EXPECT_GT(count_ink(canvas, ink), 50);
  EXPECT_NEAR(ink.x + ink.width / 2.0, 100.0, 3.0);
  EXPECT_NEAR(ink.width, measure_text("Accuracy", 16.0f).width, 4.0);
  EXPECT_LT(ink.height, 20);

  Canvas right(200, 60);
  draw_text(right, 150, 30, "100", TextStyle{14.0f, kBlack, HAlign::right, VAlign::baseline});
  const Rect digits = ink_bounds(right);
  EXPECT_NEAR(digits.right(), 150, 2);
  EXPECT_NEAR(digits.bottom(), 30, 1);  // digits sit on the baseline

  Canvas vertical(60, 200);
  draw_text(vertical, 10, 100, "accuracy (%)", TextStyle{16.0f, kBlack, HAlign::center, VAlign::top, true});
  const Rect turned = ink_bounds(vertical);
  EXPECT_GT(turned.height, 3 * turned.width);
  EXPECT_NEAR(turned.y + turned.height / 2.0, 100.0, 4.0);
  EXPECT_GE(turned.x, 10);
  EXPECT_LT(turned.x, 16);

  Canvas unicode(100, 40);
  draw_text(unicode, 5, 30, "\xce\xbc \xc3\x97 \xff", TextStyle{});  // mu, times, a stray byte
  EXPECT_GT(count_ink(unicode, Rect{0, 0, 100, 40}), 20);
}

TEST_F(PlotTest, ViridisMatchesTheMapsEndsAndMiddle) {
  EXPECT_EQ(viridis(0.0f), (Rgb{0x44, 0x01, 0x54}));
  EXPECT_EQ(viridis(0.5f), (Rgb{0x21, 0x91, 0x8c}));
  EXPECT_EQ(viridis(1.0f), (Rgb{0xfd, 0xe7, 0x25}));
  EXPECT_EQ(viridis(-3.0f), viridis(0.0f));
  EXPECT_EQ(viridis(7.0f), viridis(1.0f));
  EXPECT_EQ(viridis(NAN), (Rgb{128, 128, 128}));
  // Brightness rises along the map.
  float previous = -1;
  for (int i = 0; i <= 100; ++i) {
    const Rgb c = viridis(static_cast<float>(i) / 100.0f);
    const float luma = 0.299f * c.r + 0.587f * c.g + 0.114f * c.b;
    EXPECT_GT(luma, previous - 0.5f) << i;
    previous = luma;
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

TEST_F(PlotTest, LinePlotDrawsSeriesAxesAndLegend) {
  Canvas canvas(500, 360);
  LinePlot plot;
  plot.title = "title";
  plot.x_label = "x";
  plot.y_label = "y";
  plot.series = {make_series("rising", {0, 1, 2, 3}, {0, 1, 4, 9}, Rgb{200, 0, 0}),
                 make_series("flat", {0, 3}, {5, 5}, Rgb{0, 0, 200})};
  draw_line_plot(canvas, Rect{0, 0, 500, 360}, plot);
  EXPECT_GT(count_color(canvas, Rect{0, 0, 500, 360}, Rgb{200, 0, 0}), 100);
  EXPECT_GT(count_color(canvas, Rect{0, 0, 500, 360}, Rgb{0, 0, 200}), 100);
  EXPECT_GT(count_ink(canvas, Rect{0, 0, 40, 360}), 100);  // y tick labels and label

  plot.series.push_back(make_series("bad", {0, 1}, {0}, kBlack));
  EXPECT_THROW(draw_line_plot(canvas, Rect{0, 0, 500, 360}, plot), Error);
  plot.series.pop_back();
  EXPECT_THROW(draw_line_plot(canvas, Rect{0, 0, 30, 30}, plot), Error);
}

TEST_F(PlotTest, LearningCurveHasBothPanels) {
  std::vector<EpochMetrics> rows;
  for (int64_t epoch = 1; epoch <= 40; ++epoch) {
    const double t = static_cast<double>(epoch);
    rows.push_back(EpochMetrics{epoch, epoch * 391, 0.1, 2.0 / t, 1.0 - 0.6 / t, 2.2 / t + 0.1, 0.95 - 0.6 / t, 20.0,
                                2500.0});
  }
  const auto path = dir_ / "curve.png";
  plot_learning_curve(rows, path, "run name");
  const Canvas canvas = learning_curve_canvas(rows, "run name");
  const Decoded image = load_png(path);
  ASSERT_NE(image.pixels, nullptr) << stbi_failure_reason();
  EXPECT_EQ(image.width, canvas.width());
  EXPECT_EQ(image.height, canvas.height());
  EXPECT_GT(canvas.width(), canvas.height());
  EXPECT_EQ(std::memcmp(image.pixels.get(), canvas.pixels().data(), canvas.pixels().size()), 0);

  const int half = canvas.width() / 2;
  const Rect left{0, 0, half, canvas.height()}, right{half, 0, canvas.width() - half, canvas.height()};
  const Rgb train = series_color(0), test = series_color(1);
  for (const Rect& panel : {left, right}) {
    EXPECT_GT(count_ink(canvas, panel), 2000);
    EXPECT_GT(count_color(canvas, panel, train), 150);
    EXPECT_GT(count_color(canvas, panel, test), 150);
  }
  EXPECT_THROW(learning_curve_canvas({}, "empty"), Error);
}

}  // namespace
}  // namespace convlab
