#include "framework/plot/figure.h"

#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <cairo.h>

#include <cmath>
#include <memory>
#include <numbers>
#include <utility>

#include "framework/core/error.h"
#include "framework/io/atomic_file.h"

namespace convlab {
namespace {

void set_color(cairo_t* cr, Rgb c, float alpha = 1.0f) {
  cairo_set_source_rgba(cr, c.r / 255.0, c.g / 255.0, c.b / 255.0, alpha);
}

bool finite(PointF p) { return std::isfinite(p.x) && std::isfinite(p.y); }

// cairo writes PDF, SVG and PNG bytes through this into memory; files are then written atomically.
cairo_status_t append_bytes(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

using SurfacePtr = std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)>;

}  // namespace

Rgb RgbImage::pixel(int x, int y) const {
  CONVLAB_CHECK(x >= 0 && x < width && y >= 0 && y < height, "pixel ({}, {}) is outside the {}x{} image", x, y, width,
                height);
  const size_t i = (static_cast<size_t>(y) * width + x) * 3;
  return Rgb{pixels[i], pixels[i + 1], pixels[i + 2]};
}

Figure::Figure(int width, int height, Rgb background) : width_(width), height_(height) {
  // cairo's image surfaces (the PNG, GIF frames) stop at 32767 pixels a side.
  CONVLAB_CHECK(width > 0 && height > 0 && width <= 32767 && height <= 32767,
                "figure size {}x{} must be between 1 and 32767 units each way", width, height);
  const cairo_rectangle_t extents{0, 0, static_cast<double>(width), static_cast<double>(height)};
  recording_ = cairo_recording_surface_create(CAIRO_CONTENT_COLOR_ALPHA, &extents);
  cr_ = cairo_create(recording_);
  check_status("starting the figure");
  cairo_set_font_face(cr_, plot_font());
  cairo_set_font_options(cr_, plot_font_options());
  cairo_set_line_join(cr_, CAIRO_LINE_JOIN_ROUND);
  set_color(cr_, background);
  cairo_paint(cr_);
}

Figure::~Figure() {
  if (cr_) cairo_destroy(cr_);
  if (recording_) {
    // Finishing detaches the snapshots a PDF or SVG target took of the recording; cairo frees
    // such a cycle only then (LeakSanitizer saw it leak when the surface was only destroyed).
    cairo_surface_finish(recording_);
    cairo_surface_destroy(recording_);
  }
}

Figure::Figure(Figure&& other) noexcept
    : width_(other.width_),
      height_(other.height_),
      recording_(std::exchange(other.recording_, nullptr)),
      cr_(std::exchange(other.cr_, nullptr)),
      clip_depth_(other.clip_depth_),
      title_(std::move(other.title_)),
      texts_(std::move(other.texts_)) {}

Figure& Figure::operator=(Figure&& other) noexcept {
  if (this != &other) {
    std::swap(width_, other.width_);
    std::swap(height_, other.height_);
    std::swap(recording_, other.recording_);
    std::swap(cr_, other.cr_);
    std::swap(clip_depth_, other.clip_depth_);
    std::swap(title_, other.title_);
    std::swap(texts_, other.texts_);
  }
  return *this;
}

void Figure::check_status(const char* what) const {
  CONVLAB_CHECK(cr_ != nullptr, "the figure was moved from");
  const cairo_status_t status = cairo_status(cr_);
  if (status != CAIRO_STATUS_SUCCESS) CONVLAB_FAIL("cairo failed {}: {}", what, cairo_status_to_string(status));
}

void Figure::fill_rect(const Rect& rect, Rgb color, float alpha) {
  fill_box(rect.x, rect.y, rect.width, rect.height, color, alpha);
}

void Figure::fill_box(double x, double y, double width, double height, Rgb color, float alpha) {
  if (!(width > 0) || !(height > 0) || !std::isfinite(x) || !std::isfinite(y)) return;
  set_color(cr_, color, alpha);
  cairo_rectangle(cr_, x, y, width, height);
  cairo_fill(cr_);
}

void Figure::frame_rect(const Rect& rect, Rgb color, float width) {
  set_color(cr_, color);
  cairo_set_line_width(cr_, width);
  cairo_set_dash(cr_, nullptr, 0, 0);
  const double half = width / 2.0;
  cairo_rectangle(cr_, rect.x - half, rect.y - half, rect.width + width, rect.height + width);
  cairo_stroke(cr_);
}

void Figure::draw_line(PointF a, PointF b, Rgb color, float width, float dash) {
  if (!finite(a) || !finite(b) || !(width > 0.0f)) return;
  set_color(cr_, color);
  cairo_set_line_width(cr_, width);
  cairo_set_line_cap(cr_, dash > 0 ? CAIRO_LINE_CAP_BUTT : CAIRO_LINE_CAP_ROUND);
  const double pattern[2] = {dash, dash * 0.75};
  cairo_set_dash(cr_, pattern, dash > 0 ? 2 : 0, 0);
  cairo_move_to(cr_, a.x, a.y);
  cairo_line_to(cr_, b.x, b.y);
  cairo_stroke(cr_);
  cairo_set_dash(cr_, nullptr, 0, 0);
}

void Figure::draw_polyline(const std::vector<PointF>& points, Rgb color, float width) {
  if (!(width > 0.0f) || points.empty()) return;
  set_color(cr_, color);
  cairo_set_line_width(cr_, width);
  cairo_set_line_cap(cr_, CAIRO_LINE_CAP_ROUND);  // a one-point piece becomes a round dot
  cairo_set_dash(cr_, nullptr, 0, 0);
  for (size_t i = 0; i < points.size(); ++i) {
    if (!finite(points[i])) continue;
    const bool starts = i == 0 || !finite(points[i - 1]);
    const bool ends = i + 1 == points.size() || !finite(points[i + 1]);
    if (!starts) {
      cairo_line_to(cr_, points[i].x, points[i].y);
      continue;
    }
    cairo_move_to(cr_, points[i].x, points[i].y);
    if (ends) cairo_close_path(cr_);  // a piece of one point: cairo strokes it as a round dot
  }
  cairo_stroke(cr_);
}

void Figure::fill_circle(PointF centre, float radius, Rgb color) {
  if (!finite(centre) || !(radius > 0.0f)) return;
  set_color(cr_, color);
  cairo_new_sub_path(cr_);
  cairo_arc(cr_, centre.x, centre.y, radius, 0, 2 * std::numbers::pi);
  cairo_fill(cr_);
}

void Figure::fill_hatched(const Rect& rect, Rgb paper, Rgb hatch, float period) {
  if (rect.width <= 0 || rect.height <= 0) return;
  CONVLAB_CHECK(period > 0.0f, "hatch period {} must be positive", period);
  fill_rect(rect, paper);
  push_clip(rect);
  set_color(cr_, hatch);
  cairo_set_line_width(cr_, 1.0);
  cairo_set_dash(cr_, nullptr, 0, 0);
  // Lines x + y = k * period, from the top edge to the bottom edge of rect.
  const double first = std::floor((rect.x + rect.y) / period), last = std::ceil((rect.right() + rect.bottom()) / period);
  for (double k = first; k <= last; ++k) {
    const double s = k * period;
    cairo_move_to(cr_, s - rect.y, rect.y);
    cairo_line_to(cr_, s - rect.bottom(), rect.bottom());
  }
  cairo_stroke(cr_);
  pop_clip();
}

void Figure::fill_vertical_gradient(const Rect& rect, const std::vector<Rgb>& stops) {
  CONVLAB_CHECK(stops.size() >= 2, "a gradient needs at least two colours, got {}", stops.size());
  if (rect.width <= 0 || rect.height <= 0) return;
  cairo_pattern_t* gradient = cairo_pattern_create_linear(0, rect.bottom(), 0, rect.y);
  for (size_t i = 0; i < stops.size(); ++i)
    cairo_pattern_add_color_stop_rgb(gradient, static_cast<double>(i) / static_cast<double>(stops.size() - 1),
                                     stops[i].r / 255.0, stops[i].g / 255.0, stops[i].b / 255.0);
  cairo_set_source(cr_, gradient);
  cairo_rectangle(cr_, rect.x, rect.y, rect.width, rect.height);
  cairo_fill(cr_);
  cairo_pattern_destroy(gradient);
}

void Figure::draw_text(float x, float y, const std::string& text, const TextStyle& style) {
  if (text.empty()) return;
  const std::string printable = printable_text(text);
  const TextExtent extent = measure_text(printable, style.size);
  // The anchor relative to the start of the baseline: u along the text, v across it (down).
  const float u = style.h_align == HAlign::left ? 0.0f : style.h_align == HAlign::center ? extent.width / 2.0f : extent.width;
  const float v = style.v_align == VAlign::top      ? -extent.ascent
                  : style.v_align == VAlign::bottom ? extent.descent
                  : style.v_align == VAlign::center ? (extent.descent - extent.ascent) / 2.0f
                                                    : 0.0f;
  // Turned counter-clockwise, along the text is up the figure and across it is to the right.
  const double bx = style.vertical ? x - v : x - u;
  const double by = style.vertical ? y + u : y - v;
  cairo_save(cr_);
  set_color(cr_, style.color);
  cairo_set_font_size(cr_, style.size);
  cairo_translate(cr_, bx, by);
  if (style.vertical) cairo_rotate(cr_, -std::numbers::pi / 2);
  cairo_move_to(cr_, 0, 0);
  cairo_show_text(cr_, printable.c_str());
  cairo_restore(cr_);
  texts_.push_back(PlacedText{printable, bx, by, style.size, extent.width, style.vertical});
}

void Figure::push_clip(const Rect& rect) {
  cairo_save(cr_);
  cairo_rectangle(cr_, rect.x, rect.y, std::max(0, rect.width), std::max(0, rect.height));
  cairo_clip(cr_);
  ++clip_depth_;
}

void Figure::pop_clip() {
  CONVLAB_CHECK(clip_depth_ > 0, "pop_clip without a push_clip");
  cairo_restore(cr_);
  --clip_depth_;
}

RgbImage Figure::render() const {
  check_status("drawing the figure");
  SurfacePtr image(cairo_image_surface_create(CAIRO_FORMAT_RGB24, width_, height_), cairo_surface_destroy);
  cairo_t* cr = cairo_create(image.get());
  cairo_set_source_surface(cr, recording_, 0, 0);
  cairo_paint(cr);
  const cairo_status_t status = cairo_status(cr);
  cairo_destroy(cr);
  cairo_surface_flush(image.get());
  if (status != CAIRO_STATUS_SUCCESS) CONVLAB_FAIL("rendering a {}x{} figure failed: {}", width_, height_, cairo_status_to_string(status));
  RgbImage out{width_, height_, std::vector<uint8_t>(static_cast<size_t>(width_) * height_ * 3)};
  const unsigned char* data = cairo_image_surface_get_data(image.get());
  const int stride = cairo_image_surface_get_stride(image.get());
  for (int y = 0; y < height_; ++y) {
    const auto* row = reinterpret_cast<const uint32_t*>(data + static_cast<size_t>(y) * stride);
    for (int x = 0; x < width_; ++x) {
      const uint32_t p = row[x];  // 0x00RRGGBB in native byte order
      uint8_t* o = &out.pixels[(static_cast<size_t>(y) * width_ + x) * 3];
      o[0] = static_cast<uint8_t>(p >> 16), o[1] = static_cast<uint8_t>(p >> 8), o[2] = static_cast<uint8_t>(p);
    }
  }
  return out;
}

std::string Figure::encode(FigureFormat format) const {
  check_status("drawing the figure");
  std::string bytes;
  SurfacePtr target(nullptr, cairo_surface_destroy);
  switch (format) {
    case FigureFormat::png:
      target.reset(cairo_image_surface_create(CAIRO_FORMAT_RGB24, width_, height_));
      break;
    case FigureFormat::pdf:
      target.reset(cairo_pdf_surface_create_for_stream(append_bytes, &bytes, width_ * kPointsPerUnit,
                                                       height_ * kPointsPerUnit));
      cairo_pdf_surface_set_metadata(target.get(), CAIRO_PDF_METADATA_CREATOR, "convlab");
      if (!title_.empty())
        cairo_pdf_surface_set_metadata(target.get(), CAIRO_PDF_METADATA_TITLE, printable_text(title_).c_str());
      break;
    case FigureFormat::svg:
      // In px (96 to the inch) with user units equal to figure units: the same size as the PDF.
      target.reset(cairo_svg_surface_create_for_stream(append_bytes, &bytes, width_, height_));
      cairo_svg_surface_set_document_unit(target.get(), CAIRO_SVG_UNIT_PX);
      break;
  }
  cairo_t* cr = cairo_create(target.get());
  if (format == FigureFormat::pdf) cairo_scale(cr, kPointsPerUnit, kPointsPerUnit);
  cairo_set_source_surface(cr, recording_, 0, 0);
  cairo_paint(cr);
  cairo_status_t status = cairo_status(cr);
  cairo_destroy(cr);
  if (status == CAIRO_STATUS_SUCCESS && format == FigureFormat::png)
    status = cairo_surface_write_to_png_stream(target.get(), append_bytes, &bytes);
  cairo_surface_finish(target.get());
  if (status == CAIRO_STATUS_SUCCESS) status = cairo_surface_status(target.get());
  if (status != CAIRO_STATUS_SUCCESS)
    CONVLAB_FAIL("encoding a {}x{} figure as {} failed: {}", width_, height_, format_name(format),
                 cairo_status_to_string(status));
  return format == FigureFormat::svg ? add_svg_text_layer(bytes, texts_) : bytes;
}

void Figure::write(const std::filesystem::path& file) const { write(file, format_of(file)); }

void Figure::write(const std::filesystem::path& file, FigureFormat format) const {
  const std::string bytes = encode(format);
  write_file_atomically(file, [&](std::ostream& out) { out.write(bytes.data(), static_cast<std::streamsize>(bytes.size())); });
}

std::vector<std::filesystem::path> Figure::save(const std::filesystem::path& stem, const FigureFormats& formats) const {
  CONVLAB_CHECK(!formats.empty(), "no figure format given for {}", stem.string());
  std::vector<std::filesystem::path> files;
  for (FigureFormat format : formats) {
    files.push_back(stem.string() + "." + format_name(format));
    write(files.back(), format);
  }
  return files;
}

}  // namespace convlab
