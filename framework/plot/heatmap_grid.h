// Several heatmaps side by side, e.g. the CKA between two networks at a series of training
// checkpoints: panels in a grid, each titled ("epoch 25"), one shared colour bar and an
// overall title, so that the panels are compared on one colour scale.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "framework/plot/figure.h"
#include "framework/plot/heatmap.h"

namespace convlab {

// The panels fill the grid row by row, columns panels to a row. All panels must share one
// colour range (vmin, vmax); the colour bar takes its label from the first panel, and each
// panel's own colorbar setting is ignored.
Figure heatmap_grid_figure(const std::vector<HeatmapSpec>& panels, int columns, const std::string& title);

// The same, written to file in the format its extension names (.png, .pdf, .svg).
void plot_heatmap_grid(const std::vector<HeatmapSpec>& panels, int columns, const std::string& title,
                       const std::filesystem::path& file);

// The same, as stem.png, stem.pdf, ... for each of formats; returns the paths.
std::vector<std::filesystem::path> save_heatmap_grid(const std::vector<HeatmapSpec>& panels, int columns,
                                                     const std::string& title, const std::filesystem::path& stem,
                                                     const FigureFormats& formats = {FigureFormat::png});

}  // namespace convlab
