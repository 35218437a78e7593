// Two line plots side by side under a title, with one legend for both below them: the layout
// of the learning-curve figures (one run's train and test curves, or several runs' test
// curves), so that both panels keep the same size and the legend names each curve once.
#pragma once

#include <string>
#include <vector>

#include "framework/plot/figure.h"
#include "framework/plot/legend.h"
#include "framework/plot/line_plot.h"

namespace convlab {

// `title` (wrapped to the figure's width; empty: none) over `left` and `right` in panels of
// 640 x 460, each drawn without a legend of its own, and `legend` flowing in rows under them,
// centred, as many rows as its entries need. The figure's height follows from the title and
// the legend.
Figure side_by_side_figure(const std::string& title, LinePlot left, LinePlot right,
                           const std::vector<LegendEntry>& legend);

}  // namespace convlab
