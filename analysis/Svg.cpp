#include "analysis/Svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>
#include <tuple>

#include "analysis/Table.h"

namespace guidance::analysis {

namespace {

// Matplotlib's tab10, so curves look like the ones researchers already know.
const char* const kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

// Viridis sampled at 0, 0.1, ..., 1 (interpolated linearly in between).
const unsigned kViridis[] = {0x440154, 0x482475, 0x414487, 0x355f8d, 0x2a788e, 0x21918c,
                             0x22a884, 0x44bf70, 0x7ad151, 0xbddf26, 0xfde725};

// ColorBrewer's RdBu sampled at 0, 0.1, ..., 1, reversed so negatives are blue.
const unsigned kDiverging[] = {0x053061, 0x2166ac, 0x4393c3, 0x92c5de, 0xd1e5f0, 0xf7f7f7,
                               0xfddbc7, 0xf4a582, 0xd6604d, 0xb2182b, 0x67001f};

// The colour of t in [0, 1] on a scale of 11 evenly spaced stops, as "#rrggbb".
std::string interpolate(const unsigned (&stops)[11], double t) {
  t = std::isnan(t) ? 0.0 : std::clamp(t, 0.0, 1.0);
  double position = t * 10.0;
  int index = std::min(static_cast<int>(position), 9);
  double fraction = position - index;
  char colour[8];
  unsigned channels[3];
  for (int c = 0; c < 3; ++c) {
    int shift = 16 - 8 * c;
    double from = (stops[index] >> shift) & 0xff;
    double to = (stops[index + 1] >> shift) & 0xff;
    channels[c] = static_cast<unsigned>(std::lround(from + (to - from) * fraction));
  }
  std::snprintf(colour, sizeof(colour), "#%02x%02x%02x", channels[0], channels[1], channels[2]);
  return colour;
}

constexpr double kCharWidth = 6.6;  // average width of a 11px sans-serif character

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f", value);
  return text;
}

std::string tick_label(double value, double spacing) {
  char text[32];
  if (value != 0.0 && (std::abs(value) >= 1e5 || std::abs(value) < 1e-3)) {
    std::snprintf(text, sizeof(text), "%.2g", value);
  } else {
    int decimals = spacing >= 1.0 ? 0 : static_cast<int>(std::ceil(-std::log10(spacing)));
    std::snprintf(text, sizeof(text), "%.*f", std::clamp(decimals, 0, 6), value);
  }
  return text;
}

std::string open_svg(double width, double height) {
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << number(width) << "\" height=\""
      << number(height) << "\" viewBox=\"0 0 " << number(width) << " " << number(height)
      << "\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"11\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  return svg.str();
}

std::string text(double x, double y, const std::string& content, const std::string& extra = "") {
  return "<text x=\"" + number(x) + "\" y=\"" + number(y) + "\" " + extra + ">" +
         escape_xml(content) + "</text>\n";
}

std::string line(double x1, double y1, double x2, double y2, const std::string& stroke) {
  return "<line x1=\"" + number(x1) + "\" y1=\"" + number(y1) + "\" x2=\"" + number(x2) +
         "\" y2=\"" + number(y2) + "\" stroke=\"" + stroke + "\"/>\n";
}

double longest(const std::vector<std::string>& labels) {
  size_t length = 0;
  for (const auto& label : labels) length = std::max(length, label.size());
  return static_cast<double>(length) * kCharWidth;
}

// How groups after tab10's first ten are told apart: the same colours dashed, dotted, dash-dotted.
const char* const kDashes[] = {"", "6 3", "1.5 2.5", "8 3 2 3"};

// One legend entry: a group of series and how its lines look.
struct LegendEntry {
  std::string name;
  std::string colour;
  std::string dash;  ///< stroke-dasharray, "" for a solid line
  bool band = false;
};

std::string stroke_style(const LegendEntry& entry, double width) {
  return "stroke=\"" + entry.colour + "\" stroke-width=\"" + number(width) + "\"" +
         (entry.dash.empty() ? "" : " stroke-dasharray=\"" + entry.dash + "\"");
}

// @return `label` cut to `most` characters (UTF-8 code points) ending in "…"; itself if it fits.
std::string cut(const std::string& label, size_t most) {
  if (text_width(label) <= most) return label;
  std::string shown;
  size_t characters = 0;
  for (char c : label) {
    bool starts_character = (static_cast<unsigned char>(c) & 0xc0) != 0x80;
    if (starts_character && ++characters > most - 1) break;
    shown += c;
  }
  return shown + "…";
}

}  // namespace

