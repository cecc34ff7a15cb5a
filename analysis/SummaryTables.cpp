#include "analysis/SummaryTables.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "analysis/Baselines.h"
#include "analysis/Cells.h"
#include "analysis/Statistics.h"
#include "analysis/SummaryText.h"

namespace guidance::analysis {

namespace {

// "mean ± std", marking a single value as such.
std::string mean_std(const std::vector<double>& values) {
  return mean_pm(values) + (values.size() == 1 ? " (n=1)" : "");
}

// @return "name (state: problem)" of each run of the cell that does not count in its averages.
std::vector<std::string> flagged_runs(const Study& study, const StudyCell& cell) {
  std::vector<std::string> flagged;
  for (size_t index : cell.runs) {
    const StudyRun& run = study.runs[index];
    if (run.finished()) continue;
    flagged.push_back(run.name + " (" + run.state +
                      (run.problem.empty() ? "" : ": " + run.problem) + ")");
  }
  return flagged;
}

// @return how many runs of the cell count in its averages.
size_t finished_count(const Study& study, const StudyCell& cell) {
  size_t count = 0;
  for (size_t index : cell.runs) count += study.runs[index].finished();
  return count;
}

// One column of the printed study table: its header and a cell per study cell.
struct TextColumn {
  std::string header;
  std::vector<std::string> cells;
};

// @return the columns a Markdown table of these columns takes beyond its leading "|": each
// column adds " cell |" as wide as its widest cell or header.
size_t table_width(const std::vector<TextColumn>& columns) {
  size_t width = 0;
  for (const auto& column : columns) {
    size_t widest = text_width(column.header);
    for (const auto& cell : column.cells) widest = std::max(widest, text_width(cell));
    width += widest + 3;
  }
  return width;
}

// The printed columns of one measure: mean ± std, and Δ to the baseline for test measures.
std::vector<TextColumn> measure_columns(const Study& study, const std::string& measure) {
  bool delta = !study.baseline.empty() && starts_with(measure, "test ");
  std::vector<TextColumn> columns = {{measure, {}}};
  if (delta) columns.push_back({"Δ " + measure + " [95% CI]", {}});
  for (const auto& cell : study.cells) {
    std::vector<double> values = study.values(cell, measure);
    columns[0].cells.push_back(mean_std(values));
    if (!delta) continue;
    if (!cell.baseline) {
      columns[1].cells.push_back("no baseline");
    } else if (&study.cells[*cell.baseline] == &cell) {
      columns[1].cells.push_back("(baseline)");
    } else {
      columns[1].cells.push_back(delta_text(difference_to_baseline(study, cell, measure)));
    }
  }
  return columns;
}

}  // namespace

Table study_table(const Study& study) {
  Table table;
  for (const auto& axis : study.axes) table.columns.push_back({axis, {}, {}});
  table.columns.push_back({"n_finished", {}, {}});
  table.columns.push_back({"n_found", {}, {}});
  table.columns.push_back({"runs", {}, {}});
  table.columns.push_back({"flagged", {}, {}});
  table.columns.push_back({"baseline", {}, {}});
  for (const auto& measure : study.measures) {
    for (const char* suffix : {" mean", " std"})
      table.columns.push_back({measure + suffix, {}, {}});
    if (!study.baseline.empty()) {
      for (const char* suffix : {" delta", " ci_low", " ci_high", " df"}) {
        table.columns.push_back({measure + suffix, {}, {}});
      }
    }
  }
  // A text column must hold a text for every row to be read as text.
  for (const auto& cell : study.cells) {
    size_t c = 0;
    for (const auto& [key, value] : cell.settings) table.columns[c++].texts.push_back(value);
    table.columns[c++].numbers.push_back(static_cast<double>(finished_count(study, cell)));
    table.columns[c++].numbers.push_back(static_cast<double>(cell.runs.size()));
    std::vector<std::string> names;
    for (size_t index : cell.runs) names.push_back(study.runs[index].name);
    table.columns[c++].texts.push_back(join(names, "; "));
    table.columns[c++].texts.push_back(join(flagged_runs(study, cell), "; "));
    table.columns[c++].texts.push_back(cell.baseline ? study.cells[*cell.baseline].label()
                                                     : std::string());
    for (const auto& measure : study.measures) {
      std::vector<double> values = study.values(cell, measure);
      table.columns[c++].numbers.push_back(mean(values));
      table.columns[c++].numbers.push_back(sample_std(values));
      if (study.baseline.empty()) continue;
      WelchInterval interval = difference_to_baseline(study, cell, measure);
      table.columns[c++].numbers.push_back(interval.difference);
      table.columns[c++].numbers.push_back(interval.low);
      table.columns[c++].numbers.push_back(interval.high);
      table.columns[c++].numbers.push_back(interval.df);
    }
  }
  for (auto& column : table.columns) {
    if (column.name == "flagged" || column.name == "baseline") {
      bool any = std::any_of(column.texts.begin(), column.texts.end(),
                             [](const std::string& t) { return !t.empty(); });
      if (!any) column.texts.assign(column.texts.size(), "");
    }
  }
  return table;
}

std::string study_markdown(const Study& study, const MarkdownLayout& layout) {
  const std::vector<std::string>& measures =
      layout.measures.empty() ? study.measures : layout.measures;
  std::vector<TextColumn> axes;
  TextColumn cell_column{"cell", {}};
  for (const auto& label : cell_labels(study)) cell_column.cells.push_back(markdown_cell(label));
  TextColumn runs{"runs", {}}, flagged{"flagged", {}};
  for (size_t a = 0; a < study.axes.size(); ++a) axes.push_back({study.axes[a], {}});
  for (const auto& cell : study.cells) {
    for (size_t a = 0; a < cell.settings.size(); ++a)
      axes[a].cells.push_back(markdown_cell(cell.settings[a].second));
    runs.cells.push_back(std::to_string(finished_count(study, cell)) + "/" +
                         std::to_string(cell.runs.size()));
    flagged.cells.push_back(markdown_cell(join(flagged_runs(study, cell), "; ")));
  }
  std::vector<std::vector<TextColumn>> groups;
  for (const auto& measure : measures) groups.push_back(measure_columns(study, measure));

  // Long axis names (guide.init.plugin) can push even the first measure off a terminal; one
  // column naming each cell by what tells it apart (cell_labels) takes far less.
  size_t headline = 1 + table_width({runs, flagged}) + (groups.empty() ? 0 : table_width(groups[0]));
  bool one_cell_column =
      layout.width > 0 && !axes.empty() && headline + table_width(axes) > layout.width;
  std::vector<TextColumn> columns = one_cell_column ? std::vector<TextColumn>{cell_column} : axes;
  columns.push_back(runs);
  size_t used = 1 + table_width(columns) + table_width({flagged});
  std::vector<std::string> left_out;
  for (size_t m = 0; m < groups.size(); ++m) {
    size_t width = table_width(groups[m]);
    // Measures stay in order: once one is left out, so are those after it.
    if (layout.width > 0 && m > 0 && (!left_out.empty() || used + width > layout.width)) {
      left_out.push_back(measures[m]);
      continue;
    }
    columns.insert(columns.end(), groups[m].begin(), groups[m].end());
    used += width;
  }
  columns.push_back(flagged);

  std::ostringstream md;
  size_t finished = 0;
  for (const auto& run : study.runs) finished += run.finished();
  md << "# Study: " << study.directory << "\n\n"
     << study.runs.size() << " runs (" << finished << " finished) in " << study.cells.size()
     << (study.cells.size() == 1 ? " cell" : " cells") << "; replicates: run.seed; axes: "
     << (study.axes.empty() ? std::string("none") : join(study.axes, ", "))
     << (one_cell_column ? " (the cell column names what tells each cell apart)" : "")
     << ".\n";
  if (!study.baseline.empty()) {
    std::vector<std::string> parts;
    for (const auto& [key, value] : study.baseline) parts.push_back(key + "=" + value);
    md << "Δ: difference of means to each cell's baseline cell (" << join(parts, ", ")
       << ", otherwise the same settings) with a 95 % Welch confidence interval.\n";
  }
  md << "Values: mean ± sample std over finished runs; failed or unfinished runs are listed, "
        "never averaged.\n";
  if (!study.tuned_axis.empty()) {
    md << study.tuned_axis << " is tuned per cell: each row keeps the value of lowest mean "
       << kTuningMeasure << " (every value tried is listed below the table).\n";
  }
  md << "\n";
  std::vector<std::string> header;
  for (const auto& column : columns) header.push_back(column.header);
  md << "| " << join(header, " | ") << " |\n|";
  for (size_t i = 0; i < header.size(); ++i) md << "---|";
  md << "\n";
  for (size_t c = 0; c < study.cells.size(); ++c) {
    std::vector<std::string> row;
    for (const auto& column : columns) row.push_back(column.cells[c]);
    md << "| " << join(row, " | ") << " |\n";
  }
  if (!left_out.empty()) {
    md << "\nLeft out to fit " << layout.width << " columns: " << join(left_out, ", ")
       << " (--measures NAME,... shows the measures named; summary.md has every one).\n";
  }
  if (!study.tuned_axis.empty()) {
    md << "\nTuning of " << study.tuned_axis << " (mean " << kTuningMeasure
       << " over finished runs; * kept):\n\n";
    for (const auto& choice : study.tuning) {
      std::vector<std::string> settings, tried;
      for (const auto& [key, value] : choice.settings) settings.push_back(key + "=" + value);
      for (const auto& [value, loss] : choice.tried) {
        tried.push_back(value + ": " + (std::isnan(loss) ? std::string("no finished run")
                                                          : fixed(loss)) +
                        (value == choice.chosen ? " *" : ""));
      }
      md << "- " << markdown_cell(join(settings, ", ")) << ": " << join(tried, ", ")
         << (choice.chosen.empty() ? " (none finished: every value shown)" : "") << "\n";
    }
  }
  std::vector<std::string> unreadable;
  for (const auto& run : study.runs) {
    if (run.state == kUnreadable) unreadable.push_back(run.name + ": " + run.problem);
  }
  if (!unreadable.empty())
    md << "\nUnreadable records (not in any cell): " << join(unreadable, "; ") << "\n";
  return md.str();
}

}  // namespace guidance::analysis
