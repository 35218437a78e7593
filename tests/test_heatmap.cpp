#include <gif_lib.h>
#include <gtest/gtest.h>
#include <stb/stb_image.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "framework/core/error.h"
#include "framework/plot/canvas.h"
#include "framework/plot/colormap.h"
#include "framework/plot/gif_writer.h"
#include "framework/plot/heatmap.h"
#include "framework/plot/heatmap_grid.h"

namespace convlab {
namespace {

class HeatmapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("convlab_test_heatmap_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
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

int count_ink(const Canvas& canvas, const Rect& rect) {
  int count = 0;
  for (int y = rect.y; y < rect.bottom(); ++y)
    for (int x = rect.x; x < rect.right(); ++x) count += canvas.pixel(x, y) == kWhite ? 0 : 1;
  return count;
}

int channel_difference(Rgb a, Rgb b) {
  return std::max({std::abs(a.r - b.r), std::abs(a.g - b.g), std::abs(a.b - b.b)});
}

// How far c is from the nearest colour of the viridis map.
int distance_from_viridis(Rgb c) {
  int best = 255;
  for (int i = 0; i <= 1000; ++i)
    best = std::min(best, channel_difference(c, viridis(static_cast<float>(i) / 1000.0f)));
  return best;
}

std::vector<std::string> layer_names(size_t count) {
  std::vector<std::string> names;
  for (size_t i = 1; i < count; ++i) names.push_back("conv" + std::to_string(i) + " (1a)");
  names.push_back("logits");
  return names;
}

// A CKA-like matrix: 1 on the diagonal, falling off away from it.
HeatmapSpec cka_like(size_t rows, size_t cols) {
  HeatmapSpec spec;
  spec.title = "CKA";
  spec.row_axis = "network A layer";
  spec.col_axis = "network B layer";
  spec.row_labels = layer_names(rows);
  spec.col_labels = layer_names(cols);
  for (size_t i = 0; i < rows; ++i)
    for (size_t j = 0; j < cols; ++j)
      spec.values.push_back(std::exp(-3.0 * std::abs(static_cast<double>(i) / rows - static_cast<double>(j) / cols)));
  return spec;
}

Rgb cell_centre(const Canvas& canvas, const Rect& matrix, size_t cols, size_t i, size_t j) {
  const int cell = matrix.width / static_cast<int>(cols);
  return canvas.pixel(matrix.x + static_cast<int>(j) * cell + cell / 2,
                      matrix.y + static_cast<int>(i) * cell + cell / 2);
}

TEST_F(HeatmapTest, PngDecodesAtTheExpectedSize) {
  const HeatmapSpec spec = cka_like(10, 10);
  const auto path = dir_ / "cka.png";
  plot_heatmap(spec, path);
  EXPECT_FALSE(std::filesystem::exists(path.string() + ".tmp"));
  const Canvas expected = heatmap_canvas(spec);
  const Decoded image = load_png(path);
  ASSERT_NE(image.pixels, nullptr) << stbi_failure_reason();
  EXPECT_EQ(image.width, expected.width());
  EXPECT_EQ(image.height, expected.height());
  EXPECT_EQ(std::memcmp(image.pixels.get(), expected.pixels().data(), expected.pixels().size()), 0);
  EXPECT_GT(image.width, 500);

  plot_heatmap(spec, path, 700, 520);
  const Decoded fixed = load_png(path);
  ASSERT_NE(fixed.pixels, nullptr) << stbi_failure_reason();
  EXPECT_EQ(fixed.width, 700);
  EXPECT_EQ(fixed.height, 520);

  const Canvas wide = heatmap_canvas(spec, 900, 0);  // one side fixed, the other follows
  EXPECT_EQ(wide.width(), 900);
  EXPECT_GT(wide.height(), 400);
}

TEST_F(HeatmapTest, CellsTakeViridisColoursWithRowZeroAtTheTop) {
  HeatmapSpec spec;
  spec.row_labels = {"a", "b", "c"};
  spec.col_labels = {"x", "y", "z", "w"};
  spec.values = {1.0, 0.0, NAN,  0.5,  //
                 0.0, 1.0, 0.25, 2.0,  //
                 NAN, NAN, 0.75, -1.0};
  spec.annotate = false;
  Canvas canvas(640, 480);
  const Rect matrix = draw_heatmap(canvas, Rect{0, 0, 640, 480}, spec);
  ASSERT_EQ(matrix.width % 4, 0);
  ASSERT_EQ(matrix.width / 4, matrix.height / 3);  // square cells
  EXPECT_GT(matrix.width / 4, 40);
  EXPECT_EQ(cell_centre(canvas, matrix, 4, 0, 0), viridis(1.0f));
  EXPECT_EQ(cell_centre(canvas, matrix, 4, 0, 1), viridis(0.0f));
  EXPECT_EQ(cell_centre(canvas, matrix, 4, 0, 3), viridis(0.5f));
  EXPECT_EQ(cell_centre(canvas, matrix, 4, 1, 2), viridis(0.25f));
  EXPECT_EQ(cell_centre(canvas, matrix, 4, 1, 3), viridis(1.0f));  // beyond vmax: the end colour
  EXPECT_EQ(cell_centre(canvas, matrix, 4, 2, 3), viridis(0.0f));
  // The whole of a missing cell is grey, nowhere near the map.
  const int cell = matrix.width / 4;
  for (int y = 2; y < cell - 2; y += 3)
    for (int x = 2; x < cell - 2; x += 3) {
      const Rgb c = canvas.pixel(matrix.x + 2 * cell + x, matrix.y + y);
      EXPECT_GT(distance_from_viridis(c), 40) << x << "," << y;
      EXPECT_EQ(c.r, c.g);
      EXPECT_EQ(c.g, c.b);
    }

  // A different range moves the colours.
  spec.vmin = -1, spec.vmax = 3;
  Canvas shifted(640, 480);
  const Rect m2 = draw_heatmap(shifted, Rect{0, 0, 640, 480}, spec);
  EXPECT_EQ(cell_centre(shifted, m2, 4, 0, 0), viridis(0.5f));
  EXPECT_EQ(cell_centre(shifted, m2, 4, 2, 3), viridis(0.0f));
}

TEST_F(HeatmapTest, AnnotationsAreWhiteOnDarkAndDarkOnLight) {
  HeatmapSpec spec;
  spec.rows = 1, spec.cols = 2;  // numbered labels
  spec.values = {0.0, 1.0};
  Canvas canvas(400, 260);
  const Rect matrix = draw_heatmap(canvas, Rect{0, 0, 400, 260}, spec);  // small: annotated by default
  const int cell = matrix.width / 2;
  int light_on_dark = 0, dark_on_light = 0;
  for (int y = matrix.y; y < matrix.bottom(); ++y)
    for (int x = 0; x < cell; ++x) {
      const Rgb a = canvas.pixel(matrix.x + x, y), b = canvas.pixel(matrix.x + cell + x, y);
      light_on_dark += a.g > 200 ? 1 : 0;
      dark_on_light += b.g < 80 ? 1 : 0;
    }
  EXPECT_GT(light_on_dark, 20);
  EXPECT_GT(dark_on_light, 20);

  spec.annotate = false;
  Canvas plain(400, 260);
  draw_heatmap(plain, Rect{0, 0, 400, 260}, spec);
  EXPECT_EQ(cell_centre(plain, matrix, 2, 0, 0), viridis(0.0f));
  int stray = 0;
  for (int y = matrix.y + 2; y < matrix.bottom() - 2; ++y)
    for (int x = 2; x < cell - 2; ++x) stray += plain.pixel(matrix.x + x, y) == viridis(0.0f) ? 0 : 1;
  EXPECT_EQ(stray, 0);
}

TEST_F(HeatmapTest, StandardDeviationsAreAnnotatedBesideTheValues) {
  // A 10 x 10 matrix with a std per cell: annotated "0.82 ± 0.01" by default, in cells made
  // wide enough for it; the annotation holds more ink than the value alone.
  HeatmapSpec spec = cka_like(10, 10);
  const Canvas plain = heatmap_canvas(spec);
  spec.std_devs.assign(100, 0.01);
  const Canvas with_std = heatmap_canvas(spec);
  EXPECT_GT(with_std.width(), plain.width());
  Canvas probe(with_std.width(), with_std.height());
  const Rect matrix = draw_heatmap(probe, Rect{0, 0, with_std.width(), with_std.height()}, spec);
  const int cell = matrix.width / 10;
  HeatmapSpec values_only = spec;
  values_only.std_devs.clear();
  values_only.annotate = true;
  Canvas reference(with_std.width(), with_std.height());
  const Rect same = draw_heatmap(reference, Rect{0, 0, with_std.width(), with_std.height()}, values_only);
  ASSERT_EQ(same.width, matrix.width);
  const Rect first_cell{matrix.x, matrix.y, cell, cell};
  const Rgb fill = viridis(static_cast<float>(spec.values[0]));
  int ink_std = 0, ink_value = 0;
  for (int y = first_cell.y; y < first_cell.bottom(); ++y)
    for (int x = first_cell.x; x < first_cell.right(); ++x) {
      ink_std += probe.pixel(x, y) == fill ? 0 : 1;
      ink_value += reference.pixel(x, y) == fill ? 0 : 1;
    }
  EXPECT_GT(ink_std, ink_value + 20);
  spec.std_devs.pop_back();
  EXPECT_THROW(heatmap_canvas(spec), Error);
}

TEST_F(HeatmapTest, LabelsAndTitlesAreDrawnAroundTheCells) {
  const HeatmapSpec spec = cka_like(17, 10);
  const Canvas canvas = heatmap_canvas(spec);
  Canvas probe(canvas.width(), canvas.height());
  const Rect matrix = draw_heatmap(probe, Rect{0, 0, canvas.width(), canvas.height()}, spec);
  EXPECT_EQ(std::memcmp(probe.pixels().data(), canvas.pixels().data(), canvas.pixels().size()), 0);
  EXPECT_EQ(matrix.height / 17, matrix.width / 10);
  // Left of the cells: row labels; below: column labels; above: the title; right: the colour bar.
  EXPECT_GT(count_ink(canvas, Rect{0, matrix.y, matrix.x - 6, matrix.height}), 17 * 40);
  EXPECT_GT(count_ink(canvas, Rect{matrix.x, matrix.bottom() + 6, matrix.width, canvas.height() - matrix.bottom() - 6}),
            10 * 40);
  EXPECT_GT(count_ink(canvas, Rect{0, 0, canvas.width(), matrix.y - 2}), 20);
  int bar = 0;
  for (int x = matrix.right() + 2; x < canvas.width(); ++x)
    bar += canvas.pixel(x, matrix.y + matrix.height / 2) == kWhite ? 0 : 1;
  EXPECT_GT(bar, 12);
  // Too many cells to annotate by default: each centre is its plain colour.
  for (size_t i = 0; i < 17; ++i)
    EXPECT_EQ(cell_centre(canvas, matrix, 10, i, 0), viridis(static_cast<float>(spec.values[i * 10]))) << i;
}

TEST_F(HeatmapTest, InconsistentSpecsAreErrors) {
  HeatmapSpec spec = cka_like(3, 3);
  spec.values.pop_back();
  EXPECT_THROW(heatmap_canvas(spec), Error);
  spec = cka_like(3, 3);
  spec.col_labels.pop_back();
  EXPECT_THROW(heatmap_canvas(spec), Error);
  spec = cka_like(3, 3);
  spec.vmin = 1, spec.vmax = 1;
  EXPECT_THROW(heatmap_canvas(spec), Error);
  EXPECT_THROW(heatmap_canvas(HeatmapSpec{}), Error);
  Canvas tiny(60, 40);
  EXPECT_THROW(draw_heatmap(tiny, Rect{0, 0, 60, 40}, cka_like(3, 3)), Error);
}

TEST_F(HeatmapTest, GridPngDecodes) {
  std::vector<HeatmapSpec> panels;
  for (int epoch : {0, 5, 25, 100, 150, 350}) {
    HeatmapSpec panel = cka_like(10, 10);
    panel.title = epoch == 0 ? "init" : "epoch " + std::to_string(epoch);
    panels.push_back(panel);
  }
  panels[2].values[7] = NAN;
  const auto path = dir_ / "grid.png";
  plot_heatmap_grid(panels, 3, "CKA during training", path);
  const Decoded image = load_png(path);
  ASSERT_NE(image.pixels, nullptr) << stbi_failure_reason();
  const Canvas expected = heatmap_grid_canvas(panels, 3, "CKA during training");
  EXPECT_EQ(image.width, expected.width());
  EXPECT_EQ(image.height, expected.height());
  EXPECT_GT(image.width, image.height);  // 3 panels across, 2 down

  panels[4].vmax = 2;
  EXPECT_THROW(heatmap_grid_canvas(panels, 3, "mixed ranges"), Error);
  EXPECT_THROW(heatmap_grid_canvas({}, 3, "empty"), Error);
}

struct GifFile {
  GifFileType* gif = nullptr;
  ~GifFile() {
    int error = 0;
    if (gif) DGifCloseFile(gif, &error);
  }
};

bool has_loop_extension(const ExtensionBlock* blocks, int count) {
  for (int i = 0; i + 1 < count; ++i)
    if (blocks[i].Function == APPLICATION_EXT_FUNC_CODE && blocks[i].ByteCount == 11 &&
        std::memcmp(blocks[i].Bytes, "NETSCAPE2.0", 11) == 0)
      return blocks[i + 1].ByteCount == 3 && blocks[i + 1].Bytes[0] == 1 && blocks[i + 1].Bytes[1] == 0 &&
             blocks[i + 1].Bytes[2] == 0;
  return false;
}

Rgb gif_pixel(const GifFileType* gif, int frame, int x, int y) {
  const SavedImage& image = gif->SavedImages[frame];
  const ColorMapObject* map = image.ImageDesc.ColorMap ? image.ImageDesc.ColorMap : gif->SColorMap;
  const GifColorType c = map->Colors[image.RasterBits[static_cast<size_t>(y) * image.ImageDesc.Width + x]];
  return Rgb{c.Red, c.Green, c.Blue};
}

TEST_F(HeatmapTest, GifDecodesWithEveryFrameLoopAndColours) {
  std::vector<Canvas> frames;
  std::vector<Rect> matrices;
  for (int k = 0; k < 4; ++k) {
    HeatmapSpec spec = cka_like(6, 6);
    for (double& v : spec.values) v = std::pow(v, 1.0 + k);
    spec.title = "epoch " + std::to_string(k * 50);
    frames.emplace_back(520, 440);
    matrices.push_back(draw_heatmap(frames.back(), Rect{0, 0, 520, 440}, spec));
  }
  const auto path = dir_ / "cka.gif";
  GifWriter writer(path, 520, 440, 60);
  for (size_t k = 0; k + 1 < frames.size(); ++k) writer.add_frame(frames[k]);
  writer.add_frame(frames.back(), 200);  // the last frame held longer
  EXPECT_EQ(writer.frame_count(), 4u);
  EXPECT_FALSE(std::filesystem::exists(path));  // nothing written before finish
  writer.finish();
  EXPECT_FALSE(std::filesystem::exists(path.string() + ".tmp"));
  EXPECT_THROW(writer.add_frame(frames[0]), Error);

  int error = 0;
  GifFile file;
  file.gif = DGifOpenFileName(path.c_str(), &error);
  ASSERT_NE(file.gif, nullptr) << GifErrorString(error);
  ASSERT_EQ(DGifSlurp(file.gif), GIF_OK) << GifErrorString(file.gif->Error);
  GifFileType* gif = file.gif;
  EXPECT_EQ(gif->ImageCount, 4);
  EXPECT_EQ(gif->SWidth, 520);
  EXPECT_EQ(gif->SHeight, 440);
  EXPECT_TRUE(has_loop_extension(gif->SavedImages[0].ExtensionBlocks, gif->SavedImages[0].ExtensionBlockCount) ||
              has_loop_extension(gif->ExtensionBlocks, gif->ExtensionBlockCount));
  GraphicsControlBlock control{};
  ASSERT_EQ(DGifSavedExtensionToGCB(gif, 0, &control), GIF_OK);
  EXPECT_EQ(control.DelayTime, 60);
  ASSERT_EQ(DGifSavedExtensionToGCB(gif, 3, &control), GIF_OK);
  EXPECT_EQ(control.DelayTime, 200);

  for (int k = 0; k < 4; ++k) {
    const SavedImage& image = gif->SavedImages[k];
    ASSERT_EQ(image.ImageDesc.Width, 520);
    ASSERT_EQ(image.ImageDesc.Height, 440);
    // Cell centres come back close to their colour, the background exactly, and the frame as
    // a whole close on average.
    const Rect& m = matrices[static_cast<size_t>(k)];
    const int cell = m.width / 6;
    for (int i = 0; i < 6; ++i) {
      const int x = m.x + i * cell + cell / 4, y = m.y + i * cell + cell / 4;  // off the annotation
      EXPECT_LE(channel_difference(gif_pixel(gif, k, x, y), frames[k].pixel(x, y)), 10) << k << " " << i;
    }
    EXPECT_EQ(gif_pixel(gif, k, 2, 2), kWhite);
    double total = 0;
    for (int y = 0; y < 440; ++y)
      for (int x = 0; x < 520; ++x) total += channel_difference(gif_pixel(gif, k, x, y), frames[k].pixel(x, y));
    EXPECT_LT(total / (520.0 * 440.0), 2.0) << k;
  }
}

TEST_F(HeatmapTest, GifWithFewColoursIsExact) {
  Canvas a(40, 30), b(40, 30);
  a.fill_rect(Rect{0, 0, 20, 30}, viridis(0.3f));
  b.fill_rect(Rect{10, 5, 20, 10}, Rgb{12, 200, 77});
  b.fill_rect(Rect{0, 20, 40, 10}, kBlack);
  const auto path = dir_ / "few.gif";
  write_gif(path, {a, b}, 10, false);
  int error = 0;
  GifFile file;
  file.gif = DGifOpenFileName(path.c_str(), &error);
  ASSERT_NE(file.gif, nullptr) << GifErrorString(error);
  ASSERT_EQ(DGifSlurp(file.gif), GIF_OK) << GifErrorString(file.gif->Error);
  EXPECT_EQ(file.gif->ImageCount, 2);
  EXPECT_FALSE(
      has_loop_extension(file.gif->SavedImages[0].ExtensionBlocks, file.gif->SavedImages[0].ExtensionBlockCount));
  for (int y = 0; y < 30; ++y)
    for (int x = 0; x < 40; ++x) {
      ASSERT_EQ(gif_pixel(file.gif, 0, x, y), a.pixel(x, y)) << x << "," << y;
      ASSERT_EQ(gif_pixel(file.gif, 1, x, y), b.pixel(x, y)) << x << "," << y;
    }
}

TEST_F(HeatmapTest, GifRejectsMismatchedFramesAndBadSettings) {
  const auto path = dir_ / "bad.gif";
  GifWriter writer(path, 100, 80, 50);
  writer.add_frame(Canvas(100, 80));
  try {
    writer.add_frame(Canvas(90, 80));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("90x80"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad.gif"), std::string::npos) << e.what();
  }
  EXPECT_EQ(writer.frame_count(), 1u);
  EXPECT_THROW(write_gif(path, {Canvas(10, 10), Canvas(10, 11)}, 50), Error);
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_THROW(write_gif(path, {}, 50), Error);
  EXPECT_THROW(GifWriter(path, 10, 10, -1), Error);
  EXPECT_THROW(GifWriter(path, 0, 10, 5), Error);
  GifWriter empty(path, 10, 10, 5);
  EXPECT_THROW(empty.finish(), Error);
  GifWriter nowhere(dir_ / "missing_folder" / "x.gif", 10, 10, 5);
  nowhere.add_frame(Canvas(10, 10));
  try {
    nowhere.finish();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("x.gif"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace convlab
