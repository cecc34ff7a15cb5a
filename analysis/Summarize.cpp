#include "analysis/Summarize.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "analysis/Pivot.h"
#include "analysis/Study.h"
#include "analysis/SummaryTables.h"
#include "analysis/SummaryText.h"
#include "analysis/Svg.h"
#include "analysis/Table.h"
#include "host/common/CommandLine.h"
#include "host/common/Errors.h"
#include "host/common/Suggest.h"

namespace guidance::analysis {

namespace fs = std::filesystem;

namespace {

// @return the settings of an option's "KEY=VALUE[,KEY=VALUE...]".
// @throws UsageError naming the option when a part is not KEY=VALUE
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

// Writes `text` to `path`; throws RunError naming the path when it cannot.
void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.flush();
  if (!out) throw RunError("cannot write " + path.string());
}

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
