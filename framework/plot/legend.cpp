#include "framework/plot/legend.h"

#include <algorithm>
#include <cmath>

namespace convlab {
namespace {

constexpr Rgb kLabel{30, 30, 30};
constexpr int kInner = 9;       // box edge to its entries
constexpr int kSample = 28;     // the sample line's length
constexpr int kGap = 8;         // sample to label
constexpr int kEntryGap = 26;   // between entries of a row

int row_height(const LegendStyle& style) { return static_cast<int>(std::ceil(style.font_size * 1.7f)); }

int entry_width(const LegendEntry& entry, const LegendStyle& style) {
  return kSample + kGap + static_cast<int>(std::ceil(measure_text(entry.label, style.font_size).width));
}

// Rows: the entries of each row, in order.
std::vector<std::vector<size_t>> rows_of(const std::vector<LegendEntry>& entries, const LegendStyle& style) {
  std::vector<std::vector<size_t>> rows;
  int used = 0;
  for (size_t e = 0; e < entries.size(); ++e) {
    const int w = entry_width(entries[e], style);
    const bool fits = rows.empty() ? false : style.max_width <= 0 || used + kEntryGap + w <= style.max_width;
    if (style.flow == LegendFlow::rows && fits) {
      rows.back().push_back(e);
      used += kEntryGap + w;
    } else {
      rows.push_back({e});
      used = w;
    }
  }
  return rows;
}

int row_width(const std::vector<LegendEntry>& entries, const std::vector<size_t>& row, const LegendStyle& style) {
  int width = 0;
  for (size_t k = 0; k < row.size(); ++k) width += (k ? kEntryGap : 0) + entry_width(entries[row[k]], style);
  return width;
}

void draw_entry(Figure& figure, float x, float centre_y, const LegendEntry& entry, const LegendStyle& style) {
  figure.draw_line(PointF{x, centre_y}, PointF{x + kSample, centre_y}, entry.color, entry.line_width, entry.dash);
  if (entry.marker) figure.fill_circle(PointF{x + kSample / 2.0f, centre_y}, entry.line_width + 1.5f, entry.color);
  figure.draw_text(x + kSample + kGap, centre_y, entry.label, TextStyle{style.font_size, kLabel, HAlign::left, VAlign::center});
}

}  // namespace

LegendSize legend_size(const std::vector<LegendEntry>& entries, const LegendStyle& style) {
  if (entries.empty()) return {};
  const auto rows = rows_of(entries, style);
  int width = 0;
  for (const auto& row : rows) width = std::max(width, row_width(entries, row, style));
  const int height = row_height(style) * static_cast<int>(rows.size());
  if (style.flow == LegendFlow::rows) return LegendSize{width, height};
  return LegendSize{width + 2 * kInner, height + 2 * kInner - 4};
}

void draw_legend(Figure& figure, int x, int y, const std::vector<LegendEntry>& entries, const LegendStyle& style) {
  if (entries.empty()) return;
  const LegendSize size = legend_size(entries, style);
  const auto rows = rows_of(entries, style);
  const int inner = style.flow == LegendFlow::column ? kInner : 0;
  if (style.flow == LegendFlow::column) {
    const Rect box{x, y, size.width, size.height};
    figure.fill_rect(box, kWhite, 0.88f);
    figure.frame_rect(Rect{box.x + 1, box.y + 1, box.width - 2, box.height - 2}, Rgb{200, 200, 200});
  }
  const float top = static_cast<float>(y + inner - (inner ? 2 : 0));
  for (size_t r = 0; r < rows.size(); ++r) {
    const float centre_y = top + (static_cast<float>(r) + 0.5f) * static_cast<float>(row_height(style));
    // Rows are centred in the legend's width.
    float at = static_cast<float>(x + inner) +
               (style.flow == LegendFlow::rows ? static_cast<float>(size.width - row_width(entries, rows[r], style)) / 2.0f : 0.0f);
    for (size_t e : rows[r]) {
      draw_entry(figure, at, centre_y, entries[e], style);
      at += static_cast<float>(entry_width(entries[e], style) + kEntryGap);
    }
  }
}

}  // namespace convlab
