#include "analysis/Summarize.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <ostream>
#include <set>
#include <sstream>

#include <CLI/CLI.hpp>

#include "analysis/RecordReader.h"
#include "analysis/Statistics.h"
#include "host/common/CommandLine.h"
#include "host/common/Errors.h"
#include "host/common/Suggest.h"
#include "host/recording/RecordFormat.h"
#include "host/recording/RecordSchema.h"

namespace guidance::analysis {

namespace fs = std::filesystem;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// The prefix of the measures of the last validation row (the weights at the end of training).
constexpr const char* kLastValidation = "last validation ";

// Keys that name a run rather than set it up: never study axes.
const std::set<std::string> kIdentityKeys = {"run.name", "run.seed", "run.output"};

void flatten(const toml::table& table, const std::string& prefix,
             std::map<std::string, std::string>& out) {
  for (const auto& [key, node] : table) {
    std::string path =
        prefix.empty() ? std::string(key.str()) : prefix + "." + std::string(key.str());
    if (const toml::table* inner = node.as_table()) {
      flatten(*inner, path, out);
    } else if (const auto* text = node.as_string()) {
      out[path] = text->get();
    } else {
      std::ostringstream value;
      if (const toml::array* array = node.as_array()) {
        value << *array;
      } else if (const auto* real = node.as_floating_point()) {
        value << format_number(real->get());
      } else if (const auto* integer = node.as_integer()) {
        value << integer->get();
      } else if (const auto* boolean = node.as_boolean()) {
        value << (boolean->get() ? "true" : "false");
      } else {
        value << toml::node_view<const toml::node>(node);
      }
      out[path] = value.str();
    }
  }
}

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

// Axes in the order a config reads: what is trained on what, then how.
int section_rank(const std::string& key) {
  static const char* const order[] = {"dataset", "target", "guide", "guidance",
                                      "train",   "record", "run"};
  std::string section = key.substr(0, key.find('.'));
  for (int i = 0; i < 7; ++i) {
    if (section == order[i]) return i;
  }
  return 7;
}

std::string value_of(const std::map<std::string, std::string>& settings, const std::string& key) {
  auto found = settings.find(key);
  return found == settings.end() ? kNoValue : found->second;
}

std::string fixed(double value, int digits = 4) {
  if (std::isnan(value)) return "";
  std::ostringstream text;
  text.setf(std::ios::fixed);
  text.precision(digits);
  text << value;
  return text.str();
}

std::string signed_fixed(double value) {
  if (std::isnan(value)) return "";
  return (value >= 0 ? "+" : "") + fixed(value);
}

std::string mean_std(const std::vector<double>& values) {
  if (values.empty()) return "";
  if (values.size() == 1) return fixed(values[0]) + " (n=1)";
  return fixed(mean(values)) + " ± " + fixed(sample_std(values));
}

std::string delta_text(const WelchInterval& interval) {
  if (std::isnan(interval.difference)) return "";
  if (std::isnan(interval.low)) return signed_fixed(interval.difference) + " (no CI: n<2)";
  return signed_fixed(interval.difference) + " [" + signed_fixed(interval.low) + ", " +
         signed_fixed(interval.high) + "]";
}

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

size_t finished_count(const Study& study, const StudyCell& cell) {
  size_t count = 0;
  for (size_t index : cell.runs) count += study.runs[index].finished();
  return count;
}

std::string join(const std::vector<std::string>& parts, const std::string& separator) {
  std::string text;
  for (size_t i = 0; i < parts.size(); ++i) text += (i ? separator : "") + parts[i];
  return text;
}

std::string markdown_cell(std::string text) {
  for (size_t at = 0; (at = text.find('|', at)) != std::string::npos; at += 2)
    text.replace(at, 1, "\\|");
  return text;
}

std::vector<Setting> parse_settings(const std::string& text, const std::string& option) {
  std::vector<Setting> settings;
  std::stringstream stream(text);
  for (std::string part; std::getline(stream, part, ',');) {
    size_t equals = part.find('=');
    if (equals == std::string::npos || equals == 0) {
      throw UsageError(option + " expects KEY=VALUE[,KEY=VALUE...], got '" + text + "'");
    }
    settings.emplace_back(part.substr(0, equals), part.substr(equals + 1));
  }
  return settings;
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.flush();
  if (!out) throw RunError("cannot write " + path.string());
}

}  // namespace

