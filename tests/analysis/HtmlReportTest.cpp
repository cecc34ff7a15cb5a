#include <cmath>
#include <filesystem>
#include <map>
#include <regex>
#include <set>

#include "analysis/HtmlReport.h"
#include "analysis/Svg.h"
#include "analysis/Table.h"
#include "tests/analysis/StudyRecords.h"
#include "tests/host/recording/SyntheticRecord.h"
#include "tests/support/GuidanceInProcess.h"
#include "tests/support/TestSupport.h"

namespace guidance {
namespace {

namespace fs = std::filesystem;
using testing::TemporaryDirectory;

testing::CommandResult report(const std::string& what, const std::string& out) {
  return testing::run_guidance_here({"analyze", "report", what, "--out", out});
}

// Writes a synthetic guided run of `steps` steps (a snapshot every 10) and reports it.
// @return the report's folder
std::string report_of_synthetic_run(const TemporaryDirectory& directory, int64_t steps) {
  std::string record = directory.file("run.h5");
  testing::write_synthetic_run(record, steps, 10);
  std::string out = directory.file("report");
  testing::CommandResult result = report(record, out);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  return out;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

size_t occurrences(const std::string& text, const std::string& part) {
  size_t count = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++count;
  return count;
}

// The x-axis tick labels of a line chart (the labels just below its plot), with their x.
std::set<std::string> x_ticks(const std::string& svg) {
  std::set<std::string> ticks;
  std::regex tick("<text x=\"([0-9.]+)\" y=\"358\\.00\" text-anchor=\"middle\">([^<]*)</text>");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), tick); it != std::sregex_iterator();
       ++it) {
    ticks.insert((*it)[1].str() + " " + (*it)[2].str());
  }
  return ticks;
}

class HtmlReportTest : public testing::SeededTest {};

TEST_F(HtmlReportTest, HeatmapsUseTheMetricsDeclaredRangeDivergingWhenSigned) {
  TemporaryDirectory directory;
  RecordLayout layout = testing::synthetic_layout();
  // linear-cka declares [0, 1], rsa [-1, 1]; the config stores rsa's matrices as "signed"; no
  // plugin is called "mystery".
  layout.metrics = {"linear-cka", "signed", "mystery"};
  Provenance provenance = testing::synthetic_provenance();
  provenance.config_toml +=
      "[record]\nmetrics = [\"linear-cka\", { plugin = \"rsa\", name = \"signed\" }, \"mystery\"]\n";
  std::string record = directory.file("run.h5");
  testing::write_synthetic_run(record, 20, 10, layout, 1.0, 24, provenance);
  std::string out = directory.file("report");
  testing::CommandResult result = report(record, out);
  ASSERT_EQ(result.exit_code, 0) << result.err;

  std::string cka = testing::read_file(out + "/similarity-linear-cka-guide_target-step20.svg");
  EXPECT_TRUE(contains(cka, "the range linear-cka declares, [0, 1]")) << cka;
  EXPECT_TRUE(contains(cka, "stop-color=\"" + analysis::viridis(0.5) + "\""));
  EXPECT_FALSE(contains(cka, analysis::diverging(0.5)));

  std::string rsa = testing::read_file(out + "/similarity-signed-guide_target-step20.svg");
  EXPECT_TRUE(contains(rsa, "the range rsa declares, [-1, 1]")) << rsa;
  EXPECT_TRUE(contains(rsa, "stop-color=\"" + analysis::diverging(0.5) + "\"")) << "white at 0";
  EXPECT_TRUE(contains(rsa, ">-1.0<")) << "the scale reaches the declared lower end";

  std::string mystery = testing::read_file(out + "/similarity-mystery-guide_target-step20.svg");
  EXPECT_TRUE(contains(mystery, "this matrix&#39;s own range")) << mystery;
  EXPECT_TRUE(contains(mystery, "no loaded metric plugin declares the range of &#39;mystery&#39;"));
}