std::string escape_xml(const std::string& text) {
  std::string escaped;
  for (char c : text) {
    switch (c) {
      case '&': escaped += "&amp;"; break;
      case '<': escaped += "&lt;"; break;
      case '>': escaped += "&gt;"; break;
      case '"': escaped += "&quot;"; break;
      case '\'': escaped += "&#39;"; break;
      default: escaped += c;
    }
  }
  return escaped;
}

std::vector<double> nice_ticks(double low, double high, int count) {
  if (!(high > low)) return {low};
  double raw = (high - low) / std::max(count, 1);
  double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double factor = 1.0;
  for (double candidate : {2.0, 5.0, 10.0}) {
    if (std::abs(candidate * magnitude - raw) < std::abs(factor * magnitude - raw)) {
      factor = candidate;
    }
  }
  double spacing = factor * magnitude;
  // Whole multiples of factor divided by a power of ten, so 0.6 is 0.6 and not 0.6000000001.
  double scale = magnitude < 1.0 ? std::round(1.0 / magnitude) : 1.0;
  double unit = magnitude < 1.0 ? 1.0 : magnitude;
  std::vector<double> ticks;
  for (auto k = static_cast<long long>(std::ceil(low / spacing - 1e-9));
       static_cast<double>(k) * spacing <= high + spacing * 1e-9; ++k) {
    ticks.push_back(static_cast<double>(k) * factor * unit / scale);
  }
  return ticks;
}

std::string viridis(double t) { return interpolate(kViridis, t); }

std::string diverging(double t) { return interpolate(kDiverging, t); }

