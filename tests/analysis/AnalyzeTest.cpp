#include <filesystem>
#include <sstream>

#include "analysis/RecordReader.h"
#include "analysis/Svg.h"
#include "analysis/Table.h"
#include "host/representation/Similarity.h"
#include "tests/host/recording/SyntheticRecord.h"
#include "tests/support/GuidanceInProcess.h"
#include "tests/support/TestSupport.h"

namespace guidance {
namespace {

namespace fs = std::filesystem;
using testing::TemporaryDirectory;

using Analyzed = testing::CommandResult;

Analyzed analyze(std::vector<std::string> args) {
  args.insert(args.begin(), "analyze");
  return testing::run_guidance_here(args);
}

size_t count_lines(const std::string& text) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The value compare printed for `tap` under "layer by layer:" (NaN if it is not listed).
double layer_value(const std::string& out, const std::string& tap) {
  size_t start = out.find("layer by layer:\n");
  if (start == std::string::npos) return std::nan("");
  size_t found = out.find("  " + tap + ": ", start);
  return found == std::string::npos ? std::nan("") : std::stod(out.substr(found + tap.size() + 4));
}

class AnalyzeTest : public testing::SeededTest {};

TEST_F(AnalyzeTest, ReportSpreadsManySnapshotsFromFirstToLast) {
  TemporaryDirectory directory;
  std::string record = directory.file("run.h5");
  testing::write_synthetic_run(record, 100, 10,
                               testing::synthetic_layout(ActivationDtype::Float32, false));
  std::string out = directory.file("report");
  Analyzed result = analyze({"report", record, "--out", out});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::string html = testing::read_file(out + "/index.html");
  EXPECT_TRUE(contains(html, "10 snapshots, 8 of them shown")) << html;
  for (int step : {10, 20, 30, 40, 60, 70, 80, 100}) {
    std::string stem = "similarity-linear-cka-target_target-step" + std::to_string(step);
    EXPECT_TRUE(contains(html, "<img src=\"" + stem + ".svg\"")) << step;
    EXPECT_TRUE(fs::exists(out + "/" + stem + ".csv")) << step;
  }
  EXPECT_FALSE(contains(html, "step50.svg"));
}

TEST_F(AnalyzeTest, ReportOfOneRunShowsCurvesHeatmapsAndTablesOffline) {
  TemporaryDirectory directory;
  std::string record = directory.file("run.h5");
  testing::write_synthetic_run(record, 30, 10);
  std::string out = directory.file("report");

  Analyzed result = analyze({"report", record, "--out", out});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.out, out + "/index.html")) << result.out;

  std::string html = testing::read_file(out + "/index.html");
  for (const char* picture : {"loss.svg", "measures.svg", "pair_distance.svg",
                              "similarity-linear-cka-guide_target-step10.svg",
                              "similarity-linear-cka-guide_target-step20.svg",
                              "similarity-linear-cka-guide_target-step30.svg",
                              "similarity-linear-cka-target_target-step30.svg",
                              "similarity-linear-cka-guide_guide-step30.svg"}) {
    EXPECT_TRUE(contains(html, std::string("<img src=\"") + picture + "\"")) << picture;
    std::string svg = testing::read_file(out + "/" + picture);
    EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u) << picture;
  }
  // Offline: nothing is fetched from elsewhere.
  EXPECT_FALSE(contains(html, "<script"));
  EXPECT_FALSE(contains(html, "src=\"http"));
  EXPECT_TRUE(contains(html, "seed = 7")) << "the config is shown";
  EXPECT_TRUE(contains(html, "<td>validation</td>"));

  std::string heatmap = testing::read_file(out + "/similarity-linear-cka-guide_target-step30.svg");
  for (const char* label : {">conv1<", ">conv2<", ">fc<", ">fc1<", ">out<", ">guide taps<",
                            ">target taps<", ">linear-cka similarity<", "linearGradient"}) {
    EXPECT_TRUE(contains(heatmap, label)) << label;
  }
  std::string curves = testing::read_file(out + "/pair_distance.svg");
  EXPECT_TRUE(contains(curves, ">guide.conv2-&gt;target.fc2<")) << "legend names each pair";
  EXPECT_TRUE(contains(curves, ">step<"));

  std::string training = testing::read_file(out + "/training.csv");
  EXPECT_EQ(training.substr(0, training.find('\n')),
            "step,epoch,learning_rate,total_loss,task_loss,guidance_loss,distill_loss,"
            "distance guide.conv1->target.fc1,distance guide.conv2->target.fc2,"
            "distance guide.fc->target.out");
  EXPECT_EQ(count_lines(training), 31u);
  std::string finals = testing::read_file(out + "/final_measures.csv");
  EvaluationRow last = testing::synthetic_evaluation_row(30);
  // The synthetic record has no final (best/...) rows: each split's last evaluation stands in.
  EXPECT_TRUE(contains(finals, "validation,at step 30,30,") && contains(finals, analysis::format_number(
                                                        last.measures.at("top1"))))
      << finals;
}

