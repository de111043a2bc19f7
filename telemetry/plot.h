// SVG line plots without any library: the trainer draws its metric curves (reward, loss, KL, lengths
// against step) into one self-contained .svg that any browser opens, so a run can be inspected without
// TensorBoard or Python. Panels are stacked vertically; each has axes spanning its data's range exactly,
// ~5 "nice" ticks (1, 2, 2.5, 5 x 10^k) with gridlines, one polyline per series in distinct colours and a
// legend when it holds more than one series. NaN/inf points are skipped and leave a gap; a panel without
// finite points says "no data"; all text is XML-escaped.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace r1::telemetry {

// One curve. An empty x means x = 0, 1, 2, ...; otherwise x and y must have the same length.
struct Series {
  std::string name;
  std::vector<double> x, y;
};

struct Panel {
  std::string title, y_label;
  std::vector<Series> series;
};

// Pixel geometry of a plot; the defaults suit a browser window. Tests use plot_area() to check
// where points land.
struct PlotLayout {
  struct Rect {
    double x, y, width, height;
  };
  double width = 760;
  double panel_height = 250;
  double title_height = 36;   // above the first panel, for the plot's title
  double margin_left = 72;    // y tick labels and y label
  double margin_right = 20;
  double margin_top = 30;     // the panel's title
  double margin_bottom = 46;  // x tick labels and x label

  // The data area of panel `index` (0 = top): x min maps to its left edge, y max to its top edge.
  Rect plot_area(size_t index) const;
  double height(size_t panels) const;
};

// "Nice" tick values inside [lo, hi]: multiples of a step from {1, 2, 2.5, 5} x 10^k, the step chosen
// so that the count is closest to `target` (ties: fewer ticks). [0, 0.87] gives 0, 0.2, 0.4, 0.6, 0.8.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);

// A tick label: the decimals the step needs, the same for every tick of an axis ("0.0", "0.25", "100";
// "2.5e-05" for extreme magnitudes).
std::string format_tick(double value, double step);

// The whole SVG document. Throws r1::Error when a series has x and y of different lengths.
std::string svg_plot(const std::vector<Panel>& panels, const std::string& title, const std::string& x_label,
                     const PlotLayout& layout = {});

// svg_plot written to `path` atomically (a temporary file beside it, then rename), so a viewer never
// sees half a plot. Throws r1::Error naming the path on failure.
void write_svg_plot(const std::string& path, const std::vector<Panel>& panels, const std::string& title,
                    const std::string& x_label, const PlotLayout& layout = {});

}  // namespace r1::telemetry
