// Colours for data: a continuous map for values (heatmaps, colour bars) and a categorical
// palette for the series of a line plot.
#pragma once

#include <cstddef>
#include <vector>

#include "framework/plot/color.h"

namespace convlab {

// matplotlib's viridis: dark purple at 0, through blue and green, to yellow at 1. Perceptually
// uniform and readable in grey and by most colour-blind readers. t is clamped to [0, 1]; NaN
// gives mid grey.
Rgb viridis(float t);
// The colours viridis interpolates linearly between, evenly spaced from t = 0 to t = 1: a
// gradient through them is the same map (colour bars).
const std::vector<Rgb>& viridis_stops();

// The colour of the index-th series: ten distinct colours, blue and orange first, then cycling.
Rgb series_color(size_t index);

}  // namespace convlab