std::string StudyCell::label() const {
  std::vector<std::string> parts;
  for (const auto& [key, value] : settings) parts.push_back(key + "=" + value);
  return parts.empty() ? "(all runs)" : join(parts, ", ");
}

std::vector<double> Study::values(const StudyCell& cell, const std::string& measure) const {
  std::vector<double> found;
  for (size_t index : cell.runs) {
    const StudyRun& run = runs[index];
    if (!run.finished()) continue;
    auto value = run.measures.find(measure);
    if (value != run.measures.end() && !std::isnan(value->second)) found.push_back(value->second);
  }
  return found;
}

std::optional<size_t> Study::cell_of(size_t run) const {
  for (size_t c = 0; c < cells.size(); ++c) {
    if (std::find(cells[c].runs.begin(), cells[c].runs.end(), run) != cells[c].runs.end()) return c;
  }
  return std::nullopt;
}

std::map<std::string, std::string> settings_of(const std::string& config_toml) {
  toml::table root;
  try {
    root = toml::parse(config_toml);
  } catch (const toml::parse_error& error) {
    throw RunError("the record's config is not TOML: " + std::string(error.description()));
  }
  std::map<std::string, std::string> settings;
  flatten(root, "", settings);
  for (const auto& key : kIdentityKeys) settings.erase(key);
  bool guided = root.contains("guide") && value_of(settings, "guidance.enabled") != "false";
  if (!guided) {
    for (auto it = settings.begin(); it != settings.end();) {
      bool drop = starts_with(it->first, "guide.") || starts_with(it->first, "guidance.");
      it = drop ? settings.erase(it) : std::next(it);
    }
    settings["guidance.enabled"] = "false";
  }
  return settings;
}

std::map<std::string, double> final_measures_of(const Table& evaluation) {
  std::map<std::string, double> measures;
  if (!evaluation.has("split")) return measures;
  const auto& splits = evaluation.column("split").texts;
  std::vector<const Table::Column*> numeric;
  for (const auto& column : evaluation.columns) {
    if (column.name != "step" && column.name != "epoch" && column.name != "split") {
      numeric.push_back(&column);
    }
  }
  auto last_row = [&](const std::string& split) -> std::optional<size_t> {
    for (size_t row = splits.size(); row-- > 0;) {
      if (splits[row] == split) return row;
    }
    return std::nullopt;
  };
  for (const std::string split : {"test", "validation", "train"}) {
    std::optional<size_t> row;
    if (split != "train") row = last_row(record_schema::kFinalSplitPrefix + split);
    if (!row) row = last_row(split);
    if (!row) continue;
    for (const Table::Column* column : numeric) {
      double value = column->numbers.at(*row);
      if (!std::isnan(value)) measures[split + " " + column->name] = value;
    }
  }
  if (std::optional<size_t> row = last_row("validation")) {
    for (const Table::Column* column : numeric) {
      double value = column->numbers.at(*row);
      if (!std::isnan(value)) measures[std::string(kLastValidation) + column->name] = value;
    }
  }
  return measures;
}