TEST_F(HtmlReportTest, GuidedPairsAreOutlinedAndCellValuesPrintedInReadableCells) {
  TemporaryDirectory directory;
  std::string out = report_of_synthetic_run(directory, 20);

  std::string guide_target =
      testing::read_file(out + "/similarity-linear-cka-guide_target-step20.svg");
  // Three pairs, each a white and a black outline; conv1 is row 0, fc1 column 0.
  EXPECT_EQ(occurrences(guide_target, "class=\"outline\""), 6u) << guide_target;
  EXPECT_TRUE(contains(guide_target, "outlined: the guided layer pairs"));
  std::smatch cell;
  ASSERT_TRUE(std::regex_search(guide_target, cell,
                                std::regex("<rect x=\"[0-9.]+\" y=\"[0-9.]+\" width=\"([0-9.]+)\"")));
  EXPECT_GE(std::stod(cell[1].str()), 36.0) << "cells wide enough for their values";
  EXPECT_EQ(occurrences(guide_target, "font-size=\"10\""), 12u) << "every value printed";
  std::string target_target =
      testing::read_file(out + "/similarity-linear-cka-target_target-step20.svg");
  EXPECT_EQ(occurrences(target_target, "class=\"outline\""), 0u);

  std::string html = testing::read_file(out + "/index.html");
  EXPECT_TRUE(contains(html, "<a href=\"similarity-linear-cka-guide_target-step20.svg\"><img src="))
      << "each heatmap links to its full-size picture";
}

TEST_F(HtmlReportTest, TheFrozenGuidesMatrixIsShownOnceAndAChangingOneAtEverySnapshot) {
  TemporaryDirectory directory;
  // The synthetic guide's activations are the same at every snapshot, like a frozen guide's.
  std::string frozen = directory.file("frozen/run.h5");
  testing::write_synthetic_run(frozen, 30, 10);
  ASSERT_EQ(report(frozen, directory.file("frozen/report")).exit_code, 0);
  std::string html = testing::read_file(directory.file("frozen/report/index.html"));
  EXPECT_EQ(occurrences(html, "<img src=\"similarity-linear-cka-guide_guide-step"), 1u) << html;
  EXPECT_TRUE(contains(html, "<img src=\"similarity-linear-cka-guide_guide-step30.svg\""));
  EXPECT_TRUE(contains(html, "the same at every snapshot (the guide is frozen)"));
  EXPECT_EQ(occurrences(html, "<img src=\"similarity-linear-cka-guide_target-step"), 3u);

  // A guide whose activations change between snapshots keeps one heatmap per snapshot.
  std::string changing = directory.file("changing/run.h5");
  RecordLayout layout = testing::synthetic_layout();
  auto record = RunRecord::create(changing, testing::synthetic_provenance(), layout);
  record->write_probe(torch::arange(24), torch::arange(24) % 10);
  std::vector<std::shared_ptr<Metric>> metrics = {std::make_shared<testing::TestLinearCka>()};
  for (int64_t step = 1; step <= 20; ++step) {
    record->append_training(testing::synthetic_training_row(step, layout.pair_names.size()));
    if (step % 10 != 0) continue;
    testing::SyntheticActivations activations = testing::synthetic_activations(layout, 24, step);
    activations.guide[0] = torch::randn_like(activations.guide[0]);
    record->write_snapshot(step, activations.guide, activations.target, metrics);
  }
  record->finish(RecordState::Completed, "2024-01-01T01:00:00Z");
  record.reset();
  ASSERT_EQ(report(changing, directory.file("changing/report")).exit_code, 0);
  html = testing::read_file(directory.file("changing/report/index.html"));
  EXPECT_EQ(occurrences(html, "<img src=\"similarity-linear-cka-guide_guide-step"), 2u) << html;
  EXPECT_FALSE(contains(html, "the guide is frozen"));
}

TEST_F(HtmlReportTest, TablesShowFourDigitsAndScrollWhileTheCsvKeepsTen) {
  TemporaryDirectory directory;
  std::string out = report_of_synthetic_run(directory, 30);
  double top1 = testing::synthetic_evaluation_row(30).measures.at("top1");
  std::string html = testing::read_file(out + "/index.html");
  EXPECT_TRUE(contains(html, "<td class=\"number\">" + analysis::format_significant(top1) + "</td>"))
      << html;
  EXPECT_FALSE(contains(html, analysis::format_number(top1)));
  EXPECT_TRUE(contains(testing::read_file(out + "/final_measures.csv"),
                       analysis::format_number(top1)));
  EXPECT_TRUE(contains(html, "<div class=\"scroll\"><table>"));
  EXPECT_TRUE(contains(html, ".scroll { overflow-x: auto;"));
}