TEST_F(AnalyzeTest, DirectoryReportComparesRunsAndLinksTheirReports) {
  TemporaryDirectory directory;
  testing::write_synthetic_run(directory.file("runs/fast/run.h5"), 40, 10,
                               testing::synthetic_layout(), 1.0);
  testing::write_synthetic_run(directory.file("runs/slow/run.h5"), 40, 10,
                               testing::synthetic_layout(), 0.3);
  Analyzed result = analyze({"report", directory.file("runs")});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::string out = directory.file("runs/report");
  std::string html = testing::read_file(out + "/index.html");
  EXPECT_TRUE(contains(html, "<a href=\"fast/index.html\">fast</a>")) << html;
  EXPECT_TRUE(contains(html, "<a href=\"slow/index.html\">slow</a>"));
  EXPECT_TRUE(fs::exists(out + "/fast/index.html"));
  EXPECT_TRUE(fs::exists(out + "/slow/similarity-linear-cka-guide_target-step40.svg"));
  EXPECT_TRUE(contains(html, "<img src=\"validation-top1.svg\""));

  std::string runs = testing::read_file(out + "/runs.csv");
  EXPECT_EQ(count_lines(runs), 3u) << runs;
  EXPECT_TRUE(contains(runs, "fast,completed,40,") && contains(runs, "validation top1")) << runs;
  std::string fast_top1 =
      analysis::format_number(testing::synthetic_evaluation_row(40, 1.0).measures.at("top1"));
  std::string slow_top1 =
      analysis::format_number(testing::synthetic_evaluation_row(40, 0.3).measures.at("top1"));
  EXPECT_TRUE(contains(runs, fast_top1) && contains(runs, slow_top1)) << runs;
  EXPECT_NE(fast_top1, slow_top1);
}