namespace {

// Keeps, of each group of cells that differ only in `axis`, the one of lowest mean validation
// loss over its finished runs; a group where no cell has one keeps every cell (their runs stay
// visible as flagged).
void tune_cells(Study& study, const std::string& axis) {
  auto found = std::find(study.axes.begin(), study.axes.end(), axis);
  if (found == study.axes.end()) {
    throw UsageError("--tune: '" + axis + "' is not an axis of the study in " + study.directory +
                     did_you_mean(axis, study.axes) + "; its axes are " +
                     (study.axes.empty() ? std::string("none (all runs share their settings)")
                                         : quoted_list(study.axes)));
  }
  const size_t position = static_cast<size_t>(found - study.axes.begin());
  study.tuned_axis = axis;
  auto others = [&](const StudyCell& cell) {
    std::vector<Setting> settings = cell.settings;
    settings.erase(settings.begin() + static_cast<std::ptrdiff_t>(position));
    return settings;
  };
  std::vector<StudyCell> kept;
  std::vector<bool> grouped(study.cells.size(), false);
  for (size_t first = 0; first < study.cells.size(); ++first) {
    if (grouped[first]) continue;
    TuningChoice choice;
    choice.settings = others(study.cells[first]);
    std::vector<size_t> members;
    for (size_t c = first; c < study.cells.size(); ++c) {
      if (!grouped[c] && others(study.cells[c]) == choice.settings) {
        grouped[c] = true;
        members.push_back(c);
      }
    }
    std::optional<size_t> best;
    double best_loss = kNaN;
    for (size_t c : members) {
      double loss = mean(study.values(study.cells[c], kTuningMeasure));
      choice.tried.emplace_back(study.cells[c].settings[position].second, loss);
      if (!std::isnan(loss) && (!best || loss < best_loss)) {
        best = c;
        best_loss = loss;
      }
    }
    if (best) {
      choice.chosen = study.cells[*best].settings[position].second;
      kept.push_back(study.cells[*best]);
    } else {
      for (size_t c : members) kept.push_back(study.cells[c]);
    }
    study.tuning.push_back(std::move(choice));
  }
  study.cells = std::move(kept);
}

}  // namespace