TEST_F(HtmlReportTest, EveryTrainingPlotOfAReportSharesOneStepAxis) {
  TemporaryDirectory directory;
  // Training rows from step 1, evaluations from step 10: one axis all the same.
  testing::write_synthetic_run(directory.file("runs/long/run.h5"), 40, 10);
  testing::write_synthetic_run(directory.file("runs/short/run.h5"), 20, 10);
  std::string out = directory.file("report");
  ASSERT_EQ(report(directory.file("runs"), out).exit_code, 0);
  std::set<std::string> run_axis = x_ticks(testing::read_file(out + "/long/loss.svg"));
  ASSERT_FALSE(run_axis.empty());
  for (const char* chart : {"long/measures.svg", "long/pair_distance.svg"}) {
    EXPECT_EQ(x_ticks(testing::read_file(out + "/" + chart)), run_axis) << chart;
  }
  std::set<std::string> directory_axis = x_ticks(testing::read_file(out + "/task_loss.svg"));
  EXPECT_EQ(directory_axis, run_axis) << "the longest run's steps";
  for (const char* chart : {"guidance_loss.svg", "validation-top1.svg", "validation-loss.svg"}) {
    EXPECT_EQ(x_ticks(testing::read_file(out + "/" + chart)), directory_axis) << chart;
  }
}

TEST_F(HtmlReportTest, RunLabelsKeepTheStudyFolderAndTheTableSaysWhichWeights) {
  TemporaryDirectory directory;
  Provenance provenance = testing::synthetic_provenance();
  provenance.config_toml = "[run]\nname = \"study/alpha=1\"\nseed = 7\n";
  testing::write_synthetic_run(directory.file("results/study/alpha=1/run.h5"), 20, 10,
                               testing::synthetic_layout(), 1.0, 24, provenance);
  // A record whose config names another folder is labelled by its own folder.
  testing::write_synthetic_run(directory.file("results/study/moved/run.h5"), 20, 10,
                               testing::synthetic_layout(), 1.0, 24, provenance);
  std::string out = directory.file("report");
  ASSERT_EQ(report(directory.file("results/study"), out).exit_code, 0);
  std::string html = testing::read_file(out + "/index.html");
  EXPECT_TRUE(contains(html, "<a href=\"alpha=1/index.html\">study/alpha=1</a>")) << html;
  EXPECT_TRUE(contains(html, "<a href=\"moved/index.html\">moved</a>"));
  EXPECT_TRUE(contains(html, "<th>weights</th>"));
  EXPECT_TRUE(contains(html, "<td>at step 20</td>")) << "the record has no best/ rows";
  EXPECT_TRUE(contains(testing::read_file(out + "/task_loss.svg"), ">study/alpha=1<"));

  std::string single = directory.file("single");
  ASSERT_EQ(report(directory.file("results/study/alpha=1/run.h5"), single).exit_code, 0);
  EXPECT_TRUE(contains(testing::read_file(single + "/index.html"), "<h1>Run study/alpha=1</h1>"));
}

// The lines of a chart in the order they are drawn: (tooltip, the line's Series::name; colour).
std::vector<std::pair<std::string, std::string>> lines_drawn(const std::string& svg) {
  std::vector<std::pair<std::string, std::string>> lines;
  std::regex line("<path d=\"[^\"]*\" fill=\"none\" stroke=\"(#[0-9a-f]{6})\"[^>]*><title>"
                  "([^<]*)</title>");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), line); it != std::sregex_iterator();
       ++it) {
    lines.emplace_back((*it)[2].str(), (*it)[1].str());
  }
  return lines;
}

// The stroke colour of each line of a chart, by its tooltip.
std::map<std::string, std::string> line_colours(const std::string& svg) {
  std::vector<std::pair<std::string, std::string>> lines = lines_drawn(svg);
  return {lines.begin(), lines.end()};
}

// The fill colours of a chart's bands, in the order they are drawn.
std::vector<std::string> band_colours(const std::string& svg) {
  std::vector<std::string> colours;
  std::regex band("<path class=\"band\" d=\"[^\"]*\" fill=\"(#[0-9a-f]{6})\"");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), band); it != std::sregex_iterator();
       ++it) {
    colours.push_back((*it)[1].str());
  }
  return colours;
}

