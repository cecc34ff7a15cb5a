#include "analysis/Analyze.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <sstream>

#include <torch/torch.h>

#include <CLI/CLI.hpp>

#include "analysis/Cells.h"
#include "analysis/ErrorConsistency.h"
#include "analysis/HtmlReport.h"
#include "analysis/RecordReader.h"
#include "analysis/Study.h"
#include "analysis/SummaryTables.h"
#include "analysis/Svg.h"
#include "analysis/Table.h"
#include "host/common/CommandLine.h"
#include "host/common/Errors.h"
#include "host/common/Suggest.h"
#include "host/config/Config.h"
#include "host/recording/RecordFormat.h"
#include "host/representation/Similarity.h"

namespace guidance {

namespace fs = std::filesystem;
using analysis::RecordReader;
using analysis::Table;

namespace {

// The arguments of one analyze command, as its declaration in add_analyze_command fills them.
struct Arguments {
  std::string first;   ///< the first positional argument: a record or a directory
  std::string second;  ///< the second: a record or a table name; empty when not given
  std::string out;  ///< --out; empty: the command's default
  std::string metric;
  std::string step = "last";
  std::string side = record_schema::kTarget;
  std::string side_b;  ///< empty: as --side
  std::string csv = "-";
};

std::string out_or(const Arguments& arguments, const std::string& fallback) {
  return arguments.out.empty() ? fallback : arguments.out;
}

// A record named on the command line that is not there is a usage error (exit 2).
RecordReader open_record(const std::string& path) {
  if (!fs::exists(path)) throw UsageError("no such record: " + path);
  return RecordReader(path);
}

// A run's name in a directory report: the folder of its run.h5 relative to the directory, or the
// record's path without ".h5" for records named otherwise.
std::string run_name(const fs::path& record, const fs::path& directory) {
  fs::path relative = fs::relative(record, directory);
  if (record.filename() == "run.h5" && !relative.parent_path().empty()) {
    return relative.parent_path().generic_string();
  }
  return relative.replace_extension().generic_string();
}

// A record's resolved config; an empty table when its text is not TOML, so that nothing is read
// from it and the callers fall back on what the record's place says.
toml::table config_of(const RecordReader& record) {
  try {
    return toml::parse(record.config());
  } catch (const toml::parse_error&) {
    return {};
  }
}

// What a run is called in reports: its config's run.name when the record lies in a folder of that
// name (a study's runs are "<study>/<settings>", so they keep the study's folder), else `folder`.
std::string run_label(const RecordReader& record, const std::string& folder) {
  std::string name = config_of(record).at_path("run.name").value_or(std::string());
  std::string parent = fs::absolute(record.path()).parent_path().generic_string();
  bool lies_there = !name.empty() && parent.size() > name.size() &&
                    parent.compare(parent.size() - name.size(), name.size(), name) == 0 &&
                    parent[parent.size() - name.size() - 1] == '/';
  return lies_there ? name : folder;
}

// The plugin of a `[record] metrics` entry stored under `metric`: a string entry is its plugin, a
// table's `name` defaults to its `plugin`; an entry the config does not list is taken to be named
// after its plugin (the default).
std::string metric_plugin(const RecordReader& record, const std::string& metric) {
  toml::table config = config_of(record);
  if (const toml::array* entries = config.at_path("record.metrics").as_array()) {
    for (const toml::node& entry : *entries) {
      if (entry.value<std::string>() == metric) return metric;
      if (const toml::table* table = entry.as_table()) {
        std::string plugin = (*table)["plugin"].value_or(std::string());
        if ((*table)["name"].value_or(plugin) == metric) return plugin;
      }
    }
  }
  return metric;
}

// The colour scales of a record's metrics: the ranges their plugins declare; a metric whose
// plugin is not loaded (or declares no bounded range) has none, and its heatmaps say so.
analysis::SimilarityScales similarity_scales(const RecordReader& record,
                                             const PluginCatalog& catalog) {
  analysis::SimilarityScales scales;
  for (const auto& metric : record.layout().metrics) {
    std::string plugin = metric_plugin(record, metric);
    for (const CatalogEntry* entry : catalog.find_any(plugin)) {
      if (entry->plugin->kind() != PluginKind::Metric) continue;
      if (auto scale = analysis::similarity_scale(catalog.metric(plugin)->traits(), plugin)) {
        scales[metric] = *scale;
      }
    }
  }
  return scales;
}

std::vector<std::pair<std::string, std::string>> records_below(const fs::path& directory) {
  std::vector<std::pair<std::string, std::string>> named;
  for (const auto& path : record_format::find_records(directory.string())) {
    named.emplace_back(run_name(path, directory), path);
  }
  return named;
}

// Records as (label, path), from (folder, path): see run_label; an unreadable record keeps its
// folder (its readers report it).
std::vector<std::pair<std::string, std::string>> labelled(
    std::vector<std::pair<std::string, std::string>> records) {
  for (auto& [name, path] : records) {
    try {
      name = run_label(RecordReader(path), name);
    } catch (const GuidanceError&) {
      // Left as its folder.
    }
  }
  return records;
}

void write_file_checked(const fs::path& path, const std::string& text) {
  std::ofstream file(path, std::ios::binary);
  file << text;
  file.flush();
  if (!file) throw RunError("cannot write " + path.string());
}

// The study of a directory report: the runs below `target` grouped into cells, when its records
// are runs (run.h5) that differ in settings; nothing otherwise (with the reason on `err` when
// they are runs that cannot be summarised).
std::optional<analysis::Study> report_study(
    const fs::path& target, const std::vector<std::pair<std::string, std::string>>& records,
    std::ostream& err) {
  bool has_runs = std::any_of(records.begin(), records.end(), [](const auto& record) {
    return fs::path(record.second).filename() == "run.h5";
  });
  if (!has_runs) return std::nullopt;
  try {
    analysis::Study study = analysis::load_study(target.string());
    if (!study.axes.empty()) return study;
  } catch (const GuidanceError& error) {
    err << "guidance analyze: no study table: " << error.what() << "\n";
  }
  return std::nullopt;
}

// Whether some cell of the study has two runs or more: the report then averages them.
bool has_replicates(const analysis::Study& study) {
  return std::any_of(study.cells.begin(), study.cells.end(),
                     [](const analysis::StudyCell& cell) { return cell.runs.size() > 1; });
}

// The study table of a directory report: a row per cell, named by `cells` (its label), listing
// its runs by seed with links to their reports (`label_of`, run folder → label, their tooltips);
// writes summary.csv, which has each axis's value, beside it.
std::string study_table_html(const analysis::Study& study, const std::vector<std::string>& cells,
                             const std::map<std::string, std::string>& label_of,
                             const fs::path& directory) {
  std::ostringstream html;
  Table table = analysis::study_table(study);
  write_csv_file(table, (directory / "summary.csv").string());
  html << "<h2>Study</h2>\n<p>" << study.runs.size() << " runs in " << study.cells.size()
       << " cells (axes: ";
  for (size_t a = 0; a < study.axes.size(); ++a)
    html << (a ? ", " : "") << analysis::escape_xml(study.axes[a]);
  html << "; replicates: run.seed), each named by the axes that tell it apart. Mean ± std over "
          "finished runs";
  if (!study.baseline.empty()) html << ", Δ to each cell's baseline with a 95 % Welch CI";
  html << "; failed or unfinished runs are flagged, not averaged. "
          "<a href=\"summary.csv\">summary.csv</a></p>\n<div class=\"scroll\"><table>\n<tr>"
          "<th>cell</th><th>runs</th>";
  for (const auto& measure : study.measures) {
    html << "<th>" << analysis::escape_xml(measure) << "</th>";
    if (!study.baseline.empty() && measure.rfind("test ", 0) == 0)
      html << "<th>Δ " << analysis::escape_xml(measure) << " [95% CI]</th>";
  }
  html << "<th>flagged</th></tr>\n";
  for (size_t c = 0; c < study.cells.size(); ++c) {
    const analysis::StudyCell& cell = study.cells[c];
    html << "<tr><td>" << analysis::escape_xml(cells[c]) << "</td><td>";
    size_t finished = 0;
    for (size_t run : cell.runs) finished += study.runs[run].finished();
    html << finished << "/" << cell.runs.size() << ":";
    for (size_t run : cell.runs) {
      const std::string& name = study.runs[run].name;
      auto label = label_of.find(name);
      html << " <a href=\"" << analysis::escape_xml(name) << "/index.html\" title=\""
           << analysis::escape_xml(label == label_of.end() ? name : label->second) << "\">seed="
           << study.runs[run].seed << "</a>";
    }
    html << "</td>";
    for (const auto& measure : study.measures) {
      size_t column = 0;
      for (; column < table.columns.size(); ++column) {
        if (table.columns[column].name == measure + " mean") break;
      }
      std::string mean = table.shown_cell(c, column), spread = table.shown_cell(c, column + 1);
      html << "<td class=\"number\">" << mean << (spread.empty() ? "" : " ± " + spread)
           << "</td>";
      if (!study.baseline.empty() && measure.rfind("test ", 0) == 0) {
        std::string delta = table.shown_cell(c, column + 2);
        std::string low = table.shown_cell(c, column + 3), high = table.shown_cell(c, column + 4);
        bool self = cell.baseline && *cell.baseline == c;
        html << "<td class=\"number\">"
             << (self ? std::string("(baseline)")
                      : delta + (low.empty() ? "" : " [" + low + ", " + high + "]"))
             << "</td>";
      }
    }
    html << "<td>";
    for (size_t run : cell.runs) {
      if (!study.runs[run].finished()) {
        html << analysis::escape_xml(study.runs[run].name + " (" + study.runs[run].state +
                                     ") ");
      }
    }
    html << "</td></tr>\n";
  }
  html << "</table></div>\n";
  return html.str();
}

// More networks than this make the κ matrix of every network a collapsed section.
constexpr size_t kLargeMatrix = 12;

// The κ heatmap `file` at its own size (cells of 36 px and more), scrolling sideways when wider
// than the page.
std::string kappa_figure(const std::string& file, const std::string& alt) {
  return "<div class=\"scroll\"><figure><a href=\"" + file + "\"><img src=\"" + file +
         "\" class=\"heatmap natural\" alt=\"" + alt + "\"></a></figure></div>\n";
}

// The κ section of a directory report, when at least two networks have recorded predictions:
// with a study whose cells have replicates, first κ per pair of cells (the mean over their runs'
// pairs), then κ of every network, a study's runs labelled by cell and seed.
// @param records (label, path) of every record; @param cells the study's cell labels
std::string consistency_html(const analysis::Study* study, const std::vector<std::string>& cells,
                             std::vector<std::pair<std::string, std::string>> records,
                             const fs::path& directory) {
  std::map<std::string, size_t> cell_of;  // record path → its cell
  if (study != nullptr) {
    std::map<std::string, std::string> label_of;  // record path → "<cell>, seed=<seed>"
    for (size_t r = 0; r < study->runs.size(); ++r) {
      const analysis::StudyRun& run = study->runs[r];
      if (std::optional<size_t> cell = study->cell_of(r)) {
        cell_of[run.path] = *cell;
        label_of[run.path] = cells[*cell] + ", seed=" + std::to_string(run.seed);
      }
    }
    for (auto& [label, path] : records) {
      if (auto found = label_of.find(path); found != label_of.end()) label = found->second;
    }
  }
  std::vector<analysis::PredictionSource> sources = analysis::prediction_sources(records);
  if (sources.size() < 2) return "";
  analysis::ConsistencyMatrix matrix = analysis::consistency_matrix(sources);
  write_file_checked(directory / "consistency.svg",
                     analysis::render_svg(analysis::consistency_heatmap(matrix)));
  write_csv_file(analysis::consistency_table(matrix), (directory / "consistency.csv").string());
  std::ostringstream html;
  html << "<h2>Error consistency</h2>\n<p>Cohen's κ of per-example test correctness between "
          "every two networks (targets, and guides whose predictions are recorded): 0 = no "
          "more agreement than their accuracies imply, 1 = the same errors.</p>\n";
  if (study != nullptr && has_replicates(*study)) {
    // One group per cell's targets, then one per cell's guides (ordered so by the map's keys).
    auto key_of = [&](const analysis::PredictionSource& source) {
      auto cell = cell_of.find(source.record);
      return std::pair{source.network == record_schema::kGuide,
                       cell == cell_of.end() ? cells.size() : cell->second};
    };
    std::map<std::pair<bool, size_t>, size_t> groups;
    for (const auto& source : sources) groups.emplace(key_of(source), 0);
    std::vector<std::string> labels;
    for (auto& [key, index] : groups) {
      index = labels.size();
      std::string cell = key.second < cells.size() ? cells[key.second] : "no cell";
      labels.push_back(key.first ? cell + " / guide" : cell);
    }
    std::vector<size_t> group_of;
    for (const auto& source : sources) group_of.push_back(groups.at(key_of(source)));
    analysis::GroupConsistency by_cell = analysis::group_consistency(matrix, labels, group_of);
    write_file_checked(directory / "consistency-cells.svg",
                       analysis::render_svg(analysis::group_consistency_heatmap(by_cell)));
    write_csv_file(analysis::group_consistency_table(by_cell),
                   (directory / "consistency-cells.csv").string());
    html << "<p>Per cell: the mean κ ± sample std over every pair of two networks, one of each "
            "cell (on the diagonal, two seeds of the same cell), and how many pairs; a cell's "
            "guides are a group of their own. "
            "<a href=\"consistency-cells.csv\">consistency-cells.csv</a></p>\n"
         << kappa_figure("consistency-cells.svg", "error consistency per cell");
  }
  std::string every = kappa_figure("consistency.svg", "error consistency") +
                      "<p><a href=\"consistency.csv\">consistency.csv</a></p>\n";
  if (sources.size() > kLargeMatrix) {
    html << "<details><summary>Every network (" << sources.size() << " × " << sources.size()
         << ")</summary>\n" << every << "</details>\n";
  } else {
    html << every;
  }
  return html.str();
}

int consistency(const Arguments& arguments, std::ostream& out) {
  if (arguments.second.empty()) {
    fs::path target = arguments.first;
    if (!fs::is_directory(target)) {
      throw UsageError("expected two records or one directory, got '" +
                       target.string() + "'");
    }
    std::vector<analysis::PredictionSource> sources =
        analysis::prediction_sources(labelled(records_below(target)));
    if (sources.size() < 2) {
      throw RunError("consistency: fewer than two networks with recorded predictions below " +
                     target.string());
    }
    analysis::ConsistencyMatrix matrix = analysis::consistency_matrix(sources);
    fs::path directory = out_or(arguments, target.string());
    std::error_code error;
    fs::create_directories(directory, error);
    if (error)
      throw RunError("consistency: cannot create " + directory.string() + ": " + error.message());
    Table table = analysis::consistency_table(matrix);
    analysis::write_csv(table, out);
    analysis::write_csv_file(table, (directory / "consistency.csv").string());
    write_file_checked(directory / "consistency.svg",
                       analysis::render_svg(analysis::consistency_heatmap(matrix)));
    out << "wrote " << (directory / "consistency.svg").string() << " and "
        << (directory / "consistency.csv").string() << "\n";
    return 0;
  }
  const std::string& side = arguments.side;
  const std::string& side_b = arguments.side_b.empty() ? side : arguments.side_b;
  RecordReader a = open_record(arguments.first);
  RecordReader b = open_record(arguments.second);
  std::string what = a.path() + " " + side + " and " + b.path() + " " + side_b;
  analysis::Kappa kappa =
      analysis::error_consistency(a.predictions(side), b.predictions(side_b), what);
  out << "error consistency of " << what << ":\n"
      << "  kappa     " << analysis::format_number(kappa.kappa) << "\n"
      << "  observed  " << analysis::format_number(kappa.observed)
      << "  (fraction of agreeing outcomes)\n"
      << "  expected  " << analysis::format_number(kappa.expected)
      << "  (p1 p2 + (1 - p1)(1 - p2))\n"
      << "  accuracy  " << analysis::format_number(kappa.p1) << " / "
      << analysis::format_number(kappa.p2) << "\n"
      << "  compared  " << kappa.count << "\n";
  return 0;
}

// The plugins that declare the records' metric ranges; none (with a message) when they cannot be
// loaded: the reports are then drawn over the data's ranges.
PluginCatalog report_plugins(const std::function<PluginCatalog()>& load_plugins, std::ostream& err) {
  try {
    return load_plugins();
  } catch (const GuidanceError& error) {
    err << "guidance analyze: no metric plugins, heatmaps use their data's range: " << error.what()
        << "\n";
    return PluginCatalog();
  }
}

int report(const Arguments& arguments, const std::function<PluginCatalog()>& load_plugins,
           std::ostream& out, std::ostream& err) {
  fs::path target = arguments.first;
  if (!fs::exists(target)) throw UsageError("no such record or directory: " + target.string());
  if (!fs::is_directory(target)) {
    fs::path directory = out_or(arguments, (target.parent_path() / "report").string());
    RecordReader record(target.string());
    std::string folder = fs::absolute(target).parent_path().filename().string();
    analysis::write_run_report(record, run_label(record, folder), directory.string(),
                               similarity_scales(record, report_plugins(load_plugins, err)));
    out << "wrote " << (directory / "index.html").string() << "\n";
    return 0;
  }
  fs::path directory = out_or(arguments, (target / "report").string());
  std::vector<std::pair<std::string, std::string>> records = records_below(target);
  if (records.empty()) throw RunError("report: no *.h5 records below " + target.string());
  PluginCatalog catalog = report_plugins(load_plugins, err);
  std::vector<analysis::ReportedRun> runs;
  std::vector<std::string> reported;  // the record of each of `runs`
  int status = 0;
  for (const auto& [name, path] : records) {
    try {
      RecordReader record(path);
      runs.push_back(analysis::write_run_report(record, run_label(record, name),
                                                (directory / name).string(),
                                                similarity_scales(record, catalog)));
      runs.back().report = name + "/" + runs.back().report;
      reported.push_back(path);
    } catch (const GuidanceError& error) {
      // One unreadable record should not hide the report of the others.
      err << "guidance analyze: skipped " << path << ": " << error.what() << "\n";
      status = 1;
    }
  }
  std::optional<analysis::Study> study = report_study(target, records, err);
  std::vector<std::string> cells;
  std::vector<analysis::RunGroup> groups;
  std::string sections;
  std::vector<std::pair<std::string, std::string>> labels = labelled(records);
  if (study) {
    cells = analysis::cell_labels(*study);
    std::map<std::string, std::string> label_of;
    for (size_t r = 0; r < records.size(); ++r) label_of[records[r].first] = labels[r].first;
    sections = study_table_html(*study, cells, label_of, directory);
    for (size_t c = 0; c < study->cells.size(); ++c) {
      analysis::RunGroup group{cells[c], {}};
      for (size_t run : study->cells[c].runs) {
        auto written = std::find(reported.begin(), reported.end(), study->runs[run].path);
        if (written != reported.end()) group.runs.push_back(written - reported.begin());
      }
      if (!group.runs.empty()) groups.push_back(std::move(group));
    }
  }
  sections += consistency_html(study ? &*study : nullptr, cells, labels, directory);
  analysis::write_directory_report(runs, groups, "Runs in " + target.string(), directory.string(),
                                   sections);
  out << "wrote " << (directory / "index.html").string() << " (" << runs.size() << " runs)\n";
  return status;
}

// When `metric` is no loaded metric's name: where the records' runs loaded plugins from that this
// catalog did not search, as --plugin-dir suggestions ("" when there is none).
std::string unloaded_plugin_hint(const std::string& metric,
                                 const std::vector<const RecordReader*>& records,
                                 const PluginCatalog& catalog) {
  for (const CatalogEntry* entry : catalog.find_any(metric)) {
    if (entry->plugin->kind() == PluginKind::Metric) return "";
  }
  std::set<std::string> searched;
  for (const auto& entry : catalog.entries()) {
    searched.insert(fs::path(entry.library_path).parent_path().string());
  }
  auto add_new = [](std::vector<std::string>& list, const std::string& item) {
    if (std::find(list.begin(), list.end(), item) == list.end()) list.push_back(item);
  };
  std::vector<std::string> paths, folders;
  for (const RecordReader* record : records) {
    add_new(paths, record->path());
    for (const RecordPlugin& plugin : record->plugins()) {
      std::string folder = fs::path(plugin.library).parent_path().string();
      if (!searched.count(folder)) add_new(folders, folder);
    }
  }
  if (folders.empty()) return "";
  std::string hint = "; the runs of " + quoted_list(paths) + " loaded plugins from " +
                     quoted_list(folders) + ", which are not searched now: add";
  for (const auto& folder : folders) hint += " --plugin-dir '" + folder + "'";
  return hint;
}

size_t snapshot_of(const RecordReader& record, const std::string& step) {
  if (step == "last") {
    std::vector<int64_t> steps = record.snapshot_steps();
    if (steps.empty()) throw RunError(record.path() + ": the record has no snapshots");
    return steps.size() - 1;
  }
  try {
    size_t used = 0;
    int64_t value = std::stoll(step, &used);
    if (used == step.size()) return record.snapshot_index(value);
  } catch (const std::logic_error&) {
    // Not a number: reported below as a usage error.
  }
  throw UsageError("--step must be a step number or 'last', not '" + step + "'");
}

int compare(const Arguments& arguments, const PluginCatalog& catalog, std::ostream& out) {
  const std::string& side = arguments.side;
  const std::string& side_b = arguments.side_b.empty() ? side : arguments.side_b;
  RecordReader a = open_record(arguments.first);
  RecordReader b = open_record(arguments.second);
  PluginChoice choice = [&] {
    try {
      return parse_plugin_choice(arguments.metric, PluginKind::Metric, catalog, "--metric");
    } catch (const ConfigError& error) {
      throw ConfigError(error.what() + unloaded_plugin_hint(arguments.metric, {&a, &b}, catalog));
    }
  }();
  const std::string& metric_name = choice.name;
  std::shared_ptr<Metric> metric = catalog.metric(metric_name)->create(choice.params);

  Table probe_a = a.probe(), probe_b = b.probe();
  if (probe_a.column("index").numbers != probe_b.column("index").numbers) {
    throw RunError("compare: " + a.path() + " and " + b.path() +
                   " were recorded on different probe sets (probe/indices differ), so their "
                   "activations cannot be compared example by example");
  }
  const std::string& step = arguments.step;
  size_t snapshot_a = snapshot_of(a, step), snapshot_b = snapshot_of(b, step);
  const auto& taps_a =
      side == record_schema::kTarget ? a.layout().target_taps : a.layout().guide_taps;
  const auto& taps_b =
      side_b == record_schema::kTarget ? b.layout().target_taps : b.layout().guide_taps;
  if (taps_a.empty() || taps_b.empty()) {
    throw RunError("compare: " + (taps_a.empty() ? a.path() : b.path()) + " has no " +
                   (taps_a.empty() ? side : side_b) + " taps");
  }

  analysis::SimilarityMatrix matrix;
  matrix.metric = metric_name;
  matrix.rows = fs::path(a.path()).parent_path().filename().string() + "/" +
                fs::path(a.path()).filename().string() + " " + side;
  matrix.columns = fs::path(b.path()).parent_path().filename().string() + "/" +
                   fs::path(b.path()).filename().string() + " " + side_b;
  matrix.row_labels = taps_a;
  matrix.column_labels = taps_b;
  matrix.step = a.snapshot_steps()[snapshot_a];
  // One tap of each record in memory at a time: paper-sized activations do not fit all at once.
  for (const auto& tap_a : taps_a) {
    torch::Tensor x = a.activation(side, tap_a, snapshot_a);
    for (const auto& tap_b : taps_b) {
      torch::Tensor y = b.activation(side_b, tap_b, snapshot_b);
      matrix.values.push_back(similarity_matrix(*metric, {x}, {y})[0][0].item<double>());
    }
  }

  fs::path directory = out_or(arguments, ".");
  std::error_code error;
  fs::create_directories(directory, error);
  if (error) throw RunError("compare: cannot create " + directory.string() + ": " + error.message());
  std::string stem = "compare-" + metric_name + "-" + side + (side_b == side ? "" : "-" + side_b);
  std::optional<analysis::SimilarityScale> scale =
      analysis::similarity_scale(catalog.metric(metric_name)->traits(), metric_name);
  analysis::Heatmap heatmap = analysis::heatmap_of(matrix, scale ? &*scale : nullptr);
  heatmap.title = metric_name + ": " + side + " taps" +
                  (side_b == side ? std::string() : " vs " + side_b + " taps") + ", step " +
                  std::to_string(a.snapshot_steps()[snapshot_a]) + " vs step " +
                  std::to_string(b.snapshot_steps()[snapshot_b]);
  std::ofstream svg(directory / (stem + ".svg"), std::ios::binary);
  svg << analysis::render_svg(heatmap);
  svg.flush();
  if (!svg) throw RunError("compare: cannot write " + (directory / (stem + ".svg")).string());
  Table table = analysis::matrix_table(matrix);
  analysis::write_csv_file(table, (directory / (stem + ".csv")).string());

  out << metric_name << " similarity, rows " << a.path() << " (step "
      << a.snapshot_steps()[snapshot_a] << "), columns " << b.path() << " (step "
      << b.snapshot_steps()[snapshot_b] << "):\n";
  analysis::write_csv(table, out);
  bool shared = false;
  for (size_t i = 0; i < taps_a.size(); ++i) {
    auto found = std::find(taps_b.begin(), taps_b.end(), taps_a[i]);
    if (found == taps_b.end()) continue;
    if (!shared) out << "layer by layer:\n";
    shared = true;
    out << "  " << taps_a[i] << ": "
        << analysis::format_number(matrix.at(i, static_cast<size_t>(found - taps_b.begin())))
        << "\n";
  }
  out << "wrote " << (directory / (stem + ".svg")).string() << " and "
      << (directory / (stem + ".csv")).string() << "\n";
  return 0;
}

Table provenance_table(const RecordReader& record) {
  Table table;
  table.columns = {{"field", {}, {}}, {"value", {}, {}}};
  for (const auto& [field, value] : record.provenance()) {
    table.columns[0].texts.push_back(field);
    table.columns[1].texts.push_back(value);
  }
  return table;
}

Table named_table(const RecordReader& record, const std::string& name) {
  if (name == "training") return record.training();
  if (name == "evaluation") return record.evaluation();
  if (name == "final_measures") return analysis::final_measures(record.training(), record.evaluation(), record.best_step());
  if (name == "probe") return record.probe();
  if (name == "provenance") return provenance_table(record);
  if (name.rfind("similarity/", 0) == 0) {
    std::string rest = name.substr(std::string("similarity/").size());
    std::string step = "last";
    size_t at = rest.find('@');
    if (at != std::string::npos) {
      step = rest.substr(at + 1);
      rest = rest.substr(0, at);
    }
    size_t slash = rest.find('/');
    if (slash == std::string::npos) {
      throw UsageError("a similarity table is similarity/METRIC/WHICH[@STEP], not '" +
                       name + "'");
    }
    return analysis::matrix_table(
        record.similarity(rest.substr(0, slash), rest.substr(slash + 1), snapshot_of(record, step)));
  }
  throw UsageError("unknown table '" + name +
                   "' (tables: training, evaluation, final_measures, probe, provenance, "
                   "similarity/METRIC/WHICH[@STEP])");
}

int export_table(const Arguments& arguments, std::ostream& out) {
  RecordReader record = open_record(arguments.first);
  Table table = named_table(record, arguments.second);
  if (arguments.csv == "-") {
    analysis::write_csv(table, out);
  } else {
    analysis::write_csv_file(table, arguments.csv);
  }
  return 0;
}

}  // namespace

void add_analyze_command(CLI::App& parent, std::function<PluginCatalog()> load_plugins,
                         std::ostream& out, std::ostream& err) {
  CLI::App& analyze = *parent.add_subcommand(
      "analyze", "offline analysis of run records: reports, similarity, kappa, tables");
  analyze.require_subcommand(1);
  analyze.footer(
      "Reads run records (HDF5, docs/record-format.md) offline. 'guidance analyze COMMAND --help'\n"
      "describes one command.\n\n"
      "exit codes: 0 success, 2 usage error (unknown command or option, missing file), 1 failure\n"
      "while analysing");
  const std::vector<std::string> sides = {record_schema::kTarget, record_schema::kGuide};

  auto report_arguments = std::make_shared<Arguments>();
  CLI::App& report_command = add_command(
      analyze, "report",
      "HTML report of one run, or of every record below DIR plus an index\n"
      "comparing them (SVG curves and heatmaps, CSV tables; offline)",
      [report_arguments, load_plugins, &out, &err] {
        return report(*report_arguments, load_plugins, out, err);
      });
  report_command
      .add_option("RUN.h5|DIR", report_arguments->first,
                  "one record: writes OUT/index.html; a directory: one report per record below it "
                  "in OUT/<run>/ and OUT/index.html comparing the runs")
      ->required();
  report_command.add_option("--out", report_arguments->out,
                            "where to write the reports (default: report/ beside the record, "
                            "DIR/report for a directory)")
      ->type_name("OUT");
  report_command.footer(
      "Heatmap colours span the range each metric's plugin declares (plugins are searched as for\n"
      "'guidance run': --plugin-dir, GUIDANCE_PLUGIN_PATH, the built-in folder); a metric whose\n"
      "plugin is not found is drawn over its matrix's own values, as its heatmaps say.");

  auto compare_arguments = std::make_shared<Arguments>();
  CLI::App& compare_command = add_command(
      analyze, "compare",
      "recompute the similarity of every tap of A with every tap of B from\n"
      "their stored activations with a metric plugin; a heatmap (SVG), CSV",
      [compare_arguments, load_plugins, &out] {
        return compare(*compare_arguments, load_plugins(), out);
      });
  compare_command.add_option("A.h5", compare_arguments->first, "the record of the rows")->required();
  compare_command.add_option("B.h5", compare_arguments->second, "the record of the columns")
      ->required();
  compare_command
      .add_option("--metric", compare_arguments->metric,
                  "any metric plugin (see 'guidance plugins'), with its default parameters, or a "
                  "TOML table with parameters, e.g. '{ plugin = \"cca\", weighting = \"pwcca\" }'")
      ->type_name("NAME|TABLE")
      ->required();
  compare_command
      .add_option("--step", compare_arguments->step,
                  "the snapshot step, present in both records (default: each one's last)")
      ->type_name("N|last");
  compare_command.add_option("--side", compare_arguments->side,
                             "whose taps to compare: target (default) or guide")
      ->type_name("S")
      ->check(one_of(sides));
  compare_command
      .add_option("--side-b", compare_arguments->side_b,
                  "whose taps of B (default: as --side), e.g. an unguided target's taps against "
                  "a guided run's guide: A.h5 B.h5 --side-b guide")
      ->type_name("S")
      ->check(one_of(sides));
  compare_command.add_option("--out", compare_arguments->out,
                             "where to write compare-<metric>-<side>[-<side-b>].svg/.csv "
                             "(default: .)")
      ->type_name("DIR");
  compare_command.footer(
      "Both records must have the same probe set. Prints the matrix and, for taps of the same\n"
      "name in both, the layer-by-layer similarity.");

  auto consistency_arguments = std::make_shared<Arguments>();
  CLI::App& consistency_command = add_command(
      analyze, "consistency",
      "error consistency (Cohen's kappa of per-example test correctness) of\n"
      "two runs, or the kappa matrix of every network recorded below DIR",
      [consistency_arguments, &out] { return consistency(*consistency_arguments, out); });
  consistency_command
      .add_option("A.h5|DIR", consistency_arguments->first,
                  "a record, or a directory: every target and guide with predictions below it "
                  "(prints the kappa matrix as CSV, writes OUT/consistency.svg and "
                  "consistency.csv)")
      ->required();
  consistency_command.add_option("B.h5", consistency_arguments->second,
                                 "the record to compare A.h5 with");
  consistency_command.add_option("--side", consistency_arguments->side,
                                 "network of A (and of B unless --side-b): target (default) or "
                                 "guide")
      ->type_name("S")
      ->check(one_of(sides));
  consistency_command.add_option("--side-b", consistency_arguments->side_b,
                                 "network of B, e.g. A.h5 A.h5 --side-b guide: a target against "
                                 "its own guide")
      ->type_name("S")
      ->check(one_of(sides));
  consistency_command.add_option("--out", consistency_arguments->out,
                                 "where a directory's matrix goes (default: DIR)")
      ->type_name("OUT");
  consistency_command.footer(
      "Error consistency (Geirhos et al. 2020): kappa = (c_obs - c_exp) / (1 - c_exp),\n"
      "c_exp = p1 p2 + (1 - p1)(1 - p2), over the examples both recorded in predictions/<network>\n"
      "(per-token tasks: the positions both score).");

  auto export_arguments = std::make_shared<Arguments>();
  CLI::App& export_command = add_command(
      analyze, "export", "write a table of a record as CSV (to stdout without --csv)",
      [export_arguments, &out] { return export_table(*export_arguments, out); });
  export_command
      .add_option("RUN.h5", export_arguments->first, "the record")->required();
  export_command
      .add_option("TABLE", export_arguments->second,
                  "training | evaluation | final_measures | probe | provenance | "
                  "similarity/METRIC/WHICH[@STEP|@last] (WHICH: guide_target, target_target, "
                  "guide_guide; default @last)")
      ->required();
  export_command.add_option("--csv", export_arguments->csv, "write there instead of stdout")
      ->type_name("FILE");
  export_command.footer("");
}

}  // namespace guidance
