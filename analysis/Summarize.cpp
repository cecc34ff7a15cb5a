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
#include "host/config/ConfigKeys.h"
#include "host/recording/RecordFormat.h"
#include "host/recording/RecordSchema.h"

namespace guidance::analysis {

namespace fs = std::filesystem;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// The prefix of the measures of the last validation row (the weights at the end of training).
constexpr const char* kLastValidation = "last validation ";

// Keys that name a run rather than set it up: never study axes.
const std::set<std::string> kIdentityKeys = {"run.name", "run.seed"};

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

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The architecture that loads a network from a file, and its parameter naming the file
// (plugins/architecture/torchscript): reports name such a network by its file.
constexpr const char* kFilePlugin = "torchscript";
constexpr const char* kFileParameter = "path";

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

std::string signed_fixed(double value, int digits = 4) {
  if (std::isnan(value)) return "";
  return (value >= 0 ? "+" : "") + fixed(value, digits);
}

// "mean ± std" with `digits` decimals; one value alone, none "".
std::string mean_pm(const std::vector<double>& values, int digits = 4) {
  if (values.empty()) return "";
  if (values.size() == 1) return fixed(values[0], digits);
  return fixed(mean(values), digits) + " ± " + fixed(sample_std(values), digits);
}

std::string mean_std(const std::vector<double>& values) {
  return mean_pm(values) + (values.size() == 1 ? " (n=1)" : "");
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

std::string shown_value(const Study& study, const StudyCell& cell, size_t axis) {
  const auto& [key, value] = cell.settings.at(axis);
  const std::string plugin = ".plugin";
  if (value != kFilePlugin || !ends_with(key, plugin) || cell.runs.empty()) return value;
  const std::map<std::string, std::string>& settings = study.runs[cell.runs.front()].settings;
  auto file = settings.find(key.substr(0, key.size() - plugin.size() + 1) + kFileParameter);
  return file == settings.end() ? value : fs::path(file->second).filename().string();
}

std::vector<std::string> cell_labels(const Study& study) {
  const std::string plugin = ".plugin";
  const size_t axes = study.axes.size();
  // A plugin's parameter swept along with its plugin (their defaults differ, or a TorchScript
  // network's file, which the plugin's shown value names) says nothing more.
  std::vector<bool> shown(axes, true);
  std::vector<std::string> names(axes);
  for (size_t a = 0; a < axes; ++a) {
    const std::string& key = study.axes[a];
    std::string owner = key.substr(0, key.rfind('.'));
    names[a] = ends_with(key, plugin) ? key.substr(0, key.size() - plugin.size()) : key;
    names[a] = names[a].substr(names[a].rfind('.') + 1);
    auto chooser = std::find(study.axes.begin(), study.axes.end(), owner + plugin);
    if (ends_with(key, plugin) || chooser == study.axes.end()) continue;
    const size_t p = static_cast<size_t>(chooser - study.axes.begin());
    std::map<std::string, std::string> value_for_plugin;
    bool follows = true;
    for (const auto& cell : study.cells) {
      auto [known, added] =
          value_for_plugin.emplace(shown_value(study, cell, p), cell.settings[a].second);
      follows = follows && (added || known->second == cell.settings[a].second);
    }
    shown[a] = !follows;
  }
  for (size_t a = 0; a < axes; ++a) {
    if (std::count(names.begin(), names.end(), names[a]) > 1) names[a] = study.axes[a];
  }
  std::vector<std::string> labels;
  for (const auto& cell : study.cells) {
    std::vector<std::string> parts;
    std::optional<size_t> enabled_at;
    bool guide_named = false, enabled = true;
    for (size_t a = 0; a < axes; ++a) {
      if (!shown[a]) continue;
      if (study.axes[a] == kGuidanceEnabledKey) {
        enabled_at = parts.size();
        enabled = cell.settings[a].second != "false";
        continue;
      }
      std::string value = shown_value(study, cell, a);
      if (value == kNoValue) continue;
      parts.push_back(names[a] + "=" + value);
      guide_named = guide_named || starts_with(study.axes[a], "guide.");
    }
    if (enabled_at && (!enabled || !guide_named)) {
      parts.insert(parts.begin() + static_cast<std::ptrdiff_t>(*enabled_at),
                   enabled ? "guided" : "unguided");
    }
    labels.push_back(parts.empty() ? cell.label() : join(parts, ", "));
  }
  return labels;
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
  for (auto it = settings.begin(); it != settings.end();) {
    it = kIdentityKeys.count(it->first) || leaves_results(it->first) ? settings.erase(it)
                                                                      : std::next(it);
  }
  bool guided = root.contains("guide") && value_of(settings, kGuidanceEnabledKey) != "false";
  if (!guided) {
    for (auto it = settings.begin(); it != settings.end();) {
      it = unguided_run_ignores(it->first) ? settings.erase(it) : std::next(it);
    }
    settings[kGuidanceEnabledKey] = "false";
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
  for (const auto& [split, row] : final_evaluation_rows(evaluation).rows) {
    for (const Table::Column* column : numeric) {
      double value = column->numbers.at(row);
      if (!std::isnan(value)) measures[split + " " + column->name] = value;
    }
  }
  auto last_row = [&](const std::string& split) -> std::optional<size_t> {
    for (size_t row = splits.size(); row-- > 0;) {
      if (splits[row] == split) return row;
    }
    return std::nullopt;
  };
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
        if (key != kGuidanceEnabledKey) continue;
        (value == "false" ? has_unguided : has_guided) = true;
      }
    }
    if (has_unguided && has_guided) baseline = {{kGuidanceEnabledKey, "false"}};
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
    WelchInterval interval =
        welch_interval(own, study.values(study.cells[*cell.baseline], measure));
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
      unguided = unguided && value_of(study.runs[placed[at]->runs.front()].settings,
                                      kGuidanceEnabledKey) == "false";
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

namespace {

// What a pivot's cells hold, in a line.
std::string pivot_legend(const Pivot& pivot) {
  return pivot.delta ? "Each cell: Δ to its baseline cell with a 95 % Welch CI, and n, its "
                       "finished runs; a baseline cell shows its mean ± std"
                     : "Each cell: mean ± sample std over its n finished runs";
}

}  // namespace

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