// A legend entry of a line chart: where its text starts and what it shows.
struct LegendText {
  double x = 0, y = 0;
  std::string shown;
  std::string tooltip;  // the full entry when `shown` is cut
};

// The legend's texts: the only <text> elements with no attribute but their position.
std::vector<LegendText> legend_texts(const std::string& svg) {
  std::vector<LegendText> texts;
  std::regex entry("<text x=\"([0-9.]+)\" y=\"([0-9.]+)\" ?>(?:<title>([^<]*)</title>)?([^<]*)"
                   "</text>");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), entry); it != std::sregex_iterator();
       ++it) {
    texts.push_back({std::stod((*it)[1].str()), std::stod((*it)[2].str()), (*it)[4].str(),
                     (*it)[3].str()});
  }
  return texts;
}

// The width and height an SVG declares.
std::pair<double, double> svg_size(const std::string& svg) {
  std::smatch size;
  EXPECT_TRUE(std::regex_search(svg, size, std::regex("<svg [^>]*width=\"([0-9.]+)\" "
                                                      "height=\"([0-9.]+)\"")));
  return size.empty() ? std::pair{0.0, 0.0}
                      : std::pair{std::stod(size[1].str()), std::stod(size[2].str())};
}

// Every legend entry inside the picture, at the width the layout assumes for 11 px text (6.6 px a
// character): an entry drawn past the edge would be cut off unnoticed.
void expect_legend_inside(const std::string& svg, size_t entries) {
  auto [width, height] = svg_size(svg);
  std::vector<LegendText> texts = legend_texts(svg);
  EXPECT_EQ(texts.size(), entries);
  for (const auto& text : texts) {
    EXPECT_LE(text.x + 6.6 * static_cast<double>(analysis::text_width(text.shown)), width)
        << text.shown;
    EXPECT_LE(text.y, height) << text.shown;
  }
}

TEST(MeanCurve, EachStepAveragesTheRunsThatHaveAValueThereWithABandOfOneSampleStd) {
  analysis::Series a{"a", {0, 1, 2}, {1, 2, 3}};
  analysis::Series b{"b", {0, 1}, {3, std::nan("")}};
  analysis::Series c{"c", {0, 1, 2, 3}, {2, 4, 5, 6}};
  analysis::Series curve = analysis::mean_curve({&a, &b, &c}, "cell");
  // Step 0: {1, 3, 2}, mean 2, variance (1 + 1 + 0) / 2; steps 1 and 2: {2, 4} and {3, 5},
  // variance 2; step 3: c alone, no band.
  EXPECT_EQ(curve.x, (std::vector<double>{0, 1, 2, 3}));
  EXPECT_EQ(curve.y, (std::vector<double>{2, 3, 4, 6}));
  const std::vector<double> spread = {1, std::sqrt(2.0), std::sqrt(2.0)};
  ASSERT_EQ(curve.low.size(), 4u);
  ASSERT_EQ(curve.high.size(), 4u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(curve.low[i], curve.y[i] - spread[i], 1e-12) << i;
    EXPECT_NEAR(curve.high[i], curve.y[i] + spread[i], 1e-12) << i;
  }
  EXPECT_TRUE(std::isnan(curve.low[3]) && std::isnan(curve.high[3]));
  EXPECT_EQ(curve.group, "cell (n=1–3)");
  EXPECT_EQ(curve.name, "cell: mean ± std over its runs, n=3 from step 0, 2 from step 1, 1 from "
                        "step 3");
  analysis::Series d{"d", {0, 1, 2}, {0, 0, 0}};
  EXPECT_EQ(analysis::mean_curve({&a, &d}, "two").group, "two (n=2)");
}

