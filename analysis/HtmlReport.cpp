#include "analysis/HtmlReport.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "analysis/Statistics.h"
#include "analysis/Svg.h"
#include "host/common/Errors.h"
#include "host/recording/RecordSchema.h"

namespace guidance::analysis {

namespace fs = std::filesystem;

namespace {

const std::set<std::string> kEvaluationKeys = {record_schema::kStep, record_schema::kEpoch,
                                               record_schema::kSplit, record_schema::kLoss};

void write_text(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
  out.flush();
  if (!out) throw RunError("cannot write " + path.string());
}

std::vector<std::string> measure_names(const Table& evaluation) {
  std::vector<std::string> names;
  for (const auto& column : evaluation.columns) {
    if (kEvaluationKeys.count(column.name) == 0) names.push_back(column.name);
  }
  return names;
}

// The splits evaluated during training (not the final "best/..." rows), in order of appearance.
std::vector<std::string> splits_of(const Table& evaluation) {
  std::vector<std::string> splits;
  if (!evaluation.has(record_schema::kSplit)) return splits;
  for (const auto& split : evaluation.column(record_schema::kSplit).texts) {
    if (record_schema::is_final_split(split)) continue;
    if (std::find(splits.begin(), splits.end(), split) == splits.end()) splits.push_back(split);
  }
  return splits;
}

// y against step for the rows of `table` whose split is `split` (all rows when split is empty).
Series series_of(const Table& table, const std::string& column, const std::string& name,
                 const std::string& split = "") {
  Series series{name, {}, {}};
  const auto& steps = table.column(record_schema::kStep).numbers;
  const auto& values = table.column(column).numbers;
  for (size_t row = 0; row < table.rows(); ++row) {
    if (!split.empty() && table.column(record_schema::kSplit).texts[row] != split) continue;
    series.x.push_back(steps[row]);
    series.y.push_back(values[row]);
  }
  return series;
}

std::string html_table(const Table& table, const std::vector<std::string>& links = {}) {
  std::ostringstream html;
  html << "<div class=\"scroll\"><table>\n<tr>";
  for (const auto& column : table.columns) html << "<th>" << escape_xml(column.name) << "</th>";
  html << "</tr>\n";
  for (size_t row = 0; row < table.rows(); ++row) {
    html << "<tr>";
    for (size_t c = 0; c < table.columns.size(); ++c) {
      std::string cell = escape_xml(table.shown_cell(row, c));
      if (c == 0 && row < links.size()) {
        cell = "<a href=\"" + escape_xml(links[row]) + "\">" + cell + "</a>";
      }
      html << (table.columns[c].is_text() ? "<td>" : "<td class=\"number\">") << cell << "</td>";
    }
    html << "</tr>\n";
  }
  html << "</table></div>\n";
  return html.str();
}

std::string page_start(const std::string& title) {
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" +
         escape_xml(title) +
         "</title>\n<style>\n"
         "body { font-family: Helvetica, Arial, sans-serif; margin: 2em; color: #222; }\n"
         "h1, p, li, figcaption { overflow-wrap: anywhere; }\n"
         "table { border-collapse: collapse; }\n"
         ".scroll { overflow-x: auto; margin: 0.5em 0 1.5em; }\n"
         "th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }\n"
         "td { white-space: nowrap; }\n"
         "td.number { text-align: right; font-variant-numeric: tabular-nums; }\n"
         "th { background: #f3f3f3; }\n"
         "figure { display: inline-block; margin: 0 1em 1em 0; vertical-align: top; "
         "max-width: 100%; }\n"
         "figure img { max-width: 100%; }\n"
         "figure img.natural { max-width: none; }\n"
         ".chart { display: inline-block; vertical-align: top; max-width: 100%; }\n"
         "summary { cursor: pointer; color: #444; margin: 0 0 0.5em; }\n"
         ".strip { white-space: nowrap; overflow-x: auto; }\n"
         ".strip figure { white-space: normal; }\n"
         "pre { background: #f7f7f7; padding: 1em; overflow-x: auto; }\n"
         "</style>\n</head>\n<body>\n<h1>" +
         escape_xml(title) + "</h1>\n";
}

// A run report shows at most this many snapshots per matrix, spread evenly from first to last.
constexpr size_t kMostSnapshotsShown = 8;

// @return at most `most` indices of [0, count), evenly spread, always with the first and last.
std::vector<size_t> spread_indices(size_t count, size_t most) {
  std::vector<size_t> indices;
  if (count <= most) {
    for (size_t i = 0; i < count; ++i) indices.push_back(i);
    return indices;
  }
  for (size_t i = 0; i < most; ++i) indices.push_back(i * (count - 1) / (most - 1));
  return indices;
}

std::string figure(const std::string& file, const std::string& caption) {
  return "<figure><img src=\"" + escape_xml(file) + "\" alt=\"" + escape_xml(caption) +
         "\"><figcaption>" + escape_xml(caption) + "</figcaption></figure>\n";
}

// A picture linking to its SVG: opened alone, an SVG shows its tooltips (an <img> does not).
std::string linked_figure(const std::string& file, const std::string& caption,
                          const std::string& image_class = "") {
  return "<figure><a href=\"" + escape_xml(file) + "\"><img src=\"" + escape_xml(file) + "\"" +
         (image_class.empty() ? "" : " class=\"" + image_class + "\"") + " alt=\"" +
         escape_xml(caption) + "\"></a><figcaption>" + escape_xml(caption) +
         "</figcaption></figure>\n";
}

// A heatmap shown at its own size (cells of 36 px or more) up to the page's width, linking to the
// full-size SVG.
std::string heatmap_figure(const std::string& file, const std::string& caption) {
  return linked_figure(file, caption, "heatmap");
}

// The (guide row, target column) cells of the layer pairs "guide.<g>->target.<t>" of a guide ×
// target matrix.
std::vector<std::pair<size_t, size_t>> pair_cells(const std::vector<std::string>& pairs,
                                                  const SimilarityMatrix& matrix) {
  const std::string guide = "guide.", arrow = "->target.";
  std::vector<std::pair<size_t, size_t>> cells;
  for (const auto& pair : pairs) {
    size_t split = pair.find(arrow);
    if (pair.rfind(guide, 0) != 0 || split == std::string::npos) continue;
    std::string row = pair.substr(guide.size(), split - guide.size());
    std::string column = pair.substr(split + arrow.size());
    auto r = std::find(matrix.row_labels.begin(), matrix.row_labels.end(), row);
    auto c = std::find(matrix.column_labels.begin(), matrix.column_labels.end(), column);
    if (r == matrix.row_labels.end() || c == matrix.column_labels.end()) continue;
    cells.emplace_back(r - matrix.row_labels.begin(), c - matrix.column_labels.begin());
  }
  return cells;
}

// The steps of a table's rows widened to [low, high].
void widen_to_steps(const Table& table, double& low, double& high) {
  for (double step : table.column(record_schema::kStep).numbers) {
    low = std::min(low, step);
    high = std::max(high, step);
  }
}

// Keys "<split> <column>" of a final-measures table, flattened into one row per run.
std::vector<std::pair<std::string, double>> flatten(const Table& finals) {
  std::vector<std::pair<std::string, double>> values;
  for (size_t row = 0; row < finals.rows(); ++row) {
    const std::string& split = finals.column(record_schema::kSplit).texts[row];
    for (const auto& column : finals.columns) {
      if (column.is_text() || column.name == record_schema::kStep ||
          std::isnan(column.numbers[row])) {
        continue;
      }
      values.emplace_back(split + " " + column.name, column.numbers[row]);
    }
  }
  return values;
}

// The weights a final-measures table's evaluation rows are of ("" when it has none).
std::string evaluated_weights(const Table& finals) {
  for (size_t row = 0; row < finals.rows(); ++row) {
    if (finals.column(record_schema::kSplit).texts[row] != "training") {
      return finals.column("weights").texts[row];
    }
  }
  return "";
}

}  // namespace

Table final_measures(const Table& training, const Table& evaluation, int64_t best_step) {
  std::vector<std::string> measures = measure_names(evaluation);
  Table finals;
  finals.columns.push_back({record_schema::kSplit, {}, {}});
  finals.columns.push_back({"weights", {}, {}});
  for (const char* name : {record_schema::kStep, record_schema::kLoss, "guidance_loss"}) {
    finals.columns.push_back({name, {}, {}});
  }
  for (const auto& measure : measures) finals.columns.push_back({measure, {}, {}});
  auto add_row = [&](const std::string& split, const std::string& weights, double step,
                     double loss, double guidance, const std::vector<double>& values) {
    finals.columns[0].texts.push_back(split);
    finals.columns[1].texts.push_back(weights);
    finals.columns[2].numbers.push_back(step);
    finals.columns[3].numbers.push_back(loss);
    finals.columns[4].numbers.push_back(guidance);
    for (size_t m = 0; m < values.size(); ++m) finals.columns[5 + m].numbers.push_back(values[m]);
  };
  if (training.rows() > 0) {
    double step = training.column(record_schema::kStep).numbers.back();
    add_row("training", "last (step " + format_number(step) + ")", step,
            training.column("task_loss").numbers.back(),
            training.column("guidance_loss").numbers.back(),
            std::vector<double>(measures.size(), kNaN));
  }
  const FinalEvaluationRows chosen = final_evaluation_rows(evaluation);
  for (const auto& [split, row] : chosen.rows) {
    std::vector<double> values;
    for (const auto& measure : measures) values.push_back(evaluation.column(measure).numbers[row]);
    double step = evaluation.column(record_schema::kStep).numbers[row];
    std::string weights = chosen.best_weights
                              ? "best validation (step " + std::to_string(best_step) + ")"
                              : "at step " + format_number(step);
    // The table names a final row as the record does ("best/test"), beside its weights.
    add_row(chosen.best_weights ? record_schema::kFinalSplitPrefix + split : split, weights, step,
            evaluation.column(record_schema::kLoss).numbers[row], kNaN, values);
  }
  return finals;
}

ReportedRun write_run_report(const RecordReader& record, const std::string& name,
                            const std::string& directory, const SimilarityScales& scales) {
  fs::path out(directory);
  std::error_code error;
  fs::create_directories(out, error);
  if (error) throw RunError("cannot create the report directory " + directory + ": " + error.message());

  ReportedRun summary;
  summary.name = name;
  summary.report = "index.html";
  summary.state = to_string(record.state());
  summary.training = record.training();
  summary.evaluation = record.evaluation();
  summary.final_measures = final_measures(summary.training, summary.evaluation, record.best_step());
  const Table& training = summary.training;
  const Table& evaluation = summary.evaluation;

  std::vector<std::string> csv_files = {"training.csv", "evaluation.csv", "final_measures.csv"};
  write_csv_file(training, (out / "training.csv").string());
  write_csv_file(evaluation, (out / "evaluation.csv").string());
  write_csv_file(summary.final_measures, (out / "final_measures.csv").string());

  std::ostringstream html;
  html << page_start("Run " + name);
  html << "<p>Record <code>" << escape_xml(record.path()) << "</code>, state <b>"
       << escape_xml(summary.state) << "</b>, " << training.rows() << " training steps recorded.</p>\n";
  html << "<h2>Final measures</h2>\n<p>Column <i>weights</i> says which weights each row "
          "evaluates: the last step's, or those of the best validation step reloaded after "
          "training.</p>\n"
       << html_table(summary.final_measures);

  // Every training plot spans the same steps, so their x axes line up.
  double first_step = std::numeric_limits<double>::infinity(), last_step = -first_step;
  widen_to_steps(training, first_step, last_step);
  widen_to_steps(evaluation, first_step, last_step);
  LineChart losses{"Losses", "step", "loss", {}, first_step, last_step};
  for (const char* column : {"total_loss", "task_loss", "guidance_loss"}) {
    losses.series.push_back(series_of(training, column, column));
  }
  for (const auto& split : splits_of(evaluation)) {
    losses.series.push_back(series_of(evaluation, record_schema::kLoss, split + " loss", split));
  }
  write_text(out / "loss.svg", render_svg(losses));
  html << "<h2>Training</h2>\n" << figure("loss.svg", "Training losses and evaluation loss");

  LineChart measures{"Evaluation measures", "step", "value", {}, first_step, last_step};
  for (const auto& split : splits_of(evaluation)) {
    for (const auto& measure : measure_names(evaluation)) {
      measures.series.push_back(series_of(evaluation, measure, split + " " + measure, split));
    }
  }
  write_text(out / "measures.svg", render_svg(measures));
  html << figure("measures.svg", "Evaluation measures (e.g. accuracy) per split");

  if (!record.layout().pair_names.empty()) {
    LineChart distances{"Distance per layer pair", "step", "distance", {}, first_step, last_step};
    for (const auto& pair : record.layout().pair_names) {
      distances.series.push_back(series_of(training, "distance " + pair, pair));
    }
    write_text(out / "pair_distance.svg", render_svg(distances));
    html << figure("pair_distance.svg", "Guidance distance of each mapped layer pair");
  }

  std::vector<int64_t> steps = record.snapshot_steps();
  if (!steps.empty()) {
    std::vector<size_t> shown = spread_indices(steps.size(), kMostSnapshotsShown);
    html << "<h2>Similarity over training</h2>\n<p>" << steps.size() << " snapshot"
         << (steps.size() == 1 ? "" : "s");
    if (shown.size() < steps.size()) html << ", " << shown.size() << " of them shown";
    html << "; click a heatmap for its full-size picture; each heatmap's values are also in a "
            "CSV file below.</p>\n";
    for (const auto& metric : record.layout().metrics) {
      auto scale = scales.find(metric);
      for (const auto& [rows, columns] :
           record_schema::similarity_sides(!record.layout().guide_taps.empty())) {
        std::string which = record_schema::similarity_name(rows, columns);
        std::vector<size_t> snapshots = shown;
        // The guide is frozen: its own matrix is shown once when every snapshot has the same.
        bool frozen = false;
        if (which == record_schema::similarity_name(record_schema::kGuide, record_schema::kGuide)) {
          std::vector<double> first = record.similarity(metric, which, 0).values;
          frozen = true;
          for (size_t snapshot = 1; snapshot < steps.size() && frozen; ++snapshot) {
            frozen = record.similarity(metric, which, snapshot).values == first;
          }
          if (frozen) snapshots = {steps.size() - 1};
        }
        html << "<div class=\"strip\">\n";
        for (size_t snapshot : snapshots) {
          SimilarityMatrix matrix = record.similarity(metric, which, snapshot);
          std::string stem =
              "similarity-" + metric + "-" + which + "-step" + std::to_string(matrix.step);
          Heatmap heatmap = heatmap_of(matrix, scale == scales.end() ? nullptr : &scale->second);
          if (rows == std::string(record_schema::kGuide) && columns == std::string(record_schema::kTarget)) {
            heatmap.outlined = pair_cells(record.layout().pair_names, matrix);
            heatmap.outline_label = "the guided layer pairs";
          }
          write_text(out / (stem + ".svg"), render_svg(heatmap));
          write_csv_file(matrix_table(matrix), (out / (stem + ".csv")).string());
          csv_files.push_back(stem + ".csv");
          std::string caption = metric + ": " + matrix.rows + " × " + matrix.columns;
          caption += frozen ? ", the same at every snapshot (the guide is frozen)"
                            : " at step " + std::to_string(matrix.step);
          html << heatmap_figure(stem + ".svg", caption);
        }
        html << "</div>\n";
      }
    }
  }

  Table provenance;
  provenance.columns = {{"field", {}, {}}, {"value", {}, {}}};
  for (const auto& [field, value] : record.provenance()) {
    provenance.columns[0].texts.push_back(field);
    provenance.columns[1].texts.push_back(value);
  }
  html << "<h2>Provenance</h2>\n" << html_table(provenance);
  html << "<h2>Config</h2>\n<pre>" << escape_xml(record.config()) << "</pre>\n";
  try {
    write_csv_file(record.probe(), (out / "probe.csv").string());
    csv_files.push_back("probe.csv");
  } catch (const RunError&) {
    // A run killed before it wrote its probe set has none; the report shows what exists.
  }
  html << "<h2>Data</h2>\n<ul>\n";
  for (const auto& file : csv_files) {
    html << "<li><a href=\"" << escape_xml(file) << "\">" << escape_xml(file) << "</a></li>\n";
  }
  html << "</ul>\n</body>\n</html>\n";
  write_text(out / "index.html", html.str());
  return summary;
}

std::optional<SimilarityScale> similarity_scale(const MetricTraits& traits,
                                                const std::string& plugin) {
  if (!std::isfinite(traits.lower) || !std::isfinite(traits.upper)) return std::nullopt;
  SimilarityScale scale;
  if (traits.sense == MetricSense::Similarity) {
    scale.low = traits.lower;
    scale.high = traits.upper;
  } else {
    scale.high = traits.upper - traits.lower;
  }
  scale.source = "colours: the range " + plugin + " declares, [" + format_number(scale.low) +
                 ", " + format_number(scale.high) + "]";
  return scale;
}

Heatmap heatmap_of(const SimilarityMatrix& matrix, const SimilarityScale* scale) {
  Heatmap heatmap;
  heatmap.title = matrix.metric + " at step " + std::to_string(matrix.step);
  heatmap.row_title = matrix.rows + " taps";
  heatmap.column_title = matrix.columns + " taps";
  heatmap.row_labels = matrix.row_labels;
  heatmap.column_labels = matrix.column_labels;
  heatmap.values = matrix.values;
  heatmap.scale_label = matrix.metric + " similarity";
  if (scale != nullptr) {
    heatmap.low = scale->low;
    heatmap.high = scale->high;
    heatmap.note = scale->source;
    return heatmap;
  }
  heatmap.low = std::numeric_limits<double>::infinity();
  heatmap.high = -heatmap.low;
  for (double value : matrix.values) {
    if (std::isnan(value)) continue;
    heatmap.low = std::min(heatmap.low, value);
    heatmap.high = std::max(heatmap.high, value);
  }
  if (!(heatmap.low < heatmap.high)) {
    heatmap.low = std::isfinite(heatmap.low) ? heatmap.low - 0.5 : 0.0;
    heatmap.high = heatmap.low + 1.0;
  }
  heatmap.note = "colours: this matrix's own range (no loaded metric plugin declares the range "
                 "of '" + matrix.metric + "')";
  return heatmap;
}

Table matrix_table(const SimilarityMatrix& matrix) {
  Table table;
  table.columns.push_back({matrix.rows + " \\ " + matrix.columns, {}, matrix.row_labels});
  for (size_t c = 0; c < matrix.column_labels.size(); ++c) {
    Table::Column column{matrix.column_labels[c], {}, {}};
    for (size_t r = 0; r < matrix.row_labels.size(); ++r) column.numbers.push_back(matrix.at(r, c));
    table.columns.push_back(std::move(column));
  }
  return table;
}

Series mean_curve(const std::vector<const Series*>& members, const std::string& label) {
  std::map<double, std::vector<double>> at;
  for (const Series* member : members) {
    for (size_t i = 0; i < member->x.size() && i < member->y.size(); ++i) {
      if (std::isfinite(member->x[i]) && std::isfinite(member->y[i]))
        at[member->x[i]].push_back(member->y[i]);
    }
  }
  Series curve;
  std::vector<std::string> changes;
  size_t fewest = members.size(), most = 0, previous = 0;
  for (const auto& [step, ys] : at) {
    double centre = mean(ys), spread = sample_std(ys);
    curve.x.push_back(step);
    curve.y.push_back(centre);
    curve.low.push_back(centre - spread);
    curve.high.push_back(centre + spread);
    fewest = std::min(fewest, ys.size());
    most = std::max(most, ys.size());
    if (ys.size() != previous) {
      changes.push_back(std::to_string(ys.size()) + " from step " + format_number(step));
    }
    previous = ys.size();
  }
  std::string n = "n=" + std::to_string(at.empty() ? 0 : most);
  std::string along = n;
  if (!at.empty() && fewest != most) {
    n = "n=" + std::to_string(fewest) + "–" + std::to_string(most);
    along = "n=";
    for (size_t c = 0; c < changes.size(); ++c) along += (c ? ", " : "") + changes[c];
  }
  curve.group = label + " (" + n + ")";
  curve.name = label + ": mean ± std over its runs, " + along;
  return curve;
}

void write_directory_report(const std::vector<ReportedRun>& runs,
                            const std::vector<RunGroup>& groups, const std::string& title,
                            const std::string& directory, const std::string& sections) {
  fs::path out(directory);
  std::error_code error;
  fs::create_directories(out, error);
  if (error) throw RunError("cannot create the report directory " + directory + ": " + error.message());

  Table table;
  table.columns = {{"run", {}, {}}, {"state", {}, {}}, {"steps", {}, {}}, {"weights", {}, {}}};
  std::vector<std::string> keys;
  std::vector<std::vector<std::pair<std::string, double>>> values;
  for (const auto& run : runs) {
    values.push_back(flatten(run.final_measures));
    for (const auto& [key, value] : values.back()) {
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
    }
  }
  for (const auto& key : keys) table.columns.push_back({key, {}, {}});
  std::vector<std::string> links;
  for (size_t r = 0; r < runs.size(); ++r) {
    table.columns[0].texts.push_back(runs[r].name);
    table.columns[1].texts.push_back(runs[r].state);
    table.columns[2].numbers.push_back(static_cast<double>(runs[r].training.rows()));
    table.columns[3].texts.push_back(evaluated_weights(runs[r].final_measures));
    for (size_t k = 0; k < keys.size(); ++k) {
      double found = kNaN;
      for (const auto& [key, value] : values[r]) {
        if (key == keys[k]) found = value;
      }
      table.columns[4 + k].numbers.push_back(found);
    }
    links.push_back(runs[r].report);
  }
  write_csv_file(table, (out / "runs.csv").string());

  std::ostringstream html;
  html << page_start(title);
  html << "<p>" << runs.size() << " runs. Each run's name links to its own report; column "
          "<i>weights</i> says which weights its evaluation measures are of (the training "
          "columns are of the last step).</p>\n";
  html << "<h2>Final measures</h2>\n" << html_table(table, links)
       << "<p><a href=\"runs.csv\">runs.csv</a></p>\n" << sections;

  // Every run in a group: those the caller grouped, each other one alone.
  std::vector<RunGroup> cells = groups;
  for (size_t r = 0; r < runs.size(); ++r) {
    bool grouped = std::any_of(cells.begin(), cells.end(), [&](const RunGroup& group) {
      return std::find(group.runs.begin(), group.runs.end(), r) != group.runs.end();
    });
    if (!grouped) cells.push_back({runs[r].name, {r}});
  }
  const bool averaged = std::any_of(cells.begin(), cells.end(),
                                    [](const RunGroup& group) { return group.runs.size() > 1; });
  html << "<h2>Curves</h2>\n";
  if (averaged) {
    html << "<p>One curve per cell (runs that differ only in their seed): at each step the mean "
            "of the cell's runs that have a value there, with a band of ± 1 sample standard "
            "deviation over them; n in the legend is how many runs a curve averages. Under "
            "each chart, a collapsed section draws its runs one by one. Click a chart to open it "
            "alone: there, hovering a line names its run, or where a mean's n changes.</p>\n";
  }
  // One step axis for every chart: that of the longest run.
  double first_step = std::numeric_limits<double>::infinity(), last_step = -first_step;
  for (const auto& run : runs) {
    widen_to_steps(run.training, first_step, last_step);
    widen_to_steps(run.evaluation, first_step, last_step);
  }
  auto overlay = [&](const std::string& file, const std::string& chart_title,
                     const std::string& y_label, auto pick) {
    LineChart each{chart_title, "step", y_label, {}, first_step, last_step};
    for (const auto& run : runs) {
      Series series = pick(run);
      series.name = run.name;
      each.series.push_back(std::move(series));
    }
    if (!averaged) {
      write_text(out / file, render_svg(each));
      html << figure(file, chart_title);
      return;
    }
    LineChart means{chart_title, "step", y_label, {}, first_step, last_step};
    std::vector<Series> lines;
    for (const auto& cell : cells) {
      std::vector<const Series*> members;
      for (size_t r : cell.runs) members.push_back(&each.series[r]);
      means.series.push_back(mean_curve(members, cell.label));
      for (size_t r : cell.runs) {
        lines.push_back(each.series[r]);
        lines.back().group = cell.label;
        lines.back().width = 1.0;
      }
    }
    each.title = chart_title + ": each run";
    each.series = std::move(lines);
    std::string runs_file = file.substr(0, file.size() - 4) + "-runs.svg";
    write_text(out / file, render_svg(means));
    write_text(out / runs_file, render_svg(each));
    html << "<div class=\"chart\">"
         << linked_figure(file, chart_title + ": mean per cell, band ± 1 std over its runs")
         << "<details><summary>" << escape_xml(chart_title) << ": each run</summary>"
         << linked_figure(runs_file, chart_title + ": each run, coloured by its cell")
         << "</details></div>\n";
  };
  overlay("task_loss.svg", "Task loss", "loss",
          [](const ReportedRun& run) { return series_of(run.training, "task_loss", ""); });
  overlay("guidance_loss.svg", "Guidance loss", "loss",
          [](const ReportedRun& run) { return series_of(run.training, "guidance_loss", ""); });
  std::set<std::pair<std::string, std::string>> plotted;
  for (const auto& run : runs) {
    for (const auto& split : splits_of(run.evaluation)) {
      // The evaluation loss per split: train against validation shows over- or under-fitting.
      if (plotted.insert({split, "loss"}).second) {
        overlay(split + "-loss.svg", split + " loss", "loss", [&](const ReportedRun& other) {
          return series_of(other.evaluation, record_schema::kLoss, "", split);
        });
      }
      for (const auto& measure : measure_names(run.evaluation)) {
        if (!plotted.insert({split, measure}).second) continue;
        std::string file = split + "-" + measure + ".svg";
        std::replace(file.begin(), file.end(), '/', '-');  // "best/test": a split, not a folder
        overlay(file, split + " " + measure, measure,
                [&](const ReportedRun& other) {
                  if (!other.evaluation.has(measure)) return Series{};
                  return series_of(other.evaluation, measure, "", split);
                });
      }
    }
  }
  html << "</body>\n</html>\n";
  write_text(out / "index.html", html.str());
}

}  // namespace guidance::analysis
