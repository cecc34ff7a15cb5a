#pragma once

#include <cstddef>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace guidance::analysis {

/// One named line of a chart; points with a NaN y are skipped (the line breaks there).
struct Series {
  std::string name;  ///< its legend entry, and the tooltip of its line
  std::vector<double> x;
  std::vector<double> y;
  /// A shaded band around the line, e.g. mean ± std over seeds: from low[i] to high[i] at x[i]
  /// (empty: no band; NaN: none at that point).
  std::vector<double> low;
  std::vector<double> high;
  /// Series of one group share a colour and one legend entry, the group's name (e.g. the runs of
  /// one cell); empty: the series is a group of its own.
  std::string group;
  double width = 1.8;  ///< the line's stroke width in px
};

/// A line chart: axes with ticks and titles, one coloured line per series, and a legend. Groups
/// take the ten colours of matplotlib's tab10 in order, then the same colours dashed, dotted,
/// dash-dotted. The legend sits right of the plot while its entries fit the plot's height, else
/// below it in as many columns as fit (at least two); an entry too long for its column is cut
/// with "…" (its full text is the tooltip).
struct LineChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<Series> series;
  /// The x axis's range, so charts of one report share it (e.g. every step of a run); NaN: the
  /// series' own range.
  double x_low = std::numeric_limits<double>::quiet_NaN();
  double x_high = std::numeric_limits<double>::quiet_NaN();
};

/// A layer × layer heatmap: rows top to bottom, columns left to right, one cell per value
/// (printed in it, or the cell's text), with labelled axes and a colour bar. Cells are at least
/// 36 px, and wide and tall enough for their text, so values stay readable at full size. A scale
/// over a signed range (low < 0 < high) diverges around 0 (blue below, white at 0, red above);
/// any other is viridis.
struct Heatmap {
  std::string title;
  std::string row_title;     ///< e.g. "guide taps"
  std::string column_title;  ///< e.g. "target taps"
  std::vector<std::string> row_labels;
  std::vector<std::string> column_labels;
  std::vector<double> values;  ///< row-major [rows, columns]; NaN cells are drawn grey
  /// Row-major text printed in each cell instead of its value, one line per '\n'-separated part
  /// (e.g. a mean, its interval and n); empty: the values, two decimals.
  std::vector<std::string> texts;
  double low = 0.0;            ///< value mapped to the first colour of the scale
  double high = 1.0;           ///< value mapped to the last colour of the scale
  std::string scale_label;     ///< e.g. "linear-cka similarity"
  /// (row, column) of cells drawn with a thick outline, e.g. the guided layer pairs.
  std::vector<std::pair<size_t, size_t>> outlined;
  std::string outline_label;  ///< what an outline means, e.g. "guided pair"
  std::string note;           ///< a line under the picture, e.g. where the scale comes from
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

/// @return the diverging (ColorBrewer RdBu, blue to red) colour of t in [0, 1] as "#rrggbb":
/// white at 0.5 (t is clamped).
std::string diverging(double t);

}  // namespace guidance::analysis
