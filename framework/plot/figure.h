// A figure: a drawing in figure units recorded by cairo, written as PNG (one unit = one
// pixel), PDF or SVG (vector, 96 units per inch: one unit = 0.75 pt, the size the PNG has on a
// 96-dpi screen), or rendered to pixels for a GIF frame. Coordinates grow right and down;
// pixel (i, j) of the PNG covers [i, i+1) x [j, j+1), so integer rectangles are crisp.
// Lines and text are anti-aliased; text keeps its glyph outlines in every format and is real
// text too: extractable from the PDF, <text> in the SVG (see svg_text_layer.h).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "framework/plot/color.h"
#include "framework/plot/figure_format.h"
#include "framework/plot/font.h"
#include "framework/plot/svg_text_layer.h"

typedef struct _cairo_surface cairo_surface_t;
typedef struct _cairo cairo_t;

namespace convlab {

inline constexpr double kPointsPerUnit = 0.75;  // PDF page size = figure size * 0.75 pt

struct PointF {
  float x = 0, y = 0;
};

// Integer rectangle: columns [x, x + width), rows [y, y + height).
struct Rect {
  int x = 0, y = 0, width = 0, height = 0;

  int right() const { return x + width; }
  int bottom() const { return y + height; }
  bool contains(float px, float py) const { return px >= x && px < right() && py >= y && py < bottom(); }
};

// Rows top to bottom, 3 bytes (R, G, B) per pixel.
struct RgbImage {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;

  Rgb pixel(int x, int y) const;
};

class Figure {
 public:
  Figure(int width, int height, Rgb background = kWhite);
  ~Figure();
  Figure(Figure&& other) noexcept;
  Figure& operator=(Figure&& other) noexcept;
  Figure(const Figure&) = delete;
  Figure& operator=(const Figure&) = delete;

  int width() const { return width_; }
  int height() const { return height_; }
  // The PDF's title (its document information); empty by default.
  void set_title(std::string title) { title_ = std::move(title); }

  void fill_rect(const Rect& rect, Rgb color, float alpha = 1.0f);
  // The same for a rectangle of any position and size: width x height from (x, y).
  void fill_box(double x, double y, double width, double height, Rgb color, float alpha = 1.0f);
  // An outline of the given width drawn just outside rect.
  void frame_rect(const Rect& rect, Rgb color, float width = 1.0f);
  // A stroke with round ends; dash > 0 draws it dashed, dash units on and dash * 0.75 off.
  void draw_line(PointF a, PointF b, Rgb color, float width = 1.0f, float dash = 0.0f);
  // A polyline drawn in one stroke, so its joints are not painted twice; a NaN coordinate
  // breaks it into pieces, and a piece of one point is a dot.
  void draw_polyline(const std::vector<PointF>& points, Rgb color, float width = 1.0f);
  void fill_circle(PointF centre, float radius, Rgb color);
  // rect filled with paper and crossed by diagonal hatch lines every period units, aligned
  // to the figure, so neighbouring hatched rectangles join up.
  void fill_hatched(const Rect& rect, Rgb paper, Rgb hatch, float period = 7.0f);
  // rect filled with a vertical gradient through stops, evenly spaced, the first at the bottom.
  void fill_vertical_gradient(const Rect& rect, const std::vector<Rgb>& stops);
  // Text anchored at (x, y) according to the style's alignments.
  void draw_text(float x, float y, const std::string& text, const TextStyle& style = {});

  // Drawing between push_clip and its pop_clip stays inside rect (and any enclosing clip).
  void push_clip(const Rect& rect);
  void pop_clip();

  // The figure as pixels, one per unit.
  RgbImage render() const;
  // Written atomically in the format its extension names; an error names the path.
  void write(const std::filesystem::path& file) const;
  void write(const std::filesystem::path& file, FigureFormat format) const;
  // stem.png, stem.pdf, ... one file per format; returns their paths in that order.
  std::vector<std::filesystem::path> save(const std::filesystem::path& stem, const FigureFormats& formats) const;

  // The texts drawn so far, as the SVG's text layer has them.
  const std::vector<PlacedText>& texts() const { return texts_; }

 private:
  void check_status(const char* what) const;
  std::string encode(FigureFormat format) const;

  int width_ = 0, height_ = 0;
  cairo_surface_t* recording_ = nullptr;
  cairo_t* cr_ = nullptr;
  int clip_depth_ = 0;
  std::string title_;
  std::vector<PlacedText> texts_;
};

}  // namespace convlab