Study load_study(const std::string& directory, const std::vector<Setting>& baseline_request,
                 const std::string& tune_axis) {
  Study study;
  study.directory = directory;
  if (!fs::is_directory(directory)) throw UsageError("no such directory: " + directory);
  std::vector<fs::path> records;
  for (const auto& record : record_format::find_records(directory)) records.emplace_back(record);
  if (records.empty()) throw RunError("summarize: no run records (run.h5) below " + directory);

  std::set<std::string> measure_set;
  for (const auto& path : records) {
    StudyRun run;
    run.path = path.string();
    fs::path relative = fs::relative(path, directory).parent_path();
    run.name =
        relative.empty() ? path.parent_path().filename().string() : relative.generic_string();
    try {
      RecordReader record(run.path);
      run.state = to_string(record.state());
      run.settings = settings_of(record.config());
      for (const auto& [field, value] : record.provenance()) {
        if (field == "seed") run.seed = std::stoull(value);
      }
      run.measures = final_measures_of(record.evaluation());
      if (run.state == to_string(RecordState::Completed) && run.measures.empty()) run.problem = "no final measures";
    } catch (const GuidanceError& error) {
      run.state = "unreadable";
      run.problem = error.what();
    }
    for (const auto& [name, value] : run.measures) measure_set.insert(name);
    study.runs.push_back(std::move(run));
  }
  if (std::all_of(study.runs.begin(), study.runs.end(),
                  [](const StudyRun& run) { return run.state == "unreadable"; })) {
    std::string problems;
    for (const auto& run : study.runs) problems += "\n  " + run.path + ": " + run.problem;
    throw RunError("summarize: none of the " + std::to_string(study.runs.size()) +
                   " run records below " + directory + " can be read:" + problems);
  }
  for (const char* split : {"test ", "validation ", kLastValidation, "train "}) {
    // The task's measures first, the loss last, as a reader looks for them.
    for (const auto& name : measure_set) {
      if (starts_with(name, split) && name != std::string(split) + "loss")
        study.measures.push_back(name);
    }
    if (measure_set.count(std::string(split) + "loss"))
      study.measures.push_back(std::string(split) + "loss");
  }

  std::set<std::string> keys;
  for (const auto& run : study.runs) {
    if (run.state == "unreadable") continue;
    for (const auto& [key, value] : run.settings) keys.insert(key);
  }
  // An axis takes two values or more among the runs that have the key: a key only some runs have
  // (guide.* of guided runs, a plugin's own parameters) follows from another axis.
  for (const auto& key : keys) {
    std::set<std::string> seen;
    for (const auto& run : study.runs) {
      auto found = run.settings.find(key);
      if (run.state != "unreadable" && found != run.settings.end()) seen.insert(found->second);
    }
    if (seen.size() > 1) study.axes.push_back(key);
  }
  std::stable_sort(study.axes.begin(), study.axes.end(),
                   [](const auto& a, const auto& b) { return section_rank(a) < section_rank(b); });

  for (size_t r = 0; r < study.runs.size(); ++r) {
    const StudyRun& run = study.runs[r];
    if (run.state == "unreadable") continue;
    std::vector<Setting> settings;
    for (const auto& axis : study.axes) settings.emplace_back(axis, value_of(run.settings, axis));
    auto cell = std::find_if(study.cells.begin(), study.cells.end(),
                             [&](const StudyCell& c) { return c.settings == settings; });
    if (cell == study.cells.end()) {
      study.cells.push_back({settings, {}, std::nullopt});
      cell = study.cells.end() - 1;
    }
    cell->runs.push_back(r);
  }

  if (!tune_axis.empty()) tune_cells(study, tune_axis);

  std::vector<Setting> baseline = baseline_request;
  if (baseline.empty()) {
    bool has_unguided = false, has_guided = false;
    for (const auto& cell : study.cells) {
      for (const auto& [key, value] : cell.settings) {
        if (key != "guidance.enabled") continue;
        (value == "false" ? has_unguided : has_guided) = true;
      }
    }
    if (has_unguided && has_guided) baseline = {{"guidance.enabled", "false"}};
  }
  for (const auto& [key, value] : baseline) {
    if (std::find(study.axes.begin(), study.axes.end(), key) == study.axes.end()) {
      throw UsageError("--baseline: '" + key + "' is not an axis of the study in " + directory +
                       did_you_mean(key, study.axes) + "; its axes are " +
                       (study.axes.empty() ? std::string("none (all runs share their settings)")
                                           : quoted_list(study.axes)));
    }
  }
  if (std::any_of(baseline.begin(), baseline.end(),
                  [&](const Setting& s) { return s.first == tune_axis; })) {
    throw UsageError("--baseline and --tune both name '" + tune_axis +
                     "': a tuned axis takes each cell's best value, baselines included");
  }
  study.baseline = baseline;
  if (baseline.empty()) return study;
  for (auto& cell : study.cells) {
    std::optional<size_t> best;
    int best_score = -1;
    bool tie = false;
    for (size_t c = 0; c < study.cells.size(); ++c) {
      const StudyCell& candidate = study.cells[c];
      bool matches = true;
      int score = 0;
      for (size_t a = 0; a < study.axes.size() && matches; ++a) {
        const std::string& key = study.axes[a];
        if (key == study.tuned_axis) continue;
        const std::string& mine = cell.settings[a].second;
        const std::string& theirs = candidate.settings[a].second;
        auto wanted = std::find_if(baseline.begin(), baseline.end(),
                                   [&](const Setting& s) { return s.first == key; });
        if (wanted != baseline.end()) {
          matches = theirs == wanted->second;
        } else if (mine != kNoValue && theirs != kNoValue) {
          matches = mine == theirs;
          score += matches;
        }
      }
      if (!matches) continue;
      if (score > best_score) {
        best = c;
        best_score = score;
        tie = false;
      } else if (score == best_score) {
        tie = true;
      }
    }
    if (best && !tie) cell.baseline = best;
  }
  return study;
}

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
      WelchInterval interval{kNaN, kNaN, kNaN, kNaN, kNaN};
      if (cell.baseline)
        interval = welch_interval(values, study.values(study.cells[*cell.baseline], measure));
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

namespace {

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
      columns[1].cells.push_back(
          delta_text(welch_interval(values, study.values(study.cells[*cell.baseline], measure))));
    }
  }
  return columns;
}

}  // namespace