std::string render_svg(const LineChart& chart) {
  double x_low = std::numeric_limits<double>::infinity(), x_high = -x_low;
  double y_low = x_low, y_high = -x_low;
  auto widen = [&](const std::vector<double>& xs, const std::vector<double>& ys) {
    for (size_t i = 0; i < xs.size() && i < ys.size(); ++i) {
      if (!std::isfinite(xs[i]) || !std::isfinite(ys[i])) continue;
      x_low = std::min(x_low, xs[i]);
      x_high = std::max(x_high, xs[i]);
      y_low = std::min(y_low, ys[i]);
      y_high = std::max(y_high, ys[i]);
    }
  };
  std::vector<LegendEntry> legend;
  std::vector<size_t> entry_of;
  for (const auto& series : chart.series) {
    widen(series.x, series.y);
    widen(series.x, series.low);
    widen(series.x, series.high);
    auto same = std::find_if(legend.begin(), legend.end(), [&](const LegendEntry& entry) {
      return !series.group.empty() && entry.name == series.group;
    });
    if (same == legend.end()) {
      size_t index = legend.size();
      legend.push_back({series.group.empty() ? series.name : series.group,
                        kPalette[index % std::size(kPalette)],
                        kDashes[(index / std::size(kPalette)) % std::size(kDashes)], false});
      same = legend.end() - 1;
    }
    same->band = same->band || !series.low.empty();
    entry_of.push_back(static_cast<size_t>(same - legend.begin()));
  }
  bool empty = !std::isfinite(x_low);
  if (empty) x_low = 0, x_high = 1, y_low = 0, y_high = 1;
  if (std::isfinite(chart.x_low) && std::isfinite(chart.x_high)) {
    x_low = chart.x_low;
    x_high = chart.x_high;
  }
  if (x_high == x_low) x_low -= 0.5, x_high += 0.5;
  if (y_high == y_low) y_low -= 0.5, y_high += 0.5;
  double pad = 0.05 * (y_high - y_low);
  y_low -= pad;
  y_high += pad;

  const double plot_width = 520, plot_height = 300;
  const double left = 70, top = 40, entry_height = 18;
  // Wide enough beside the plot for a study's run names ("<study>/<axis>=<value>,..."); a legend
  // taller than the plot goes below it, in columns across the whole picture, at least two so that
  // one long label does not make it one long column.
  const double widest_beside = 440, full_width = left + plot_width + 20 + widest_beside;
  double label_width = 0;
  for (const auto& entry : legend) {
    label_width = std::max(label_width, static_cast<double>(text_width(entry.name)) * kCharWidth);
  }
  const bool beside = static_cast<double>(legend.size()) * entry_height <= plot_height;
  const double column_width =
      std::min(beside ? widest_beside : (full_width - 20) / 2, label_width + 40);
  const double width = beside ? left + plot_width + 20 + column_width : full_width;
  const size_t columns = beside ? 1 : static_cast<size_t>((width - 20) / column_width);
  const size_t legend_rows = (legend.size() + columns - 1) / columns;
  const double legend_x = beside ? left + plot_width + 20 : 20;
  const double legend_y = beside ? top + 10 : top + plot_height + 70;
  const double height =
      beside ? top + plot_height + 55 : legend_y + static_cast<double>(legend_rows) * entry_height;
  const auto most_characters = static_cast<size_t>(std::max(4.0, (column_width - 34) / kCharWidth));
  auto px = [&](double x) { return left + (x - x_low) / (x_high - x_low) * plot_width; };
  auto py = [&](double y) { return top + (y_high - y) / (y_high - y_low) * plot_height; };

  std::ostringstream svg;
  svg << open_svg(width, height);
  svg << text(left + plot_width / 2, 22, chart.title,
              "text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\"");
  std::vector<double> x_ticks = nice_ticks(x_low, x_high, 6);
  std::vector<double> y_ticks = nice_ticks(y_low, y_high, 6);
  double x_spacing = x_ticks.size() > 1 ? x_ticks[1] - x_ticks[0] : 1.0;
  double y_spacing = y_ticks.size() > 1 ? y_ticks[1] - y_ticks[0] : 1.0;
  for (double tick : x_ticks) {
    svg << line(px(tick), top, px(tick), top + plot_height, "#eeeeee");
    svg << line(px(tick), top + plot_height, px(tick), top + plot_height + 5, "black");
    svg << text(px(tick), top + plot_height + 18, tick_label(tick, x_spacing),
                "text-anchor=\"middle\"");
  }
  for (double tick : y_ticks) {
    svg << line(left, py(tick), left + plot_width, py(tick), "#eeeeee");
    svg << line(left - 5, py(tick), left, py(tick), "black");
    svg << text(left - 8, py(tick) + 4, tick_label(tick, y_spacing), "text-anchor=\"end\"");
  }
  svg << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << plot_width
      << "\" height=\"" << plot_height << "\" fill=\"none\" stroke=\"black\"/>\n";
  svg << text(left + plot_width / 2, top + plot_height + 45, chart.x_label,
              "text-anchor=\"middle\"");
  svg << text(16, top + plot_height / 2, chart.y_label,
              "text-anchor=\"middle\" transform=\"rotate(-90 16 " +
                  number(top + plot_height / 2) + ")\"");
  if (empty) {
    svg << text(left + plot_width / 2, top + plot_height / 2, "no data",
                "text-anchor=\"middle\" fill=\"#888888\"");
  }

  // Bands first, so that every line is drawn over them; a band breaks where a bound is missing.
  for (size_t s = 0; s < chart.series.size(); ++s) {
    const Series& series = chart.series[s];
    const size_t points = std::min({series.x.size(), series.low.size(), series.high.size()});
    for (size_t begin = 0; begin < points;) {
      auto usable = [&](size_t i) {
        return std::isfinite(series.x[i]) && std::isfinite(series.low[i]) &&
               std::isfinite(series.high[i]);
      };
      if (!usable(begin)) {
        ++begin;
        continue;
      }
      size_t end = begin;
      while (end < points && usable(end)) ++end;
      std::string path;
      for (size_t i = begin; i < end; ++i)
        path += (i == begin ? "M" : " L") + number(px(series.x[i])) + " " +
                number(py(series.high[i]));
      for (size_t i = end; i-- > begin;)
        path += " L" + number(px(series.x[i])) + " " + number(py(series.low[i]));
      svg << "<path class=\"band\" d=\"" << path << " Z\" fill=\"" << legend[entry_of[s]].colour
          << "\" fill-opacity=\"0.18\" stroke=\"none\"/>\n";
      begin = end;
    }
  }
  for (size_t s = 0; s < chart.series.size(); ++s) {
    const Series& series = chart.series[s];
    const LegendEntry& look = legend[entry_of[s]];
    std::string path;
    bool pen_down = false;
    size_t points = 0;
    for (size_t i = 0; i < series.x.size() && i < series.y.size(); ++i) {
      if (!std::isfinite(series.x[i]) || !std::isfinite(series.y[i])) {
        pen_down = false;
        continue;
      }
      path += (pen_down ? " L" : " M") + number(px(series.x[i])) + " " + number(py(series.y[i]));
      pen_down = true;
      ++points;
    }
    if (!path.empty()) {
      svg << "<path d=\"" << path << "\" fill=\"none\" " << stroke_style(look, series.width)
          << "><title>" << escape_xml(series.name) << "</title></path>\n";
    }
    // A series of one point has no line to see.
    if (points == 1) {
      for (size_t i = 0; i < series.x.size(); ++i) {
        if (!std::isfinite(series.x[i]) || !std::isfinite(series.y[i])) continue;
        svg << "<circle cx=\"" << number(px(series.x[i])) << "\" cy=\"" << number(py(series.y[i]))
            << "\" r=\"3\" fill=\"" << look.colour << "\"/>\n";
      }
    }
  }
  for (size_t e = 0; e < legend.size(); ++e) {
    const LegendEntry& entry = legend[e];
    double x = legend_x + column_width * static_cast<double>(e % columns);
    double y = legend_y + entry_height * static_cast<double>(e / columns);
    if (entry.band) {
      svg << "<rect x=\"" << number(x) << "\" y=\"" << number(y - 5) << "\" width=\"22\" "
          << "height=\"10\" fill=\"" << entry.colour << "\" fill-opacity=\"0.18\"/>\n";
    }
    svg << "<line x1=\"" << number(x) << "\" y1=\"" << number(y) << "\" x2=\"" << number(x + 22)
        << "\" y2=\"" << number(y) << "\" " << stroke_style(entry, 2.5) << "/>\n";
    std::string shown = cut(entry.name, most_characters);
    if (shown == entry.name) {
      svg << text(x + 28, y + 4, entry.name);
    } else {
      svg << "<text x=\"" << number(x + 28) << "\" y=\"" << number(y + 4) << "\"><title>"
          << escape_xml(entry.name) << "</title>" << escape_xml(shown) << "</text>\n";
    }
  }
  svg << "</svg>\n";
  return svg.str();
}

