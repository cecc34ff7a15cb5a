#include "analysis/Analyze.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>
#include <set>
#include <sstream>

#include <torch/torch.h>

#include "analysis/ErrorConsistency.h"
#include "analysis/HtmlReport.h"
#include "analysis/RecordReader.h"
#include "analysis/Summarize.h"
#include "analysis/Svg.h"
#include "analysis/Table.h"
#include "host/common/Errors.h"
#include "host/config/Config.h"
#include "host/representation/Similarity.h"

namespace guidance {

namespace fs = std::filesystem;
using analysis::RecordReader;
using analysis::Table;

namespace {

const char* const kUsage =
    "usage: guidance analyze <command> [options]\n"
    "\n"
    "Reads run records (HDF5, docs/record-format.md) offline. Commands:\n"
    "  report RUN.h5|DIR [--out DIR]\n"
    "      HTML report of one run, or of every record below DIR plus an index comparing them\n"
    "      (SVG curves and heatmaps, CSV tables; open index.html in a browser, offline).\n"
    "  compare A.h5 B.h5 --metric NAME|'{...}' [--step N|last] [--side target|guide] [--out DIR]\n"
    "      Recomputes the similarity of every tap of A with every tap of B from their stored\n"
    "      activations with a metric plugin; writes a heatmap (SVG) and the matrix (CSV).\n"
    "  consistency A.h5 B.h5 [--side target|guide] [--side-b target|guide]\n"
    "  consistency DIR [--out DIR]\n"
    "      Error consistency (Cohen's kappa of per-example test correctness) of two runs, or\n"
    "      the kappa matrix of every target and guide recorded below DIR (SVG heatmap, CSV).\n"
    "  export RUN.h5 TABLE [--csv FILE]\n"
    "      Writes a table as CSV (to stdout without --csv). TABLE is training, evaluation,\n"
    "      final_measures, probe, provenance or similarity/METRIC/WHICH[@STEP|@last], WHICH being\n"
    "      guide_target, target_target or guide_guide.\n"
    "\n"
    "'guidance analyze COMMAND --help' describes one command. Exit status: 0 success, 2 usage\n"
    "error (unknown command or option, missing file), 1 failure while analysing.\n";

const std::map<std::string, std::string> kCommandHelp = {
    {"report",
     "usage: guidance analyze report RUN.h5|DIR [--out DIR]\n"
     "  RUN.h5     one record: writes DIR/index.html (default: report/ beside the record)\n"
     "  DIR        every *.h5 record below DIR: one report per run in OUT/<run>/ and\n"
     "             OUT/index.html comparing the runs (default OUT: DIR/report)\n"
     "  --out DIR  where to write the reports\n"},
    {"compare",
     "usage: guidance analyze compare A.h5 B.h5 --metric NAME [--step N|last]\n"
     "                                [--side target|guide] [--out DIR]\n"
     "  --metric NAME  any metric plugin (see 'guidance plugins'), with its default parameters,\n"
     "                 or a TOML table with parameters, e.g. '{ plugin = \"cca\", weighting = \"pwcca\" }'\n"
     "  --step N|last  the snapshot step, present in both records (default: each one's last)\n"
     "  --side S       whose taps to compare: target (default) or guide\n"
     "  --out DIR      where to write compare-<metric>-<side>.svg/.csv (default: .)\n"
     "Both records must have the same probe set. Prints the matrix and, for taps of the same\n"
     "name in both, the layer-by-layer similarity.\n"},
    {"consistency",
     "usage: guidance analyze consistency A.h5 B.h5 [--side target|guide] [--side-b target|guide]\n"
     "       guidance analyze consistency DIR [--out DIR]\n"
     "  Error consistency (Geirhos et al. 2020): Cohen's kappa of the per-example test\n"
     "  correctness recorded in predictions/<network>, kappa = (c_obs - c_exp) / (1 - c_exp),\n"
     "  c_exp = p1 p2 + (1 - p1)(1 - p2), over the examples both recorded (per-token tasks: the\n"
     "  positions both score).\n"
     "  --side S    network of A (and of B unless --side-b): target (default) or guide\n"
     "  --side-b S  network of B, e.g. A.h5 A.h5 --side-b guide: a target against its own guide\n"
     "  DIR         every target and guide with predictions below DIR: prints the kappa matrix as\n"
     "              CSV and writes OUT/consistency.svg and consistency.csv (default OUT: DIR)\n"},
    {"export",
     "usage: guidance analyze export RUN.h5 TABLE [--csv FILE]\n"
     "  TABLE  training | evaluation | final_measures | probe | provenance |\n"
     "         similarity/METRIC/WHICH[@STEP|@last]  (WHICH: guide_target, target_target,\n"
     "         guide_guide; default @last)\n"
     "  --csv FILE  write there instead of stdout\n"},
};

// Positional arguments and --name value options of one command.
struct Arguments {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;
  bool help = false;
};

Arguments parse(const std::string& command, const std::vector<std::string>& args, size_t first,
                const std::set<std::string>& option_names) {
  Arguments parsed;
  for (size_t i = first; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      parsed.help = true;
    } else if (arg.rfind("--", 0) == 0) {
      std::string name = arg.substr(2);
      std::string value;
      size_t equals = name.find('=');
      if (equals != std::string::npos) {
        value = name.substr(equals + 1);
        name = name.substr(0, equals);
      } else if (option_names.count(name) && i + 1 < args.size()) {
        value = args[++i];
      } else if (option_names.count(name)) {
        throw UsageError(command + ": option --" + name + " needs a value");
      }
      if (option_names.count(name) == 0) {
        std::string known;
        for (const auto& option : option_names) known += " --" + option;
        throw UsageError(command + ": unknown option --" + name +
                         (known.empty() ? " (it takes none)" : " (options:" + known + ")"));
      }
      parsed.options[name] = value;
    } else {
      parsed.positional.push_back(arg);
    }
  }
  return parsed;
}

void require_positional(const std::string& command, const Arguments& arguments, size_t count,
                        const std::string& what) {
  if (arguments.positional.size() != count) {
    throw UsageError(command + ": expected " + what + ", got " +
                     std::to_string(arguments.positional.size()) + " arguments");
  }
}

std::string option(const Arguments& arguments, const std::string& name,
                   const std::string& fallback) {
  auto found = arguments.options.find(name);
  return found == arguments.options.end() ? fallback : found->second;
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

std::vector<std::pair<std::string, std::string>> records_below(const fs::path& directory) {
  std::vector<fs::path> records;
  for (const auto& entry : fs::recursive_directory_iterator(directory)) {
    if (entry.is_regular_file() && entry.path().extension() == ".h5")
      records.push_back(entry.path());
  }
  std::sort(records.begin(), records.end());
  std::vector<std::pair<std::string, std::string>> named;
  for (const auto& path : records) named.emplace_back(run_name(path, directory), path.string());
  return named;
}

void write_file_checked(const fs::path& path, const std::string& text) {
  std::ofstream file(path, std::ios::binary);
  file << text;
  file.flush();
  if (!file) throw RunError("cannot write " + path.string());
}

// The study table and the kappa matrix of a directory report, as HTML, when the directory is a
// study (runs that differ in settings) or has recorded predictions.
std::string study_sections(const fs::path& target, const fs::path& directory, std::ostream& err) {
  std::ostringstream html;
  bool has_runs = false;
  for (const auto& [name, path] : records_below(target))
    has_runs |= fs::path(path).filename() == "run.h5";
  try {
    if (!has_runs) throw RunError("no run.h5 records");
    analysis::Study study = analysis::load_study(target.string());
    if (!study.axes.empty()) {
      Table table = analysis::study_table(study);
      write_csv_file(table, (directory / "summary.csv").string());
      html << "<h2>Study</h2>\n<p>" << study.runs.size() << " runs in " << study.cells.size()
           << " cells (axes: ";
      for (size_t a = 0; a < study.axes.size(); ++a)
        html << (a ? ", " : "") << analysis::escape_xml(study.axes[a]);
      html << "; replicates: run.seed). Mean ± std over finished runs";
      if (!study.baseline.empty()) html << ", Δ to each cell's baseline with a 95 % Welch CI";
      html << "; failed or unfinished runs are flagged, not averaged. "
              "<a href=\"summary.csv\">summary.csv</a></p>\n<table>\n<tr>";
      for (const auto& axis : study.axes) html << "<th>" << analysis::escape_xml(axis) << "</th>";
      html << "<th>runs</th>";
      for (const auto& measure : study.measures) {
        html << "<th>" << analysis::escape_xml(measure) << "</th>";
        if (!study.baseline.empty() && measure.rfind("test ", 0) == 0)
          html << "<th>Δ " << analysis::escape_xml(measure) << " [95% CI]</th>";
      }
      html << "<th>flagged</th></tr>\n";
      for (size_t c = 0; c < study.cells.size(); ++c) {
        const analysis::StudyCell& cell = study.cells[c];
        html << "<tr>";
        for (const auto& setting : cell.settings)
          html << "<td>" << analysis::escape_xml(setting.second) << "</td>";
        html << "<td>";
        size_t finished = 0;
        for (size_t run : cell.runs) finished += study.runs[run].finished();
        html << finished << "/" << cell.runs.size() << ":";
        for (size_t run : cell.runs) {
          const std::string& name = study.runs[run].name;
          html << " <a href=\"" << analysis::escape_xml(name) << "/index.html\">"
               << analysis::escape_xml(name) << "</a>";
        }
        html << "</td>";
        std::vector<analysis::Setting> settings = cell.settings;
        for (const auto& measure : study.measures) {
          size_t column = 0;
          for (; column < table.columns.size(); ++column) {
            if (table.columns[column].name == measure + " mean") break;
          }
          std::string mean = table.cell(c, column), spread = table.cell(c, column + 1);
          html << "<td class=\"number\">" << mean << (spread.empty() ? "" : " ± " + spread)
               << "</td>";
          if (!study.baseline.empty() && measure.rfind("test ", 0) == 0) {
            std::string delta = table.cell(c, column + 2);
            std::string low = table.cell(c, column + 3), high = table.cell(c, column + 4);
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
      html << "</table>\n";
    }
  } catch (const GuidanceError& error) {
    if (has_runs) err << "guidance analyze: no study table: " << error.what() << "\n";
  }
  std::vector<analysis::PredictionSource> sources =
      analysis::prediction_sources(records_below(target));
  if (sources.size() >= 2) {
    analysis::ConsistencyMatrix matrix = analysis::consistency_matrix(sources);
    write_file_checked(directory / "consistency.svg",
                       analysis::render_svg(analysis::consistency_heatmap(matrix)));
    write_csv_file(analysis::consistency_table(matrix), (directory / "consistency.csv").string());
    html << "<h2>Error consistency</h2>\n<p>Cohen's κ of per-example test correctness between "
            "every two networks (targets, and guides whose predictions are recorded): 0 = no "
            "more agreement than their accuracies imply, 1 = the same errors. "
            "<a href=\"consistency.csv\">consistency.csv</a></p>\n"
         << "<figure><img src=\"consistency.svg\" alt=\"error consistency\"></figure>\n";
  }
  return html.str();
}

int consistency(const Arguments& arguments, std::ostream& out) {
  if (arguments.positional.size() == 1) {
    fs::path target = arguments.positional[0];
    if (!fs::is_directory(target)) {
      throw UsageError("consistency: expected two records or one directory, got '" +
                       target.string() + "'");
    }
    std::vector<analysis::PredictionSource> sources =
        analysis::prediction_sources(records_below(target));
    if (sources.size() < 2) {
      throw RunError("consistency: fewer than two networks with recorded predictions below " +
                     target.string());
    }
    analysis::ConsistencyMatrix matrix = analysis::consistency_matrix(sources);
    fs::path directory = option(arguments, "out", target.string());
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
  require_positional("consistency", arguments, 2, "two records or one directory");
  std::string side = option(arguments, "side", "target");
  std::string side_b = option(arguments, "side-b", side);
  for (const auto& value : {side, side_b}) {
    if (value != "target" && value != "guide") {
      throw UsageError("consistency: --side and --side-b take target or guide, not '" + value +
                       "'");
    }
  }
  RecordReader a = open_record(arguments.positional[0]);
  RecordReader b = open_record(arguments.positional[1]);
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

int report(const Arguments& arguments, std::ostream& out, std::ostream& err) {
  require_positional("report", arguments, 1, "one record or directory");
  fs::path target = arguments.positional[0];
  if (!fs::exists(target)) throw UsageError("report: no such record or directory: " + target.string());
  if (!fs::is_directory(target)) {
    fs::path directory = option(arguments, "out", (target.parent_path() / "report").string());
    RecordReader record(target.string());
    analysis::write_run_report(record, target.stem().string(), directory.string());
    out << "wrote " << (directory / "index.html").string() << "\n";
    return 0;
  }
  fs::path directory = option(arguments, "out", (target / "report").string());
  std::vector<fs::path> records;
  for (const auto& entry : fs::recursive_directory_iterator(target)) {
    if (entry.is_regular_file() && entry.path().extension() == ".h5") records.push_back(entry.path());
  }
  std::sort(records.begin(), records.end());
  if (records.empty()) throw RunError("report: no *.h5 records below " + target.string());
  std::vector<analysis::RunSummary> runs;
  int status = 0;
  for (const auto& path : records) {
    std::string name = run_name(path, target);
    try {
      RecordReader record(path.string());
      runs.push_back(analysis::write_run_report(record, name, (directory / name).string()));
    } catch (const GuidanceError& error) {
      // One unreadable record should not hide the report of the others.
      err << "guidance analyze: skipped " << path.string() << ": " << error.what() << "\n";
      status = 1;
    }
  }
  analysis::write_directory_report(runs, "Runs in " + target.string(), directory.string(),
                                   study_sections(target, directory, err));
  out << "wrote " << (directory / "index.html").string() << " (" << runs.size() << " runs)\n";
  return status;
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
  require_positional("compare", arguments, 2, "two records");
  std::string metric_text = option(arguments, "metric", "");
  if (metric_text.empty()) throw UsageError("compare: --metric NAME is required");
  std::string side = option(arguments, "side", "target");
  if (side != "target" && side != "guide") {
    throw UsageError("compare: --side must be target or guide, not '" + side + "'");
  }
  RecordReader a = open_record(arguments.positional[0]);
  RecordReader b = open_record(arguments.positional[1]);
  PluginChoice choice = parse_plugin_choice(metric_text, PluginKind::Metric, catalog, "--metric");
  const std::string& metric_name = choice.name;
  std::shared_ptr<Metric> metric = catalog.metric(metric_name)->create(choice.params);

  Table probe_a = a.probe(), probe_b = b.probe();
  if (probe_a.column("index").numbers != probe_b.column("index").numbers) {
    throw RunError("compare: " + a.path() + " and " + b.path() +
                   " were recorded on different probe sets (probe/indices differ), so their "
                   "activations cannot be compared example by example");
  }
  std::string step = option(arguments, "step", "last");
  size_t snapshot_a = snapshot_of(a, step), snapshot_b = snapshot_of(b, step);
  const auto& taps_a = side == "target" ? a.layout().target_taps : a.layout().guide_taps;
  const auto& taps_b = side == "target" ? b.layout().target_taps : b.layout().guide_taps;
  if (taps_a.empty() || taps_b.empty()) {
    throw RunError("compare: " + (taps_a.empty() ? a.path() : b.path()) + " has no " + side +
                   " taps");
  }

  analysis::SimilarityMatrix matrix;
  matrix.metric = metric_name;
  matrix.rows = fs::path(a.path()).parent_path().filename().string() + "/" +
                fs::path(a.path()).filename().string() + " " + side;
  matrix.columns = fs::path(b.path()).parent_path().filename().string() + "/" +
                   fs::path(b.path()).filename().string() + " " + side;
  matrix.row_labels = taps_a;
  matrix.column_labels = taps_b;
  matrix.step = a.snapshot_steps()[snapshot_a];
  // One tap of each record in memory at a time: paper-sized activations do not fit all at once.
  for (const auto& tap_a : taps_a) {
    torch::Tensor x = a.activation(side, tap_a, snapshot_a);
    for (const auto& tap_b : taps_b) {
      torch::Tensor y = b.activation(side, tap_b, snapshot_b);
      matrix.values.push_back(similarity_matrix(*metric, {x}, {y})[0][0].item<double>());
    }
  }

  fs::path directory = option(arguments, "out", ".");
  std::error_code error;
  fs::create_directories(directory, error);
  if (error) throw RunError("compare: cannot create " + directory.string() + ": " + error.message());
  std::string stem = "compare-" + metric_name + "-" + side;
  analysis::Heatmap heatmap = analysis::heatmap_of(matrix);
  heatmap.title = metric_name + ": " + side + " taps, step " +
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
      throw UsageError("export: a similarity table is similarity/METRIC/WHICH[@STEP], not '" +
                       name + "'");
    }
    return analysis::matrix_table(
        record.similarity(rest.substr(0, slash), rest.substr(slash + 1), snapshot_of(record, step)));
  }
  throw UsageError("export: unknown table '" + name +
                   "' (tables: training, evaluation, final_measures, probe, provenance, "
                   "similarity/METRIC/WHICH[@STEP])");
}

int export_table(const Arguments& arguments, std::ostream& out) {
  require_positional("export", arguments, 2, "a record and a table name");
  RecordReader record = open_record(arguments.positional[0]);
  Table table = named_table(record, arguments.positional[1]);
  std::string file = option(arguments, "csv", "-");
  if (file == "-") {
    analysis::write_csv(table, out);
  } else {
    analysis::write_csv_file(table, file);
  }
  return 0;
}

}  // namespace

int analyze_main(const std::vector<std::string>& args, const PluginCatalog& catalog,
                 std::ostream& out, std::ostream& err) {
  try {
    if (args.empty()) {
      err << kUsage;
      return 2;
    }
    const std::string& command = args[0];
    if (command == "--help" || command == "-h" || command == "help") {
      out << kUsage;
      return 0;
    }
    if (kCommandHelp.count(command) == 0) {
      throw UsageError("unknown command '" + command +
                       "' (commands: report, compare, consistency, export)");
    }
    const std::map<std::string, std::set<std::string>> options = {
        {"report", {"out"}},
        {"compare", {"metric", "step", "side", "out"}},
        {"consistency", {"side", "side-b", "out"}},
        {"export", {"csv"}}};
    Arguments arguments = parse(command, args, 1, options.at(command));
    if (arguments.help) {
      out << kCommandHelp.at(command);
      return 0;
    }
    if (command == "report") return report(arguments, out, err);
    if (command == "compare") return compare(arguments, catalog, out);
    if (command == "consistency") return consistency(arguments, out);
    return export_table(arguments, out);
  } catch (const UsageError& error) {
    err << "guidance analyze: " << error.what() << "\n(see 'guidance analyze --help')\n";
    return 2;
  } catch (const ConfigError& error) {
    err << "guidance analyze: " << error.what() << "\n";
    return 2;
  } catch (const std::exception& error) {
    err << "guidance analyze: " << error.what() << "\n";
    return 1;
  }
}

}  // namespace guidance
