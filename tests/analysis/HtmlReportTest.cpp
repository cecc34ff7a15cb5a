#include <filesystem>
#include <regex>
#include <set>

#include "analysis/HtmlReport.h"
#include "analysis/Svg.h"
#include "analysis/Table.h"
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
