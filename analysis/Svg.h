#pragma once

#include <string>
#include <vector>

namespace guidance::analysis {

/// One named line of a chart; points with a NaN y are skipped (the line breaks there).
struct Series {
  std::string name;
  std::vector<double> x;
  std::vector<double> y;
};

/// A line chart: axes with ticks and titles, one coloured line per series, and a legend.
struct LineChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<Series> series;
};

/// A layer × layer heatmap: rows top to bottom, columns left to right, one cell per value,
/// with labelled axes and a colour bar.
struct Heatmap {
  std::string title;
  std::string row_title;     ///< e.g. "guide taps"
  std::string column_title;  ///< e.g. "target taps"
  std::vector<std::string> row_labels;
  std::vector<std::string> column_labels;
  std::vector<double> values;  ///< row-major [rows, columns]; NaN cells are drawn grey
  double low = 0.0;            ///< value mapped to the first colour of the scale
  double high = 1.0;           ///< value mapped to the last colour of the scale
  std::string scale_label;     ///< e.g. "linear-cka similarity"
};

/// @return a standalone SVG document drawing the chart.
std::string render_svg(const LineChart& chart);

/// @return a standalone SVG document drawing the heatmap (values printed in cells when they fit).
std::string render_svg(const Heatmap& heatmap);

/// @return `text` with &, <, >, " and ' escaped for XML and HTML.
std::string escape_xml(const std::string& text);

/// @return "nice" tick values (steps of 1, 2 or 5 × 10^k) covering [low, high], about `count`.
std::vector<double> nice_ticks(double low, double high, int count);

/// @return the viridis colour of t in [0, 1] as "#rrggbb" (t is clamped).
std::string viridis(double t);

}  // namespace guidance::analysis