// Three cells of two seeds: each chart draws one mean curve per cell with its band, in a colour of
// its own, n in the legend (fewer where a run is shorter); every run is in a collapsed chart
// below, in its cell's colour.
TEST_F(HtmlReportTest, AStudyOfThreeCellsOfTwoSeedsDrawsEachCellsMeanWithABand) {
  TemporaryDirectory directory;
  // Seed 0 of the first cell runs 40 steps, every other run 20.
  std::string study = testing::write_synthetic_study(
      directory.file("results"), 3, 2,
      [](int cell, int seed) { return cell == 1 && seed == 0 ? 40 : 20; });
  std::string out = directory.file("report");
  testing::CommandResult result = report(study, out);
  ASSERT_EQ(result.exit_code, 0) << result.err;

  std::string means = testing::read_file(out + "/task_loss.svg");
  EXPECT_EQ(occurrences(means, "<path d="), 3u) << "one curve per cell";
  EXPECT_TRUE(contains(means, ">learning_rate=0.2 (n=2)</text>")) << means;
  EXPECT_TRUE(contains(means, ">learning_rate=0.3 (n=2)</text>"));
  // The mean at a step is over the runs that reach it.
  EXPECT_TRUE(contains(means, ">learning_rate=0.1 (n=1–2)</text>"));
  expect_legend_inside(means, 3);
  std::map<std::string, std::string> cell_colour;  // "learning_rate=0.<c>" → its curve's colour
  std::vector<std::string> curve_colours;            // in the order the curves are drawn
  for (const auto& [tooltip, colour] : lines_drawn(means)) {
    cell_colour[tooltip.substr(0, tooltip.find(':'))] = colour;
    curve_colours.push_back(colour);
  }
  ASSERT_EQ(cell_colour.size(), 3u) << means;
  EXPECT_EQ(std::set<std::string>(curve_colours.begin(), curve_colours.end()).size(), 3u)
      << "a colour per cell";
  // A band wherever two runs have a value: each cell's, in its curve's colour.
  EXPECT_EQ(band_colours(means), curve_colours);

  std::string each = testing::read_file(out + "/task_loss-runs.svg");
  EXPECT_EQ(occurrences(each, "class=\"band\""), 0u);
  std::map<std::string, std::string> run_colour = line_colours(each);
  ASSERT_EQ(run_colour.size(), 6u) << each;
  for (int c = 1; c <= 3; ++c) {
    for (int seed = 0; seed < 2; ++seed) {
      std::string run = "study/rate=0." + std::to_string(c) + ",seed=" + std::to_string(seed);
      EXPECT_EQ(run_colour[run], cell_colour["learning_rate=0." + std::to_string(c)]) << run;
    }
  }
  std::set<std::string> legend;
  for (const auto& text : legend_texts(each)) legend.insert(text.shown);
  EXPECT_EQ(legend, (std::set<std::string>{"learning_rate=0.1", "learning_rate=0.2",
                                           "learning_rate=0.3"}))
      << "one legend entry per cell";

  std::string html = testing::read_file(out + "/index.html");
  EXPECT_TRUE(contains(html, "<details><summary>Task loss: each run</summary>")) << html;
  EXPECT_TRUE(contains(html, "<a href=\"validation-top1-runs.svg\"><img "
                             "src=\"validation-top1-runs.svg\""));
  EXPECT_TRUE(contains(html, "band ± 1 std over its runs"));
}

// Cells of one run each are drawn as before: a curve per run, named by its run.
TEST_F(HtmlReportTest, ADirectoryOfSingleRunCellsDrawsOneCurvePerRun) {
  TemporaryDirectory directory;
  std::string study = testing::write_synthetic_study(directory.file("results"), 3, 1,
                                                     [](int, int) { return 20; });
  std::string out = directory.file("report");
  testing::CommandResult result = report(study, out);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::string chart = testing::read_file(out + "/task_loss.svg");
  EXPECT_EQ(occurrences(chart, "<path d="), 3u);
  EXPECT_EQ(occurrences(chart, "class=\"band\""), 0u);
  EXPECT_TRUE(contains(chart, ">study/rate=0.2,seed=0</text>")) << chart;
  EXPECT_FALSE(fs::exists(out + "/task_loss-runs.svg"));
  EXPECT_FALSE(contains(testing::read_file(out + "/index.html"), "<details>"));
}

