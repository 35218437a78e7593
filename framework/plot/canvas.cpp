#include "framework/plot/canvas.h"

#include <stb/stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "framework/core/error.h"
#include "framework/io/atomic_file.h"

namespace convlab {
namespace {

Rect intersect(const Rect& a, const Rect& b) {
  const int x0 = std::max(a.x, b.x), y0 = std::max(a.y, b.y);
  const int x1 = std::min(a.right(), b.right()), y1 = std::min(a.bottom(), b.bottom());
  return Rect{x0, y0, std::max(0, x1 - x0), std::max(0, y1 - y0)};
}

// Distance from p to the segment a-b.
float segment_distance(float px, float py, PointF a, PointF b) {
  const float dx = b.x - a.x, dy = b.y - a.y;
  const float length2 = dx * dx + dy * dy;
  float t = length2 > 0 ? ((px - a.x) * dx + (py - a.y) * dy) / length2 : 0.0f;
  t = std::clamp(t, 0.0f, 1.0f);
  const float ex = a.x + t * dx - px, ey = a.y + t * dy - py;
  return std::sqrt(ex * ex + ey * ey);
}

bool finite(PointF p) { return std::isfinite(p.x) && std::isfinite(p.y); }

}  // namespace

Rgb mix(Rgb a, Rgb b, float t) {
  auto channel = [t](uint8_t from, uint8_t to) {
    return static_cast<uint8_t>(std::lround(static_cast<float>(from) + (static_cast<float>(to) - from) * t));
  };
  return Rgb{channel(a.r, b.r), channel(a.g, b.g), channel(a.b, b.b)};
}

Canvas::Canvas(int width, int height, Rgb background) : width_(width), height_(height) {
  CONVLAB_CHECK(width > 0 && height > 0 && width <= 1 << 15 && height <= 1 << 15,
                "canvas size {}x{} must be between 1 and 32768 pixels each way", width, height);
  clip_ = Rect{0, 0, width, height};
  pixels_.resize(static_cast<size_t>(width) * height * 3);
  for (size_t i = 0; i < pixels_.size(); i += 3) {
    pixels_[i] = background.r;
    pixels_[i + 1] = background.g;
    pixels_[i + 2] = background.b;
  }
}

Rgb Canvas::pixel(int x, int y) const {
  CONVLAB_CHECK(x >= 0 && x < width_ && y >= 0 && y < height_, "pixel ({}, {}) is outside the {}x{} canvas", x, y,
                width_, height_);
  const size_t i = (static_cast<size_t>(y) * width_ + x) * 3;
  return Rgb{pixels_[i], pixels_[i + 1], pixels_[i + 2]};
}

void Canvas::set_clip(const Rect& clip) { clip_ = intersect(clip, Rect{0, 0, width_, height_}); }

void Canvas::reset_clip() { clip_ = Rect{0, 0, width_, height_}; }

void Canvas::set_pixel(int x, int y, Rgb color) {
  if (x < clip_.x || x >= clip_.right() || y < clip_.y || y >= clip_.bottom()) return;
  const size_t i = (static_cast<size_t>(y) * width_ + x) * 3;
  pixels_[i] = color.r;
  pixels_[i + 1] = color.g;
  pixels_[i + 2] = color.b;
}

void Canvas::blend_pixel(int x, int y, Rgb color, float alpha) {
  if (!(alpha > 0.0f)) return;
  if (x < clip_.x || x >= clip_.right() || y < clip_.y || y >= clip_.bottom()) return;
  if (alpha >= 1.0f) return set_pixel(x, y, color);
  const size_t i = (static_cast<size_t>(y) * width_ + x) * 3;
  const Rgb blended = mix(Rgb{pixels_[i], pixels_[i + 1], pixels_[i + 2]}, color, alpha);
  pixels_[i] = blended.r;
  pixels_[i + 1] = blended.g;
  pixels_[i + 2] = blended.b;
}

void Canvas::fill_rect(const Rect& rect, Rgb color, float alpha) {
  const Rect area = intersect(rect, clip_);
  for (int y = area.y; y < area.bottom(); ++y)
    for (int x = area.x; x < area.right(); ++x) blend_pixel(x, y, color, alpha);
}

void Canvas::stroke_rect(const Rect& rect, Rgb color, int thickness) {
  const int t = std::min({thickness, rect.width, rect.height});
  if (t <= 0) return;
  fill_rect(Rect{rect.x, rect.y, rect.width, t}, color);
  fill_rect(Rect{rect.x, rect.bottom() - t, rect.width, t}, color);
  fill_rect(Rect{rect.x, rect.y + t, t, rect.height - 2 * t}, color);
  fill_rect(Rect{rect.right() - t, rect.y + t, t, rect.height - 2 * t}, color);
}

void Canvas::draw_line(PointF a, PointF b, Rgb color, float width) { draw_polyline({a, b}, color, width); }

void Canvas::draw_polyline(const std::vector<PointF>& points, Rgb color, float width) {
  if (!(width > 0.0f) || points.empty()) return;
  // Strokes thinner than a pixel are drawn one pixel wide and fainter.
  const float half = std::max(width, 1.0f) / 2.0f;
  const float strength = std::min(width, 1.0f);

  float x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
  for (const PointF& p : points) {
    if (!finite(p)) continue;
    x0 = std::min(x0, p.x), y0 = std::min(y0, p.y), x1 = std::max(x1, p.x), y1 = std::max(y1, p.y);
  }
  if (!(x0 <= x1)) return;
  const float reach = half + 1.0f;
  // Clamped in float before converting, so far-away points cannot overflow an int.
  auto column = [&](float v) { return std::clamp(v, static_cast<float>(clip_.x), static_cast<float>(clip_.right())); };
  auto row = [&](float v) { return std::clamp(v, static_cast<float>(clip_.y), static_cast<float>(clip_.bottom())); };
  const int bx0 = static_cast<int>(std::floor(column(x0 - reach)));
  const int by0 = static_cast<int>(std::floor(row(y0 - reach)));
  const int bx1 = static_cast<int>(std::ceil(column(x1 + reach)));
  const int by1 = static_cast<int>(std::ceil(row(y1 + reach)));
  if (bx0 >= bx1 || by0 >= by1) return;

  // Coverage of the whole polyline, the maximum over its segments, so joints blend once.
  const int bw = bx1 - bx0, bh = by1 - by0;
  std::vector<float> coverage(static_cast<size_t>(bw) * bh, 0.0f);
  auto stamp = [&](PointF a, PointF b) {
    const int sx0 = static_cast<int>(std::floor(column(std::min(a.x, b.x) - reach)));
    const int sy0 = static_cast<int>(std::floor(row(std::min(a.y, b.y) - reach)));
    const int sx1 = static_cast<int>(std::ceil(column(std::max(a.x, b.x) + reach)));
    const int sy1 = static_cast<int>(std::ceil(row(std::max(a.y, b.y) + reach)));
    for (int y = sy0; y < sy1; ++y)
      for (int x = sx0; x < sx1; ++x) {
        const float d = segment_distance(static_cast<float>(x) + 0.5f, static_cast<float>(y) + 0.5f, a, b);
        const float c = std::clamp(half + 0.5f - d, 0.0f, 1.0f) * strength;
        float& cell = coverage[static_cast<size_t>(y - by0) * bw + (x - bx0)];
        cell = std::max(cell, c);
      }
  };
  for (size_t i = 0; i < points.size(); ++i) {
    if (!finite(points[i])) continue;
    const bool has_next = i + 1 < points.size() && finite(points[i + 1]);
    const bool has_previous = i > 0 && finite(points[i - 1]);
    if (has_next) stamp(points[i], points[i + 1]);
    else if (!has_previous) stamp(points[i], points[i]);  // an isolated point: a dot
  }
  for (int y = by0; y < by1; ++y)
    for (int x = bx0; x < bx1; ++x) blend_pixel(x, y, color, coverage[static_cast<size_t>(y - by0) * bw + (x - bx0)]);
}

void Canvas::fill_circle(PointF centre, float radius, Rgb color) {
  if (!finite(centre) || !(radius > 0.0f)) return;
  auto column = [&](float v) { return std::clamp(v, static_cast<float>(clip_.x), static_cast<float>(clip_.right())); };
  auto row = [&](float v) { return std::clamp(v, static_cast<float>(clip_.y), static_cast<float>(clip_.bottom())); };
  const int x0 = static_cast<int>(std::floor(column(centre.x - radius - 1)));
  const int x1 = static_cast<int>(std::ceil(column(centre.x + radius + 1)));
  const int y0 = static_cast<int>(std::floor(row(centre.y - radius - 1)));
  const int y1 = static_cast<int>(std::ceil(row(centre.y + radius + 1)));
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) {
      const float dx = static_cast<float>(x) + 0.5f - centre.x, dy = static_cast<float>(y) + 0.5f - centre.y;
      blend_pixel(x, y, color, std::clamp(radius + 0.5f - std::sqrt(dx * dx + dy * dy), 0.0f, 1.0f));
    }
}

void Canvas::blend_mask(int x, int y, int mask_width, int mask_height, const uint8_t* mask, Rgb color) {
  for (int j = 0; j < mask_height; ++j)
    for (int i = 0; i < mask_width; ++i) {
      const uint8_t a = mask[static_cast<size_t>(j) * mask_width + i];
      if (a) blend_pixel(x + i, y + j, color, static_cast<float>(a) / 255.0f);
    }
}

void Canvas::save_png(const std::filesystem::path& path) const {
  std::string png;
  auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data), static_cast<size_t>(size));
  };
  const int ok = stbi_write_png_to_func(append, &png, width_, height_, 3, pixels_.data(), width_ * 3);
  CONVLAB_CHECK(ok != 0 && !png.empty(), "encoding the {}x{} PNG for {} failed", width_, height_, path.string());
  write_file_atomically(path, [&](std::ostream& out) { out.write(png.data(), static_cast<std::streamsize>(png.size())); });
}

}  // namespace convlab
