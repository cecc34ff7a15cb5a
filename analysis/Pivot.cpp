#include "analysis/Pivot.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <utility>

#include "analysis/Baselines.h"
#include "analysis/Cells.h"
#include "analysis/Statistics.h"
#include "analysis/SummaryText.h"
#include "host/common/Errors.h"
#include "host/common/Suggest.h"

namespace guidance::analysis {

namespace {

// What a pivot's cells hold, in a line.
std::string pivot_legend(const Pivot& pivot) {
  return pivot.delta ? "Each cell: Δ to its baseline cell with a 95 % Welch CI, and n, its "
                       "finished runs; a baseline cell shows its mean ± std"
                     : "Each cell: mean ± sample std over its n finished runs";
}

}  // namespace

Pivot pivot_study(const Study& study, const std::string& rows, const std::string& columns,
                  const std::string& measure) {
  auto axis_index = [&](const std::string& axis, const char* option) {
    auto found = std::find(study.axes.begin(), study.axes.end(), axis);
    if (found == study.axes.end()) {
      throw UsageError(std::string(option) + ": '" + axis + "' is not an axis of the study" +
                       did_you_mean(axis, study.axes) + "; its axes are " +
                       (study.axes.empty() ? std::string("none") : quoted_list(study.axes)));
    }
    return static_cast<size_t>(found - study.axes.begin());
  };
  size_t row_axis = axis_index(rows, "--rows");
  size_t column_axis = axis_index(columns, "--cols");
  if (row_axis == column_axis)
    throw UsageError("--rows and --cols name the same axis '" + rows + "'");
  if (std::find(study.measures.begin(), study.measures.end(), measure) == study.measures.end()) {
    throw UsageError("--measure: the study has no measure '" + measure + "'" +
                     did_you_mean(measure, study.measures) + "; its measures are " +
                     quoted_list(study.measures));
  }
  Pivot pivot;
  pivot.rows = rows;
  pivot.columns = columns;
  pivot.measure = measure;
  pivot.delta = !study.baseline.empty();
  // Positions are by shown value, so two TorchScript guides of different files are two rows.
  std::vector<std::string> row_values, column_values;
  auto position_of = [](std::vector<std::string>& values, const std::string& value) {
    auto found = std::find(values.begin(), values.end(), value);
    if (found != values.end()) return static_cast<size_t>(found - values.begin());
    values.push_back(value);
    return values.size() - 1;
  };
  std::vector<std::pair<size_t, size_t>> positions;
  for (const auto& cell : study.cells) {
    positions.emplace_back(position_of(row_values, shown_value(study, cell, row_axis)),
                           position_of(column_values, shown_value(study, cell, column_axis)));
  }
  const size_t width = column_values.size(), size = row_values.size() * width;
  std::vector<const StudyCell*> placed(size, nullptr);
  std::vector<double> values(size, kNaN);
  std::vector<std::string> texts(size), lines(size);
  std::vector<bool> baselines(size, false);
  for (size_t c = 0; c < study.cells.size(); ++c) {
    const StudyCell& cell = study.cells[c];
    const size_t at = positions[c].first * width + positions[c].second;
    if (placed[at] != nullptr) {
      std::vector<std::string> others;
      for (size_t a = 0; a < study.axes.size(); ++a) {
        if (a != row_axis && a != column_axis && placed[at]->settings[a] != cell.settings[a])
          others.push_back(study.axes[a]);
      }
      throw UsageError("summarize: other axes vary within " + rows + "=" +
                       row_values[positions[c].first] + ", " + columns + "=" +
                       column_values[positions[c].second] + " (" + join(others, ", ") +
                       "): summarize a directory where only the pivoted axes (and the seed) vary");
    }
    placed[at] = &cell;
    std::vector<double> own = study.values(cell, measure);
    const std::string n = "n=" + std::to_string(own.size());
    const std::string spread = own.empty() ? "no finished run" : mean_pm(own);
    const std::string short_spread = own.empty() ? "no finished run" : mean_pm(own, 3);
    if (!pivot.delta || !cell.baseline) {
      if (!pivot.delta) values[at] = mean(own);
      const std::string why = pivot.delta ? ", no baseline" : "";
      texts[at] = spread + " (" + n + why + ")";
      lines[at] = (own.size() < 2 ? short_spread : fixed(mean(own), 3) + "\n± " +
                                                       fixed(sample_std(own), 3)) +
                  (pivot.delta ? "\nno baseline" : "") + "\n" + n;
      continue;
    }
    WelchInterval interval = difference_to_baseline(study, cell, measure);
    values[at] = interval.difference;
    if (*cell.baseline == c) {
      baselines[at] = true;
      texts[at] = "(baseline) " + spread + " (" + n + ")";
      lines[at] = "baseline\n" + short_spread + "\n" + n;
    } else if (std::isnan(interval.low)) {
      texts[at] = signed_fixed(interval.difference) + " (" + n + ", no CI: n<2)";
      lines[at] = signed_fixed(interval.difference, 3) + "\nno CI\n" + n;
    } else {
      texts[at] = delta_text(interval) + " (" + n + ")";
      lines[at] = signed_fixed(interval.difference, 3) + "\n[" + signed_fixed(interval.low, 3) +
                  ", " + signed_fixed(interval.high, 3) + "]\n" + n;
    }
  }

  // A row or column is kept when one of its cells has a value or is a baseline; one that holds
  // only baselines of no value on the axis (`-`: the unguided runs) is named for what it is.
  auto keep = [&](bool by_row, size_t index, bool& only_baselines, bool& unguided) {
    bool kept = false;
    only_baselines = unguided = true;
    for (size_t other = 0; other < (by_row ? width : row_values.size()); ++other) {
      size_t at = by_row ? index * width + other : other * width + index;
      if (placed[at] == nullptr) continue;
      kept = kept || baselines[at] || !std::isnan(values[at]);
      only_baselines = only_baselines && baselines[at];
      unguided = unguided && ran_unguided(study.runs[placed[at]->runs.front()]);
    }
    return kept;
  };
  auto label = [&](const std::string& value, bool only_baselines, bool unguided) {
    if (value != kNoValue || !only_baselines) return value;
    return unguided ? std::string(kUnguidedBaseline) : std::string("baseline");
  };
  std::vector<size_t> kept_rows, kept_columns;
  for (size_t r = 0; r < row_values.size(); ++r) {
    bool only_baselines = false, unguided = false;
    if (keep(true, r, only_baselines, unguided)) {
      kept_rows.push_back(r);
      pivot.row_labels.push_back(label(row_values[r], only_baselines, unguided));
    } else {
      pivot.left_out.push_back(rows + "=" + row_values[r]);
    }
  }
  for (size_t c = 0; c < width; ++c) {
    bool only_baselines = false, unguided = false;
    if (keep(false, c, only_baselines, unguided)) {
      kept_columns.push_back(c);
      pivot.column_labels.push_back(label(column_values[c], only_baselines, unguided));
    } else {
      pivot.left_out.push_back(columns + "=" + column_values[c]);
    }
  }
  for (size_t r : kept_rows) {
    for (size_t c : kept_columns) {
      pivot.values.push_back(values[r * width + c]);
      pivot.cells.push_back(texts[r * width + c]);
      pivot.cell_lines.push_back(lines[r * width + c]);
    }
  }
  return pivot;
}

Heatmap pivot_heatmap(const Pivot& pivot) {
  Heatmap heatmap;
  heatmap.title =
      (pivot.delta ? "Δ " : "") + pivot.measure + ": " + pivot.rows + " × " + pivot.columns;
  heatmap.row_title = pivot.rows;
  heatmap.column_title = pivot.columns;
  heatmap.row_labels = pivot.row_labels;
  heatmap.column_labels = pivot.column_labels;
  heatmap.values = pivot.values;
  heatmap.texts = pivot.cell_lines;
  double low = std::numeric_limits<double>::infinity(), high = -low;
  for (double value : pivot.values) {
    if (std::isnan(value)) continue;
    low = std::min(low, value);
    high = std::max(high, value);
  }
  if (!(low <= high)) low = 0, high = 1;
  if (pivot.delta) {
    // Differences centre on 0, so equal gains and losses get mirrored colours.
    double reach = std::max({std::fabs(low), std::fabs(high), 1e-12});
    low = -reach;
    high = reach;
  } else if (low == high) {
    low -= 0.5;
    high += 0.5;
  }
  heatmap.low = low;
  heatmap.high = high;
  heatmap.scale_label = (pivot.delta ? "Δ " : "mean ") + pivot.measure;
  heatmap.note = pivot_legend(pivot);
  if (std::find(pivot.cell_lines.begin(), pivot.cell_lines.end(), "") != pivot.cell_lines.end())
    heatmap.note += "; grey: no runs there";
  return heatmap;
}

Table pivot_table(const Pivot& pivot) {
  Table table;
  table.columns.push_back({pivot.rows + " \\ " + pivot.columns, {}, pivot.row_labels});
  for (size_t c = 0; c < pivot.column_labels.size(); ++c) {
    Table::Column column{pivot.column_labels[c], {}, {}};
    for (size_t r = 0; r < pivot.row_labels.size(); ++r) {
      column.numbers.push_back(pivot.values[r * pivot.column_labels.size() + c]);
    }
    table.columns.push_back(std::move(column));
  }
  return table;
}

std::string pivot_markdown(const Pivot& pivot) {
  std::ostringstream md;
  md << "## " << (pivot.delta ? "Δ " : "") << pivot.measure << ": " << pivot.rows << " (rows) × "
     << pivot.columns << " (columns)\n\n" << pivot_legend(pivot) << ".\n\n| "
     << markdown_cell(pivot.rows) << " \\ " << markdown_cell(pivot.columns) << " |";
  for (const auto& label : pivot.column_labels) md << " " << markdown_cell(label) << " |";
  md << "\n|---|";
  for (size_t c = 0; c < pivot.column_labels.size(); ++c) md << "---|";
  md << "\n";
  for (size_t r = 0; r < pivot.row_labels.size(); ++r) {
    md << "| " << markdown_cell(pivot.row_labels[r]) << " |";
    for (size_t c = 0; c < pivot.column_labels.size(); ++c) {
      md << " " << markdown_cell(pivot.cells[r * pivot.column_labels.size() + c]) << " |";
    }
    md << "\n";
  }
  if (!pivot.left_out.empty()) {
    md << "\nLeft out, no value in any cell: " << markdown_cell(join(pivot.left_out, ", "))
       << ".\n";
  }
  return md.str();
}

}  // namespace guidance::analysis