std::string study_markdown(const Study& study, const MarkdownLayout& layout) {
  const std::vector<std::string>& measures =
      layout.measures.empty() ? study.measures : layout.measures;
  std::vector<TextColumn> axes;
  TextColumn cell_column{"cell", {}};
  TextColumn runs{"runs", {}}, flagged{"flagged", {}};
  for (size_t a = 0; a < study.axes.size(); ++a) axes.push_back({study.axes[a], {}});
  for (const auto& cell : study.cells) {
    std::vector<std::string> values;
    for (size_t a = 0; a < cell.settings.size(); ++a) {
      axes[a].cells.push_back(markdown_cell(cell.settings[a].second));
      values.push_back(axes[a].cells.back());
    }
    cell_column.cells.push_back(join(values, ", "));
    runs.cells.push_back(std::to_string(finished_count(study, cell)) + "/" +
                         std::to_string(cell.runs.size()));
    flagged.cells.push_back(markdown_cell(join(flagged_runs(study, cell), "; ")));
  }
  std::vector<std::vector<TextColumn>> groups;
  for (const auto& measure : measures) groups.push_back(measure_columns(study, measure));

  // Long axis names (guide.init.plugin) can push even the first measure off a terminal; their
  // values alone, in axis order, take far less.
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
     << (one_cell_column ? " (the cell column's values, in this order)" : "") << ".\n";
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
    if (run.state == "unreadable") unreadable.push_back(run.name + ": " + run.problem);
  }
  if (!unreadable.empty())
    md << "\nUnreadable records (not in any cell): " << join(unreadable, "; ") << "\n";
  return md.str();
}

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
  for (const auto& cell : study.cells) {
    const std::string& r = cell.settings[row_axis].second;
    const std::string& c = cell.settings[column_axis].second;
    if (std::find(pivot.row_values.begin(), pivot.row_values.end(), r) == pivot.row_values.end())
      pivot.row_values.push_back(r);
    if (std::find(pivot.column_values.begin(), pivot.column_values.end(), c) ==
        pivot.column_values.end())
      pivot.column_values.push_back(c);
  }
  const size_t width = pivot.column_values.size();
  pivot.values.assign(pivot.row_values.size() * width, kNaN);
  pivot.cells.assign(pivot.values.size(), "");
  std::vector<const StudyCell*> placed(pivot.values.size(), nullptr);
  for (const auto& cell : study.cells) {
    size_t r = std::find(pivot.row_values.begin(), pivot.row_values.end(),
                         cell.settings[row_axis].second) -
               pivot.row_values.begin();
    size_t c = std::find(pivot.column_values.begin(), pivot.column_values.end(),
                         cell.settings[column_axis].second) -
               pivot.column_values.begin();
    size_t at = r * width + c;
    if (placed[at] != nullptr) {
      std::vector<std::string> others;
      for (size_t a = 0; a < study.axes.size(); ++a) {
        if (a != row_axis && a != column_axis && placed[at]->settings[a] != cell.settings[a])
          others.push_back(study.axes[a]);
      }
      throw UsageError("summarize: other axes vary within " + rows + "=" +
                       cell.settings[row_axis].second + ", " + columns + "=" +
                       cell.settings[column_axis].second + " (" + join(others, ", ") +
                       "): summarize a directory where only the pivoted axes (and the seed) vary");
    }
    placed[at] = &cell;
    std::vector<double> values = study.values(cell, measure);
    if (!pivot.delta) {
      pivot.values[at] = mean(values);
      pivot.cells[at] = mean_std(values);
    } else if (cell.baseline) {
      WelchInterval interval =
          welch_interval(values, study.values(study.cells[*cell.baseline], measure));
      pivot.values[at] = interval.difference;
      pivot.cells[at] = &study.cells[*cell.baseline] == &cell ? "(baseline)" : delta_text(interval);
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
  heatmap.row_labels = pivot.row_values;
  heatmap.column_labels = pivot.column_values;
  heatmap.values = pivot.values;
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
  return heatmap;
}

Table pivot_table(const Pivot& pivot) {
  Table table;
  table.columns.push_back({pivot.rows + " \\ " + pivot.columns, {}, pivot.row_values});
  for (size_t c = 0; c < pivot.column_values.size(); ++c) {
    Table::Column column{pivot.column_values[c], {}, {}};
    for (size_t r = 0; r < pivot.row_values.size(); ++r) {
      column.numbers.push_back(pivot.values[r * pivot.column_values.size() + c]);
    }
    table.columns.push_back(std::move(column));
  }
  return table;
}

std::string pivot_markdown(const Pivot& pivot) {
  std::ostringstream md;
  md << "## " << (pivot.delta ? "Δ " : "") << pivot.measure << ": " << pivot.rows << " (rows) × "
     << pivot.columns << " (columns)\n\n| " << markdown_cell(pivot.rows) << " \\ "
     << markdown_cell(pivot.columns) << " |";
  for (const auto& value : pivot.column_values) md << " " << markdown_cell(value) << " |";
  md << "\n|---|";
  for (size_t c = 0; c < pivot.column_values.size(); ++c) md << "---|";
  md << "\n";
  for (size_t r = 0; r < pivot.row_values.size(); ++r) {
    md << "| " << markdown_cell(pivot.row_values[r]) << " |";
    for (size_t c = 0; c < pivot.column_values.size(); ++c) {
      md << " " << markdown_cell(pivot.cells[r * pivot.column_values.size() + c]) << " |";
    }
    md << "\n";
  }
  return md.str();
}

namespace {

// The arguments of `guidance summarize`, as add_summarize_command declares them.
struct SummarizeArguments {
  std::string directory;
  std::string baseline;
  std::string tune;  ///< empty: no axis tuned
  std::string rows;
  std::string columns;
  std::string measure;   ///< the pivot's; empty: the study's first measure
  std::string measures;  ///< the printed table's, comma-separated; empty: those that fit
  std::string out;       ///< empty: the directory
};

// @return the measures named in --measures, each one the study has.
// @throws UsageError naming the study's measures when one is not among them
std::vector<std::string> chosen_measures(const Study& study, const std::string& text) {
  std::vector<std::string> chosen;
  std::stringstream stream(text);
  for (std::string part; std::getline(stream, part, ',');) {
    size_t first = part.find_first_not_of(' ');
    if (first == std::string::npos) {
      throw UsageError("--measures expects NAME[,NAME...], got '" + text + "'");
    }
    std::string name = part.substr(first, part.find_last_not_of(' ') + 1 - first);
    if (std::find(study.measures.begin(), study.measures.end(), name) == study.measures.end()) {
      throw UsageError("--measures: the study has no measure '" + name + "'" +
                       did_you_mean(name, study.measures) + "; its measures are " +
                       quoted_list(study.measures));
    }
    chosen.push_back(name);
  }
  return chosen;
}

// @return Markdown text with its prose lines broken at spaces to fit `width` (0: no limit), list
// items continuing under their text; table rows stay whole, since a broken row is no row.
std::string wrap_prose(const std::string& text, size_t width) {
  if (width == 0) return text;
  std::string wrapped;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (starts_with(line, "|")) {
      wrapped += line + "\n";
      continue;
    }
    for (const auto& part : wrap_text(line, width, starts_with(line, "- ") ? 2 : 0))
      wrapped += part + "\n";
  }
  return wrapped;
}

int summarize(const SummarizeArguments& arguments, std::ostream& out) {
  const std::string& directory = arguments.directory;
  std::vector<Setting> baseline;
  if (!arguments.baseline.empty()) baseline = parse_settings(arguments.baseline, "--baseline");
  Study study = load_study(directory, baseline, arguments.tune);
  // The files always hold every measure; the printed table fits the terminal unless the
  // measures are named, which are then shown whatever the width.
  size_t width = output_width(out);
  MarkdownLayout printed{{}, width};
  if (!arguments.measures.empty()) printed = {chosen_measures(study, arguments.measures), 0};
  fs::path target = arguments.out.empty() ? fs::path(directory) : fs::path(arguments.out);
  std::error_code error;
  fs::create_directories(target, error);
  if (error) throw RunError("cannot create " + target.string() + ": " + error.message());

  std::string markdown = study_markdown(study);
  std::string pivot_text;
  if (!arguments.rows.empty()) {
    std::string measure = !arguments.measure.empty() ? arguments.measure
                          : study.measures.empty()   ? std::string("test loss")
                                                     : study.measures.front();
    Pivot pivot = pivot_study(study, arguments.rows, arguments.columns, measure);
    pivot_text = pivot_markdown(pivot);
    write_text(target / "atlas.md", pivot_text);
    write_csv_file(pivot_table(pivot), (target / "atlas.csv").string());
    write_text(target / "atlas.svg", render_svg(pivot_heatmap(pivot)));
  }
  write_text(target / "summary.md", markdown + (pivot_text.empty() ? "" : "\n" + pivot_text));
  write_csv_file(study_table(study), (target / "summary.csv").string());
  std::string shown = study_markdown(study, printed);
  if (!pivot_text.empty()) shown += "\n" + pivot_text;
  shown += "\nwrote " + (target / "summary.md").string() + " and " +
           (target / "summary.csv").string() +
           (pivot_text.empty() ? "" : " and " + (target / "atlas.svg").string()) + "\n";
  out << wrap_prose(shown, width);
  return 0;
}

}  // namespace

