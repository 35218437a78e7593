// An RGB raster image to draw plots on: filled rectangles, anti-aliased lines and dots,
// alpha masks (text), a clip rectangle, and PNG output. Pixel (i, j) covers the square
// [i, i+1) x [j, j+1), so its centre is (i + 0.5, j + 0.5); y grows downwards.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

namespace convlab {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;

  bool operator==(const Rgb&) const = default;
};

inline constexpr Rgb kWhite{255, 255, 255};
inline constexpr Rgb kBlack{0, 0, 0};

// a + (b - a) * t, per channel, t in [0, 1].
Rgb mix(Rgb a, Rgb b, float t);

struct PointF {
  float x = 0, y = 0;
};

// Integer pixel rectangle: columns [x, x + width), rows [y, y + height).
struct Rect {
  int x = 0, y = 0, width = 0, height = 0;

  int right() const { return x + width; }
  int bottom() const { return y + height; }
  bool contains(float px, float py) const { return px >= x && px < right() && py >= y && py < bottom(); }
};

class Canvas {
 public:
  Canvas(int width, int height, Rgb background = kWhite);

  int width() const { return width_; }
  int height() const { return height_; }
  // Rows top to bottom, 3 bytes per pixel.
  const std::vector<uint8_t>& pixels() const { return pixels_; }
  Rgb pixel(int x, int y) const;

  // Drawing outside the clip rectangle (initially the whole canvas) changes nothing.
  void set_clip(const Rect& clip);
  void reset_clip();
  const Rect& clip() const { return clip_; }

  void set_pixel(int x, int y, Rgb color);
  // Paints color over the pixel with coverage alpha in [0, 1].
  void blend_pixel(int x, int y, Rgb color, float alpha);
  void fill_rect(const Rect& rect, Rgb color, float alpha = 1.0f);
  // An outline of the given thickness drawn inside rect.
  void stroke_rect(const Rect& rect, Rgb color, int thickness = 1);

  // Anti-aliased strokes of the given width in pixels. A polyline is drawn in one pass, so its
  // joints are not painted twice; a NaN coordinate breaks it into separate pieces.
  void draw_line(PointF a, PointF b, Rgb color, float width = 1.0f);
  void draw_polyline(const std::vector<PointF>& points, Rgb color, float width = 1.0f);
  void fill_circle(PointF centre, float radius, Rgb color);

  // Paints color through an 8-bit coverage mask of mask_width x mask_height placed with its
  // top-left corner at (x, y).
  void blend_mask(int x, int y, int mask_width, int mask_height, const uint8_t* mask, Rgb color);

  // Writes a PNG atomically; an error names the path.
  void save_png(const std::filesystem::path& path) const;

 private:
  int width_, height_;
  Rect clip_;
  std::vector<uint8_t> pixels_;
};

}  // namespace convlab
