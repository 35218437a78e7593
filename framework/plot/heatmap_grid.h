// Several heatmaps side by side, e.g. the CKA between two networks at a series of training
// checkpoints: panels in a grid, each titled ("epoch 25"), one shared colour bar and an
// overall title, so that the panels are compared on one colour scale.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "framework/plot/canvas.h"
#include "framework/plot/heatmap.h"

namespace convlab {

// The panels fill the grid row by row, columns panels to a row. All panels must share one
// colour range (vmin, vmax); the colour bar takes its label from the first panel, and each
// panel's own colorbar setting is ignored.
Canvas heatmap_grid_canvas(const std::vector<HeatmapSpec>& panels, int columns, const std::string& title);

// The same, written to png.
void plot_heatmap_grid(const std::vector<HeatmapSpec>& panels, int columns, const std::string& title,
                       const std::filesystem::path& png);

}  // namespace convlab