// Legend entries that fit the plot's height sit beside it, a long one cut with its full text as
// the tooltip; more go below the plot in columns. Either way every entry lies inside the picture.
TEST(SvgTest, EveryLegendEntryFitsTheChartBesideOrBelowThePlot) {
  const std::string long_label = "a label far too long for its column, " + std::string(120, 'x');
  analysis::LineChart few{"few", "step", "value", {}};
  for (int s = 0; s < 4; ++s) {
    few.series.push_back({"run " + std::to_string(s), {0, 1}, {0, double(s)}});
  }
  few.series.back().name = long_label;
  std::string beside = analysis::render_svg(few);
  expect_legend_inside(beside, 4);
  std::vector<LegendText> texts = legend_texts(beside);
  EXPECT_GT(texts.front().x, 520.0) << "right of the plot";
  EXPECT_EQ(texts.back().tooltip, long_label);
  EXPECT_EQ(texts.back().shown.substr(0, 20), long_label.substr(0, 20));
  EXPECT_EQ(texts.back().shown.substr(texts.back().shown.size() - 3), "…");

  analysis::LineChart many{"many", "step", "value", {}};
  for (int s = 0; s < 21; ++s) {
    many.series.push_back({"run number " + std::to_string(s), {0, 1}, {0, double(s)}});
  }
  many.series.back().name = long_label;
  std::string below = analysis::render_svg(many);
  expect_legend_inside(below, 21);
  texts = legend_texts(below);
  for (int s = 0; s < 20; ++s) EXPECT_EQ(texts[s].shown, "run number " + std::to_string(s));
  EXPECT_EQ(texts.back().tooltip, long_label);
  // Below the plot (whose bottom edge is at 340), in more than one column.
  std::set<double> columns;
  for (const auto& text : texts) {
    EXPECT_GT(text.y, 340.0) << text.shown;
    columns.insert(text.x);
  }
  EXPECT_GT(columns.size(), 1u);
}

// Groups take tab10's ten colours, then the same colours dashed, then dotted; the lines of one
// group share its colour and one legend entry.
TEST(SvgTest, GroupsShareAColourAndRepeatedColoursAreDashed) {
  analysis::LineChart chart{"many", "step", "value", {}};
  for (int s = 0; s < 21; ++s) {
    chart.series.push_back({"run " + std::to_string(s), {0, 1}, {0, double(s)}});
  }
  std::string svg = analysis::render_svg(chart);
  EXPECT_EQ(occurrences(svg, "stroke-dasharray=\"6 3\""), 20u) << "10 lines and their legend";
  EXPECT_EQ(occurrences(svg, "stroke-dasharray=\"1.5 2.5\""), 2u);

  analysis::LineChart grouped{"grouped", "step", "value", {}};
  for (int s = 0; s < 4; ++s) {
    analysis::Series series{"run " + std::to_string(s), {0, 1}, {0, double(s)}};
    series.group = s < 2 ? "first" : "second";
    grouped.series.push_back(series);
  }
  svg = analysis::render_svg(grouped);
  std::map<std::string, std::string> colours = line_colours(svg);
  ASSERT_EQ(colours.size(), 4u) << svg;
  EXPECT_EQ(colours["run 0"], colours["run 1"]);
  EXPECT_EQ(colours["run 2"], colours["run 3"]);
  EXPECT_NE(colours["run 0"], colours["run 2"]);
  std::vector<LegendText> legend = legend_texts(svg);
  ASSERT_EQ(legend.size(), 2u);
  EXPECT_EQ(legend[0].shown, "first");
  EXPECT_EQ(legend[1].shown, "second");
}

TEST(SvgTest, DivergingScaleIsWhiteAtTheMiddleAndSignificantDigitsKeepWholeNumbers) {
  EXPECT_EQ(analysis::diverging(0.0), "#053061");
  EXPECT_EQ(analysis::diverging(0.5), "#f7f7f7");
  EXPECT_EQ(analysis::diverging(1.0), "#67001f");
  EXPECT_EQ(analysis::format_significant(0.837912345), "0.8379");
  EXPECT_EQ(analysis::format_significant(12345.0), "12345");
  EXPECT_EQ(analysis::format_significant(1.26294e-5), "1.263e-05");
  EXPECT_EQ(analysis::format_significant(std::nan("")), "");

  // A signed scale puts 0 in the middle of the bar even when the range is lopsided.
  analysis::Heatmap heatmap;
  heatmap.row_labels = {"a"};
  heatmap.column_labels = {"b", "c"};
  heatmap.values = {0.0, -0.5};
  heatmap.low = -0.5;
  heatmap.high = 2.0;
  std::string svg = analysis::render_svg(heatmap);
  EXPECT_TRUE(contains(svg, "fill=\"" + analysis::diverging(0.5) + "\"")) << "0 is white";
  EXPECT_TRUE(contains(svg, "fill=\"" + analysis::diverging(0.0) + "\"")) << "the low end blue";
}

}  // namespace
}  // namespace guidance