TEST_F(AnalyzeTest, ExportsTablesAsCsvMatchingTheRecordedAndRecomputedSimilarity) {
  TemporaryDirectory directory;
  std::string record = directory.file("run.h5");
  testing::write_synthetic_run(record, 20, 10);

  std::string csv = directory.file("evaluation.csv");
  Analyzed result = analyze({"export", record, "evaluation", "--csv", csv});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::string evaluation = testing::read_file(csv);
  EXPECT_EQ(evaluation.substr(0, evaluation.find('\n')), "step,epoch,split,loss,top1,top5");
  EXPECT_EQ(count_lines(evaluation), 3u);

  result = analyze({"export", record, "similarity/linear-cka/guide_target@10"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out.substr(0, result.out.find('\n')), "guide \\ target,fc1,fc2,fc3,out");
  EXPECT_EQ(count_lines(result.out), 4u);

  // The stored matrix is what the metric gives on the stored activations (offline recompute).
  analysis::RecordReader reader(record);
  size_t snapshot = reader.snapshot_index(10);
  analysis::SimilarityMatrix stored = reader.similarity("linear-cka", "guide_target", snapshot);
  std::vector<torch::Tensor> guide, target;
  for (const auto& tap : reader.layout().guide_taps) guide.push_back(reader.activation("guide", tap, snapshot));
  for (const auto& tap : reader.layout().target_taps) target.push_back(reader.activation("target", tap, snapshot));
  torch::Tensor recomputed = similarity_matrix(testing::TestLinearCka(), guide, target);
  torch::Tensor expected = torch::tensor(stored.values, torch::kDouble).reshape({3, 4});
  EXPECT_TRUE(testing::tensors_close(recomputed, expected, 1e-6, 1e-9));
  EXPECT_TRUE(contains(result.out, "conv2," + analysis::format_number(stored.at(1, 0))));

  result = analyze({"export", record, "provenance"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.out, "seed,7\n")) << result.out;
  EXPECT_TRUE(contains(result.out, "plugin metric,linear-cka 1.0.0")) << result.out;
}

TEST_F(AnalyzeTest, CompareRecomputesTapSimilarityAcrossRecordsWithAMetricPlugin) {
  TemporaryDirectory directory;
  std::string trained = directory.file("trained/run.h5");
  std::string untrained = directory.file("untrained/run.h5");
  testing::write_synthetic_run(trained, 20, 10, testing::synthetic_layout(), 1.0);
  testing::write_synthetic_run(untrained, 20, 10, testing::synthetic_layout(), 0.2);

  std::string out = directory.file("compare");
  Analyzed result = analyze({"compare", trained, trained, "--metric", "linear-cka", "--out", out});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  for (const char* tap : {"fc1", "fc2", "fc3", "out"}) {
    EXPECT_NEAR(layer_value(result.out, tap), 1.0, 1e-5) << tap << " in\n" << result.out;
  }

  result = analyze({"compare", trained, untrained, "--metric", "linear-cka", "--step", "20",
                    "--side", "guide", "--out", out});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  // Both runs share the (fixed) guide, so its taps match themselves exactly.
  EXPECT_NEAR(layer_value(result.out, "conv1"), 1.0, 1e-5) << result.out;
  EXPECT_TRUE(std::isnan(layer_value(result.out, "fc1"))) << "fc1 is a target tap";
  std::string svg = testing::read_file(out + "/compare-linear-cka-guide.svg");
  EXPECT_TRUE(contains(svg, ">conv2<") && contains(svg, "linearGradient"));
  std::string csv = testing::read_file(out + "/compare-linear-cka-guide.csv");
  EXPECT_EQ(count_lines(csv), 4u) << csv;

  // A's target taps against B's guide taps: here a run's own guide, so the stored guide × target
  // matrix, transposed.
  result = analyze({"compare", untrained, untrained, "--metric", "linear-cka", "--side-b",
                    "guide", "--out", out});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  analysis::RecordReader reader(untrained);
  analysis::SimilarityMatrix stored =
      reader.similarity("linear-cka", "guide_target", reader.snapshot_steps().size() - 1);
  std::string mixed = testing::read_file(out + "/compare-linear-cka-target-guide.csv");
  EXPECT_EQ(mixed.substr(0, mixed.find('\n')).find("conv1,conv2,fc"), mixed.find(',') + 1)
      << mixed;
  size_t fc2 = mixed.find("\nfc2,");
  ASSERT_NE(fc2, std::string::npos) << mixed;
  EXPECT_NEAR(std::stod(mixed.substr(fc2 + 5)), stored.at(0, 1), 1e-6) << mixed;
  EXPECT_TRUE(contains(testing::read_file(out + "/compare-linear-cka-target-guide.svg"),
                       "target taps vs guide taps"));

  result = analyze({"compare", trained, untrained, "--metric", "no-such-metric"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "no-such-metric")) << result.err;

  // A metric with parameters, as an inline TOML table.
  result = analyze({"compare", trained, untrained, "--metric", "cca", "--out", out});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  double mean_cca = layer_value(result.out, "fc2");
  result = analyze({"compare", trained, untrained, "--metric",
                    R"({ plugin = "cca", weighting = "pwcca" })", "--out", out});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  double pwcca = layer_value(result.out, "fc2");
  EXPECT_TRUE(std::isfinite(mean_cca) && std::isfinite(pwcca)) << result.out;
  EXPECT_GT(std::abs(pwcca - mean_cca), 1e-6) << "the weighting parameter reached the metric";
  result = analyze({"compare", trained, untrained, "--metric", R"({ plugin = "cca", weightin = "pwcca" })"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "--metric")) << result.err;
  EXPECT_TRUE(contains(result.err, "did you mean 'weighting'")) << result.err;

  std::string other_probe = directory.file("other/run.h5");
  testing::write_synthetic_run(other_probe, 10, 10, testing::synthetic_layout(), 1.0, 20);
  result = analyze({"compare", trained, other_probe, "--metric", "linear-cka"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_TRUE(contains(result.err, "different probe sets")) << result.err;
}

TEST_F(AnalyzeTest, UsageErrorsExitTwoAndNameTheCulprit) {
  TemporaryDirectory directory;
  std::string record = directory.file("run.h5");
  testing::write_synthetic_run(record, 10, 10);

  Analyzed help = analyze({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  for (const char* command : {"report", "compare", "consistency", "export"}) {
    EXPECT_TRUE(contains(help.out, std::string("\n  ") + command + " ")) << command << help.out;
  }
  EXPECT_EQ(analyze({"compare", "--help"}).exit_code, 0);
  EXPECT_EQ(analyze({}).exit_code, 2);

  Analyzed unknown = analyze({"summarize", record});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_TRUE(contains(unknown.err, "'summarize'")) << unknown.err;

  Analyzed flag = analyze({"report", record, "--bogus", "x"});
  EXPECT_EQ(flag.exit_code, 2);
  EXPECT_TRUE(contains(flag.err, "--bogus")) << flag.err;

  std::string missing = directory.file("missing.h5");
  Analyzed absent = analyze({"export", missing, "training"});
  EXPECT_EQ(absent.exit_code, 2);
  EXPECT_TRUE(contains(absent.err, missing)) << absent.err;

  Analyzed table = analyze({"export", record, "weights"});
  EXPECT_EQ(table.exit_code, 2);
  EXPECT_TRUE(contains(table.err, "'weights'")) << table.err;

  testing::write_file(directory.file("not-a-record.h5"), "plain text");
  Analyzed broken = analyze({"export", directory.file("not-a-record.h5"), "training"});
  EXPECT_EQ(broken.exit_code, 1);
  EXPECT_TRUE(contains(broken.err, "not-a-record.h5 is not an HDF5 file")) << broken.err;
}

TEST_F(AnalyzeTest, CompareWithAMetricFromAnUnsearchedFolderNamesTheRecordsPluginFolders) {
  TemporaryDirectory directory;
  const std::string folder = directory.file("lab-plugins");
  const std::string built_in = fs::weakly_canonical(testing::plugin_directory()).string();
  Provenance provenance = testing::synthetic_provenance();
  provenance.plugins = {{"metric", "linear-cka", "1.0.0", built_in + "/libguidance-linear-cka.so"},
                        {"metric", "lab-metric", "0.3.0", folder + "/liblab-metric.so"}};
  std::string record = directory.file("run.h5");
  RunRecord::create(record, provenance, testing::synthetic_layout())
      ->finish(RecordState::Completed, "2024-01-01T01:00:00Z");

  Analyzed result = analyze({"compare", record, record, "--metric", "lab-metric"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_TRUE(contains(result.err, "no metric plugin named 'lab-metric'")) << result.err;
  EXPECT_TRUE(contains(result.err, "loaded plugins from '" + folder + "'")) << result.err;
  EXPECT_TRUE(contains(result.err, "--plugin-dir '" + folder + "'")) << result.err;
  // The built-in folder is searched already: it is not suggested.
  EXPECT_FALSE(contains(result.err, "'" + built_in + "'")) << result.err;
}

TEST(SvgTest, TicksColoursAndEscaping) {
  EXPECT_EQ(analysis::nice_ticks(0.0, 1.0, 5), (std::vector<double>{0.0, 0.2, 0.4, 0.6, 0.8, 1.0}));
  EXPECT_EQ(analysis::nice_ticks(3.0, 97.0, 4), (std::vector<double>{20.0, 40.0, 60.0, 80.0}));
  EXPECT_EQ(analysis::viridis(0.0), "#440154");
  EXPECT_EQ(analysis::viridis(1.0), "#fde725");
  EXPECT_EQ(analysis::viridis(0.5), "#21918c");
  EXPECT_EQ(analysis::escape_xml("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
}

TEST(CsvTest, QuotesFieldsThatNeedItAndLeavesNaNEmpty) {
  analysis::Table table;
  table.columns = {{"name", {}, {"plain", "with, comma", "say \"hi\""}},
                   {"value", {1.5, std::nan(""), 1e-12}, {}}};
  std::ostringstream out;
  analysis::write_csv(table, out);
  EXPECT_EQ(out.str(), "name,value\nplain,1.5\n\"with, comma\",\n\"say \"\"hi\"\"\",1e-12\n");
}

}  // namespace
}  // namespace guidance