void add_summarize_command(CLI::App& parent, std::ostream& out) {
  auto arguments = std::make_shared<SummarizeArguments>();
  CLI::App& command = add_command(
      parent, "summarize",
      "a study's table: mean ± std over seeds per cell, Δ to a baseline\n"
      "with a 95 % Welch CI, failed runs flagged; --rows/--cols pivot",
      [arguments, &out] { return summarize(*arguments, out); });
  command.add_option("DIR", arguments->directory, "the study: run records (run.h5) below it")
      ->required();
  command
      .add_option("--baseline", arguments->baseline,
                  "the baseline of each cell: the cell with these settings that otherwise "
                  "matches it (default: guidance.enabled=false, each cell's unguided cell, when "
                  "the study has unguided runs; else no differences are shown)")
      ->type_name("K=V,...");
  command
      .add_option("--tune", arguments->tune,
                  "an axis tuned per cell, e.g. train.learning_rate: of the cells that differ "
                  "only in it, the one of lowest mean validation loss is kept (as the paper "
                  "tunes the learning rate), baselines included; every value tried is listed")
      ->type_name("AXIS");
  CLI::Option* rows =
      command
          .add_option("--rows", arguments->rows,
                      "pivot this axis (rows) against --cols into a table and a heatmap, e.g. a "
                      "prior atlas with --rows guide.plugin --cols target.plugin: OUT/atlas.md, "
                      "atlas.csv, atlas.svg")
          ->type_name("AXIS");
  CLI::Option* columns =
      command.add_option("--cols", arguments->columns, "the pivot's column axis (with --rows)")
          ->type_name("AXIS");
  rows->needs(columns);
  columns->needs(rows);
  command
      .add_option("--measure", arguments->measure,
                  "the pivoted measure (default: the first test measure, e.g. \"test top1\"); "
                  "independent of --measures")
      ->type_name("NAME");
  command
      .add_option("--measures", arguments->measures,
                  "the measures of the printed table, as its headers name them, e.g. "
                  "\"test top1,test loss\" (default: on a terminal the first measure and those "
                  "after it that fit its width, else every measure); summary.md and summary.csv "
                  "always have every measure, and the pivot's measure is --measure")
      ->type_name("NAME,...");
  command.add_option("--out", arguments->out, "where to write (default: DIR)")->type_name("OUT");
  command.footer(
      "Finds the run records (run.h5) below DIR and groups them into cells by the settings that\n"
      "differ between their resolved configs (run.name, run.seed and run.output excluded;\n"
      "run.seed is the replicate axis). For each cell: n finished / n found, mean ± std (n - 1)\n"
      "of the final measures (test and validation of the best-validation weights, the last train\n"
      "evaluation) and the difference to the cell's baseline with a 95 % Welch confidence\n"
      "interval. Failed or unfinished runs are flagged and never averaged. --tune AXIS keeps,\n"
      "per cell, the AXIS value of lowest mean validation loss. Prints Markdown, writes\n"
      "OUT/summary.md and OUT/summary.csv.\n\n"
      "Printed lines fit $COLUMNS when it is set, else the terminal's width when printing to\n"
      "one (piped or redirected output without $COLUMNS is the whole table). The table then\n"
      "shows the cell, its runs, the first measure with its Δ and the flagged runs, and the\n"
      "further measures while they fit; a line under it names those left out.\n\n"
      "exit codes: 0 done, 2 usage error (unknown option, no such directory, unknown axis),\n"
      "1 failure (no records, no readable record, a file that cannot be written)");
}

}  // namespace guidance::analysis
