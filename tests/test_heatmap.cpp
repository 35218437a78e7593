// Heatmaps and heatmap grids as files (PNG size, PDF page size and text, SVG text nodes with
// the layer names), their layout (no two texts overlap, nothing leaves the figure, however
// long the titles), uncertainty annotations, and GIFs of rendered frames.
#include <gif_lib.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "framework/core/error.h"
#include "framework/plot/colormap.h"
#include "framework/plot/gif_writer.h"
#include "framework/plot/heatmap.h"
#include "framework/plot/heatmap_grid.h"
#include "tests/support/figure_files.h"
#include "tests/support/scratch_dir.h"

namespace convlab {
namespace {

using test_support::pdf_page_size;
using test_support::pdf_text;
using test_support::png_size;
using test_support::svg_texts;

class HeatmapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test_support::fresh_test_dir("heatmap");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
};

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

// What `convlab-analyze files a b c --vs d e f g` draws: 3 x 4, long axis names and title.
HeatmapSpec files_versus() {
  HeatmapSpec spec;
  spec.title = "Linear CKA, debiased, 1000 examples: 3 .npy feature files (1000 examples) vs 4 .npy feature files "
               "(1000 examples)";
  spec.row_axis = "3 .npy feature files (1000 examples)";
  spec.col_axis = "4 .npy feature files (1000 examples)";
  spec.row_labels = {"layer1", "layer2", "layer3"};
  spec.col_labels = {"other1", "other2", "other3", "other4"};
  spec.values = {0.9, 0.5, 0.3, 0.1, 0.4, 0.8, NAN, 0.2, 0.2, 0.3, 0.7, 0.95};
  return spec;
}

Rgb cell_centre(const RgbImage& image, const Rect& matrix, size_t cols, size_t i, size_t j) {
  const int cell = matrix.width / static_cast<int>(cols);
  return image.pixel(matrix.x + static_cast<int>(j) * cell + cell / 2, matrix.y + static_cast<int>(i) * cell + cell / 2);
}

// The box a placed text's font covers: along its advance, across from descender to ascender.
struct Box {
  double x0, y0, x1, y1;
};

Box box_of(const PlacedText& t) {
  const TextExtent e = measure_text(t.text, static_cast<float>(t.size));
  if (t.vertical) return Box{t.x - e.ascent, t.y - t.width, t.x + e.descent, t.y};  // reads upwards from (x, y)
  return Box{t.x, t.y - e.ascent, t.x + t.width, t.y + e.descent};
}

// Every text inside the figure, and no two texts' boxes overlapping (by more than a hair).
void expect_clear_layout(const Figure& figure, const std::string& what) {
  const auto& texts = figure.texts();
  ASSERT_FALSE(texts.empty()) << what;
  constexpr double kHair = 0.5;
  for (size_t a = 0; a < texts.size(); ++a) {
    const Box p = box_of(texts[a]);
    EXPECT_TRUE(p.x0 >= -kHair && p.y0 >= -kHair && p.x1 <= figure.width() + kHair && p.y1 <= figure.height() + kHair)
        << what << ": '" << texts[a].text << "' leaves the " << figure.width() << "x" << figure.height() << " figure";
    for (size_t b = a + 1; b < texts.size(); ++b) {
      const Box q = box_of(texts[b]);
      const bool overlap = std::min(p.x1, q.x1) - std::max(p.x0, q.x0) > kHair &&
                           std::min(p.y1, q.y1) - std::max(p.y0, q.y0) > kHair;
      EXPECT_FALSE(overlap) << what << ": '" << texts[a].text << "' overlaps '" << texts[b].text << "'";
    }
  }
}

const PlacedText* find_text(const Figure& figure, const std::string& text) {
  for (const PlacedText& t : figure.texts())
    if (t.text == text) return &t;
  return nullptr;
}

TEST_F(HeatmapTest, PngPdfAndSvgHaveTheFiguresSizeAndTheLayerNames) {
  HeatmapSpec spec = cka_like(10, 10);
  spec.row_labels[3] = "block<2> & \"skip\"";  // names that need escaping in SVG
  const auto files = save_heatmap(spec, dir_ / "cka", {FigureFormat::png, FigureFormat::pdf, FigureFormat::svg});
  ASSERT_EQ(files.size(), 3u);
  const Figure expected = heatmap_figure(spec);
  EXPECT_GT(expected.width(), 500);

  const auto png = png_size(dir_ / "cka.png");
  EXPECT_EQ(png.width, expected.width());
  EXPECT_EQ(png.height, expected.height());
  const auto page = pdf_page_size(dir_ / "cka.pdf");
  EXPECT_DOUBLE_EQ(page.width, expected.width() * 0.75);
  EXPECT_DOUBLE_EQ(page.height, expected.height() * 0.75);
  const auto texts = svg_texts(dir_ / "cka.svg");
  for (const auto* labels : {&spec.row_labels, &spec.col_labels})
    for (const std::string& name : *labels)
      EXPECT_GE(std::count(texts.begin(), texts.end(), name), 1) << name;
  for (const std::string& t : {spec.title, spec.row_axis, spec.col_axis, std::string("CKA"), std::string("1.00")})
    EXPECT_NE(std::find(texts.begin(), texts.end(), t), texts.end()) << t;
  if (const auto text = pdf_text(dir_ / "cka.pdf"))
    for (const std::string& name : {"conv1 (1a)", "logits", "network A layer", "block<2> & \"skip\""})
      EXPECT_NE(text->find(name), std::string::npos) << name << " in\n" << *text;

  // A fixed size is kept; one side fixed, the other follows.
  plot_heatmap(spec, dir_ / "fixed.png", 700, 520);
  EXPECT_EQ(png_size(dir_ / "fixed.png").width, 700);
  EXPECT_EQ(png_size(dir_ / "fixed.png").height, 520);
  const Figure wide = heatmap_figure(spec, 900, 0);
  EXPECT_EQ(wide.width(), 900);
  EXPECT_GT(wide.height(), 400);
  EXPECT_THROW(plot_heatmap(spec, dir_ / "cka.jpg"), Error);
}

TEST_F(HeatmapTest, ALongRowAxisTitleNeverRunsIntoTheTitle) {
  const HeatmapSpec spec = files_versus();
  const Figure figure = heatmap_figure(spec);
  expect_clear_layout(figure, "3 x 4 files --vs");
  // The row axis title is drawn whole, beside the cells and below every line of the title.
  const PlacedText* row_axis = find_text(figure, spec.row_axis);
  ASSERT_NE(row_axis, nullptr);
  EXPECT_TRUE(row_axis->vertical);
  double title_bottom = 0;
  for (const PlacedText& t : figure.texts())
    if (!t.vertical && t.size >= 15) title_bottom = std::max(title_bottom, box_of(t).y1);
  EXPECT_GT(title_bottom, 0);
  EXPECT_GE(box_of(*row_axis).y0, title_bottom);
  // The long title wraps rather than widening the figure to its full length.
  EXPECT_LT(figure.width(), measure_text(spec.title, 15).width);
}

TEST_F(HeatmapTest, LayoutsStayClearAtEverySize) {
  HeatmapSpec one_row = cka_like(1, 10);
  one_row.row_axis = "a rather long name for a network with one layer";
  HeatmapSpec long_names = cka_like(6, 6);
  for (std::string& name : long_names.col_labels) name = "stage3.block2.conv_" + name;
  HeatmapSpec bare = cka_like(4, 4);
  bare.title = bare.row_axis = bare.col_axis = "";
  const std::vector<std::pair<std::string, HeatmapSpec>> specs = {
      {"10 x 10", cka_like(10, 10)}, {"20 x 20", cka_like(20, 20)}, {"1 x 10", one_row},
      {"long column names", long_names}, {"no titles", bare}, {"3 x 4 files", files_versus()}};
  for (const auto& [what, spec] : specs) {
    expect_clear_layout(heatmap_figure(spec), what);
    expect_clear_layout(heatmap_figure(spec, 640, 480), what + " in 640x480");
  }
}

TEST_F(HeatmapTest, StandardDeviationsAreWrittenBesideTheValues) {
  EXPECT_EQ(heatmap_annotation(0.8213), "0.82");
  EXPECT_EQ(heatmap_annotation(0.8213, 0.0123), "0.82 \u00b1 0.01");
  EXPECT_EQ(heatmap_annotation(-0.001, 0.0), "0.00 \u00b1 0.00");
  EXPECT_EQ(heatmap_annotation(0.5, NAN), "0.50");

  HeatmapSpec spec = cka_like(10, 10);
  for (size_t k = 0; k < spec.values.size(); ++k) spec.stddev.push_back(0.005 + 0.002 * (k % 7));
  spec.stddev[5] = NAN;  // unknown for one cell
  save_heatmap(spec, dir_ / "uncertain", {FigureFormat::svg, FigureFormat::pdf});
  const auto texts = svg_texts(dir_ / "uncertain.svg");
  const std::string first = heatmap_annotation(spec.values[0], spec.stddev[0]);
  EXPECT_NE(first.find("\u00b1"), std::string::npos);
  EXPECT_NE(std::find(texts.begin(), texts.end(), first), texts.end()) << first;
  EXPECT_NE(std::find(texts.begin(), texts.end(), heatmap_annotation(spec.values[5])), texts.end());
  EXPECT_EQ(std::count_if(texts.begin(), texts.end(), [](const std::string& t) { return t.find("\u00b1") != std::string::npos; }), 99);
  if (const auto text = pdf_text(dir_ / "uncertain.pdf")) EXPECT_NE(text->find(first), std::string::npos) << *text;

  // Each annotation fits its cell, in a font no larger than plain values get.
  Figure figure(900, 900);
  const Rect matrix = draw_heatmap(figure, Rect{0, 0, 900, 900}, spec);
  const double cell = matrix.width / 10.0;
  HeatmapSpec plain = spec;
  plain.stddev.clear();
  Figure plain_figure(900, 900);
  draw_heatmap(plain_figure, Rect{0, 0, 900, 900}, plain);
  const PlacedText* plain_value = find_text(plain_figure, "1.00");
  ASSERT_NE(plain_value, nullptr);
  int annotations = 0;
  for (const PlacedText& t : figure.texts())
    if (t.text.find("\u00b1") != std::string::npos) {
      ++annotations;
      EXPECT_LE(t.width, cell - 6) << t.text;
      EXPECT_LE(t.size, plain_value->size);
      EXPECT_GE(t.size, 6.5);
    }
  EXPECT_EQ(annotations, 99);
  expect_clear_layout(heatmap_figure(spec), "with standard deviations");

  spec.stddev.pop_back();
  EXPECT_THROW(heatmap_figure(spec), Error);
  spec.stddev.push_back(-0.1);
  EXPECT_THROW(heatmap_figure(spec), Error);
}

TEST_F(HeatmapTest, CellsTakeViridisColoursWithRowZeroAtTheTop) {
  HeatmapSpec spec;
  spec.row_labels = {"a", "b", "c"};
  spec.col_labels = {"x", "y", "z", "w"};
  spec.values = {1.0, 0.0, NAN,  0.5,  //
                 0.0, 1.0, 0.25, 2.0,  //
                 NAN, NAN, 0.75, -1.0};
  spec.annotate = false;
  Figure figure(640, 480);
  const Rect matrix = draw_heatmap(figure, Rect{0, 0, 640, 480}, spec);
  ASSERT_EQ(matrix.width % 4, 0);
  ASSERT_EQ(matrix.width / 4, matrix.height / 3);  // square cells
  EXPECT_GT(matrix.width / 4, 40);
  const RgbImage image = figure.render();
  EXPECT_EQ(cell_centre(image, matrix, 4, 0, 0), viridis(1.0f));
  EXPECT_EQ(cell_centre(image, matrix, 4, 0, 1), viridis(0.0f));
  EXPECT_EQ(cell_centre(image, matrix, 4, 0, 3), viridis(0.5f));
  EXPECT_EQ(cell_centre(image, matrix, 4, 1, 2), viridis(0.25f));
  EXPECT_EQ(cell_centre(image, matrix, 4, 1, 3), viridis(1.0f));  // beyond vmax: the end colour
  EXPECT_EQ(cell_centre(image, matrix, 4, 2, 3), viridis(0.0f));
  // A missing cell is grey, nowhere near the map.
  const int cell = matrix.width / 4;
  for (int y = 2; y < cell - 2; y += 3)
    for (int x = 2; x < cell - 2; x += 3) {
      const Rgb c = image.pixel(matrix.x + 2 * cell + x, matrix.y + y);
      EXPECT_GT(distance_from_viridis(c), 40) << x << "," << y;
      EXPECT_LE(std::abs(c.r - c.g) + std::abs(c.g - c.b), 2);
    }

  // A different range moves the colours.
  spec.vmin = -1, spec.vmax = 3;
  Figure shifted(640, 480);
  const Rect m2 = draw_heatmap(shifted, Rect{0, 0, 640, 480}, spec);
  const RgbImage shifted_image = shifted.render();
  EXPECT_EQ(cell_centre(shifted_image, m2, 4, 0, 0), viridis(0.5f));
  EXPECT_EQ(cell_centre(shifted_image, m2, 4, 2, 3), viridis(0.0f));
}

TEST_F(HeatmapTest, AnnotationsAreLightOnDarkAndDarkOnLight) {
  HeatmapSpec spec;
  spec.rows = 1, spec.cols = 2;  // numbered labels
  spec.values = {0.0, 1.0};
  Figure figure(400, 260);
  draw_heatmap(figure, Rect{0, 0, 400, 260}, spec);  // small: annotated by default
  const PlacedText* dark_cell = find_text(figure, "0.00");
  const PlacedText* light_cell = find_text(figure, "1.00");
  ASSERT_NE(dark_cell, nullptr);
  ASSERT_NE(light_cell, nullptr);
  const RgbImage image = figure.render();
  int light_on_dark = 0, dark_on_light = 0;
  for (int dy = -6; dy <= 0; ++dy)
    for (int dx = 0; dx < static_cast<int>(dark_cell->width); ++dx) {
      light_on_dark += image.pixel(static_cast<int>(dark_cell->x) + dx, static_cast<int>(dark_cell->y) + dy).g > 200;
      dark_on_light += image.pixel(static_cast<int>(light_cell->x) + dx, static_cast<int>(light_cell->y) + dy).g < 80;
    }
  EXPECT_GT(light_on_dark, 10);
  EXPECT_GT(dark_on_light, 10);

  spec.annotate = false;
  Figure plain(400, 260);
  const Rect matrix = draw_heatmap(plain, Rect{0, 0, 400, 260}, spec);
  for (const PlacedText& t : plain.texts()) EXPECT_FALSE(matrix.contains(t.x, t.y)) << t.text << " in a cell";
  EXPECT_NE(find_text(plain, "0"), nullptr);  // the numbered labels are still there
}

TEST_F(HeatmapTest, ManyCellsAreNotAnnotatedByDefault) {
  const HeatmapSpec spec = cka_like(17, 10);
  const Figure figure = heatmap_figure(spec);
  EXPECT_EQ(find_text(figure, "1.00"), nullptr);
  EXPECT_NE(find_text(figure, "conv16 (1a)"), nullptr);
  expect_clear_layout(figure, "17 x 10");
}

TEST_F(HeatmapTest, InconsistentSpecsAreErrors) {
  HeatmapSpec spec = cka_like(3, 3);
  spec.values.pop_back();
  EXPECT_THROW(heatmap_figure(spec), Error);
  spec = cka_like(3, 3);
  spec.col_labels.pop_back();
  EXPECT_THROW(heatmap_figure(spec), Error);
  spec = cka_like(3, 3);
  spec.vmin = 1, spec.vmax = 1;
  EXPECT_THROW(heatmap_figure(spec), Error);
  EXPECT_THROW(heatmap_figure(HeatmapSpec{}), Error);
  Figure tiny(60, 40);
  EXPECT_THROW(draw_heatmap(tiny, Rect{0, 0, 60, 40}, cka_like(3, 3)), Error);
}

TEST_F(HeatmapTest, GridFilesHaveTheFiguresSizeAndEveryPanel) {
  std::vector<HeatmapSpec> panels;
  for (int epoch : {0, 5, 25, 100, 150, 350}) {
    HeatmapSpec panel = cka_like(10, 10);
    panel.title = epoch == 0 ? "init" : "epoch " + std::to_string(epoch);
    panels.push_back(panel);
  }
  panels[2].values[7] = NAN;
  const auto files = save_heatmap_grid(panels, 3, "CKA during training", dir_ / "grid",
                                       {FigureFormat::png, FigureFormat::pdf, FigureFormat::svg});
  ASSERT_EQ(files.size(), 3u);
  const Figure expected = heatmap_grid_figure(panels, 3, "CKA during training");
  EXPECT_GT(expected.width(), expected.height());  // 3 panels across, 2 down
  EXPECT_EQ(png_size(dir_ / "grid.png").width, expected.width());
  EXPECT_EQ(png_size(dir_ / "grid.png").height, expected.height());
  EXPECT_DOUBLE_EQ(pdf_page_size(dir_ / "grid.pdf").width, expected.width() * 0.75);
  const auto texts = svg_texts(dir_ / "grid.svg");
  for (const char* t : {"CKA during training", "init", "epoch 350", "n/a", "logits"})
    EXPECT_NE(std::find(texts.begin(), texts.end(), t), texts.end()) << t;
  EXPECT_EQ(std::count(texts.begin(), texts.end(), "CKA"), 1);  // one shared colour bar
  expect_clear_layout(expected, "grid");

  panels[4].vmax = 2;
  EXPECT_THROW(heatmap_grid_figure(panels, 3, "mixed ranges"), Error);
  EXPECT_THROW(heatmap_grid_figure({}, 3, "empty"), Error);
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

TEST_F(HeatmapTest, GifOfRenderedFiguresDecodesWithEveryFrameLoopAndColours) {
  std::vector<RgbImage> frames;
  std::vector<Rect> matrices;
  for (int k = 0; k < 4; ++k) {
    HeatmapSpec spec = cka_like(6, 6);
    for (double& v : spec.values) v = std::pow(v, 1.0 + k);
    spec.title = "epoch " + std::to_string(k * 50);
    Figure figure(520, 440);
    matrices.push_back(draw_heatmap(figure, Rect{0, 0, 520, 440}, spec));
    frames.push_back(figure.render());
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
  Figure fa(40, 30), fb(40, 30);
  fa.fill_rect(Rect{0, 0, 20, 30}, viridis(0.3f));
  fb.fill_rect(Rect{10, 5, 20, 10}, Rgb{12, 200, 77});
  fb.fill_rect(Rect{0, 20, 40, 10}, kBlack);
  const RgbImage a = fa.render(), b = fb.render();
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
  writer.add_frame(Figure(100, 80));
  try {
    writer.add_frame(Figure(90, 80));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("90x80"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad.gif"), std::string::npos) << e.what();
  }
  EXPECT_EQ(writer.frame_count(), 1u);
  EXPECT_THROW(write_gif(path, {Figure(10, 10).render(), Figure(10, 11).render()}, 50), Error);
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_THROW(write_gif(path, {}, 50), Error);
  EXPECT_THROW(GifWriter(path, 10, 10, -1), Error);
  EXPECT_THROW(GifWriter(path, 0, 10, 5), Error);
  GifWriter empty(path, 10, 10, 5);
  EXPECT_THROW(empty.finish(), Error);
  GifWriter nowhere(dir_ / "missing_folder" / "x.gif", 10, 10, 5);
  nowhere.add_frame(Figure(10, 10));
  try {
    nowhere.finish();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("x.gif"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace convlab