std::string render_svg(const Heatmap& heatmap) {
  const size_t rows = heatmap.row_labels.size(), columns = heatmap.column_labels.size();
  // At least 36 px a cell, so a value such as "-0.93" fits in it at 10 px; cells with texts
  // grow to their widest line (about 6 px a character at 10 px) and their number of lines.
  const double cell = std::clamp(560.0 / static_cast<double>(std::max<size_t>({rows, columns, 1})),
                                 36.0, 56.0);
  constexpr double kLineHeight = 12;
  std::vector<std::vector<std::string>> lines;
  size_t most_lines = 1, widest = 0;
  for (const auto& text_of_cell : heatmap.texts) {
    lines.emplace_back();
    std::stringstream parts(text_of_cell);
    for (std::string part; std::getline(parts, part, '\n');) {
      lines.back().push_back(part);
      widest = std::max(widest, text_width(part));
    }
    most_lines = std::max(most_lines, lines.back().size());
  }
  const double cell_width = std::max(cell, static_cast<double>(widest) * 6.0 + 10);
  const double cell_height =
      std::max(cell, static_cast<double>(most_lines) * kLineHeight + 12);
  const double left = 40 + longest(heatmap.row_labels);
  const double top = 50;
  const double grid_width = cell_width * static_cast<double>(columns);
  const double grid_height = cell_height * static_cast<double>(rows);
  // Column labels are drawn at -45°, so they need about 0.71 × their length below the grid.
  const double axis_bottom = 45 + 0.71 * longest(heatmap.column_labels);
  std::string legend = heatmap.outlined.empty() ? "" : "outlined: " + heatmap.outline_label;
  const double notes = (legend.empty() ? 0 : 18) + (heatmap.note.empty() ? 0 : 18);
  const double bar_x = left + grid_width + 30, bar_width = 16;
  const double bar_height = std::max(grid_height, 120.0);
  // Bold 14px titles take about 8px a character; the title is centred on the whole picture.
  const double width = std::max({bar_x + bar_width + 80,
                                 static_cast<double>(heatmap.title.size()) * 8.0 + 40,
                                 longest({legend, heatmap.note}) + 40});
  const double height = top + std::max(grid_height, bar_height) + axis_bottom + notes;
  const double range = heatmap.high > heatmap.low ? heatmap.high - heatmap.low : 1.0;
  const bool signed_scale = heatmap.low < 0.0 && heatmap.high > 0.0;
  // Where a value sits on the scale: a signed scale puts 0 in the middle whatever the range.
  auto position = [&](double value) {
    if (!signed_scale) return (value - heatmap.low) / range;
    return value < 0.0 ? 0.5 * (value - heatmap.low) / -heatmap.low : 0.5 + 0.5 * value / heatmap.high;
  };
  auto colour = [&](double t) { return signed_scale ? diverging(t) : viridis(t); };
  auto dark = [&](double t) { return signed_scale ? std::abs(t - 0.5) > 0.3 : t < 0.55; };

  std::ostringstream svg;
  svg << open_svg(width, height);
  svg << text(width / 2, 24, heatmap.title,
              "text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\"");
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < columns; ++c) {
      double value = heatmap.values.at(r * columns + c);
      double t = position(value);
      double x = left + cell_width * static_cast<double>(c);
      double y = top + cell_height * static_cast<double>(r);
      std::vector<std::string> shown;
      if (!lines.empty()) {
        shown = lines.at(r * columns + c);
      } else if (!std::isnan(value)) {
        shown = {number(value)};
      }
      std::string tooltip = std::isnan(value) ? "no value" : number(value);
      if (!lines.empty()) tooltip = heatmap.texts[r * columns + c];
      std::replace(tooltip.begin(), tooltip.end(), '\n', ' ');
      svg << "<rect x=\"" << number(x) << "\" y=\"" << number(y) << "\" width=\""
          << number(cell_width) << "\" height=\"" << number(cell_height) << "\" fill=\""
          << (std::isnan(value) ? std::string("#cccccc") : colour(t)) << "\"><title>"
          << escape_xml(heatmap.row_labels[r] + " × " + heatmap.column_labels[c] + ": " + tooltip)
          << "</title></rect>\n";
      double first_line =
          y + cell_height / 2 + 4 - kLineHeight * static_cast<double>(shown.size() - 1) / 2;
      for (size_t l = 0; l < shown.size(); ++l) {
        svg << text(x + cell_width / 2, first_line + kLineHeight * static_cast<double>(l), shown[l],
                    std::string("text-anchor=\"middle\" font-size=\"10\" fill=\"") +
                        (!std::isnan(value) && dark(t) ? "white" : "black") + "\"");
      }
    }
  }
  // A black outline inside a white one shows on dark and on light cells alike.
  for (const auto& [r, c] : heatmap.outlined) {
    double x = left + cell_width * static_cast<double>(c);
    double y = top + cell_height * static_cast<double>(r);
    for (const auto& [inset, stroke, thickness] :
         {std::tuple{1.5, "white", 3.0}, std::tuple{3.5, "black", 1.5}}) {
      svg << "<rect class=\"outline\" x=\"" << number(x + inset) << "\" y=\"" << number(y + inset)
          << "\" width=\"" << number(cell_width - 2 * inset) << "\" height=\""
          << number(cell_height - 2 * inset)
          << "\" fill=\"none\" stroke=\"" << stroke << "\" stroke-width=\"" << number(thickness)
          << "\"/>\n";
    }
  }
  for (size_t r = 0; r < rows; ++r) {
    svg << text(left - 6, top + cell_height * (static_cast<double>(r) + 0.5) + 4,
                heatmap.row_labels[r],
                "text-anchor=\"end\"");
  }
  for (size_t c = 0; c < columns; ++c) {
    double x = left + cell_width * (static_cast<double>(c) + 0.5), y = top + grid_height + 10;
    svg << text(x, y, heatmap.column_labels[c],
                "text-anchor=\"end\" transform=\"rotate(-45 " + number(x) + " " + number(y) +
                    ")\"");
  }
  const double axis_title_y = top + std::max(grid_height, bar_height) + axis_bottom - 10;
  svg << text(left + grid_width / 2, axis_title_y, heatmap.column_title,
              "text-anchor=\"middle\" font-weight=\"bold\"");
  svg << text(14, top + grid_height / 2, heatmap.row_title,
              "text-anchor=\"middle\" font-weight=\"bold\" transform=\"rotate(-90 14 " +
                  number(top + grid_height / 2) + ")\"");
  double note_y = axis_title_y;
  for (const std::string& line : {legend, heatmap.note}) {
    if (line.empty()) continue;
    note_y += 18;
    svg << text(20, note_y, line, "fill=\"#444444\"");
  }

  svg << "<defs><linearGradient id=\"scale\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">";
  for (int stop = 0; stop <= 10; ++stop) {
    svg << "<stop offset=\"" << stop * 10 << "%\" stop-color=\"" << colour(stop / 10.0) << "\"/>";
  }
  svg << "</linearGradient></defs>\n";
  svg << "<rect x=\"" << number(bar_x) << "\" y=\"" << top << "\" width=\"" << bar_width
      << "\" height=\"" << number(bar_height) << "\" fill=\"url(#scale)\" stroke=\"black\"/>\n";
  std::vector<double> ticks = nice_ticks(heatmap.low, heatmap.high, 5);
  double spacing = ticks.size() > 1 ? ticks[1] - ticks[0] : 1.0;
  for (double tick : ticks) {
    double y = top + bar_height * (1.0 - position(tick));
    svg << line(bar_x + bar_width, y, bar_x + bar_width + 4, y, "black");
    svg << text(bar_x + bar_width + 7, y + 4, tick_label(tick, spacing));
  }
  double label_x = bar_x + bar_width + 52, label_y = top + bar_height / 2;
  svg << text(label_x, label_y, heatmap.scale_label,
              "text-anchor=\"middle\" transform=\"rotate(-90 " + number(label_x) + " " +
                  number(label_y) + ")\"");
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace guidance::analysis
