// guidance summarize and error consistency over study directories: synthetic records with known
// final measures and predictions, and one study of tiny runs through the binary.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>

#include "analysis/Cells.h"
#include "analysis/ErrorConsistency.h"
#include "analysis/HtmlReport.h"
#include "analysis/Pivot.h"
#include "analysis/RecordReader.h"
#include "analysis/Statistics.h"
#include "analysis/Study.h"
#include "analysis/SummaryTables.h"
#include "host/recording/RecordSchema.h"
#include "host/recording/RunRecord.h"
#include "tests/analysis/StudyRecords.h"
#include "tests/host/recording/RecordDamage.h"
#include "tests/support/GuidanceInProcess.h"
#include "tests/support/TestSupport.h"

namespace guidance {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::add_predictions;
using testing::config_text;
using testing::write_record;

using Ran = testing::CommandResult;

/// @return `pattern` printf-formatted with `values`.
template <typename... Values>
std::string format(const char* pattern, Values... values) {
  char text[256];
  std::snprintf(text, sizeof(text), pattern, values...);
  return text;
}

Ran summarize(std::vector<std::string> args) {
  args.insert(args.begin(), "summarize");
  return testing::run_guidance_here(args);
}

Ran analyze(std::vector<std::string> args) {
  args.insert(args.begin(), "analyze");
  return testing::run_guidance_here(args);
}

const analysis::StudyCell& cell_with(const analysis::Study& study, const std::string& key,
                                     const std::string& value) {
  for (const auto& cell : study.cells) {
    for (const auto& setting : cell.settings) {
      if (setting.first == key && setting.second == value) return cell;
    }
  }
  throw std::runtime_error("no cell with " + key + "=" + value);
}

TEST(Summarize, SettingsOfDropIdentityAndCollapseUnguidedRuns) {
  auto guided = analysis::settings_of(config_text("a", 1, "mlp", "convnet"));
  EXPECT_EQ(guided.count("run.name"), 0u);
  EXPECT_EQ(guided.count("run.seed"), 0u);
  EXPECT_EQ(guided.count("run.output"), 0u);
  EXPECT_EQ(guided.count("run.threads"), 0u);  // declared as leaving results
  EXPECT_EQ(guided.at("guide.plugin"), "convnet");
  EXPECT_EQ(guided.at("guide.init.plugin"), "untrained");
  EXPECT_EQ(guided.at("guidance.alpha"), "1");
  auto unguided = analysis::settings_of(config_text("b", 2, "mlp", ""));
  EXPECT_EQ(unguided.count("guidance.alpha"), 0u);
  EXPECT_EQ(unguided.at("guidance.enabled"), "false");
}

// Runs that differ only in where they ran from, what they logged and recorded, and their
// evaluation batches are replicates of one cell; a key that changes training splits them.
TEST(Summarize, KeysThatLeaveResultsDoNotSplitACell) {
  testing::TemporaryDirectory study_dir;
  const std::string dir = study_dir.path();
  write_record(dir, "a/s0", 0, "mlp", "convnet", 0.80, RecordState::Completed, 0.4,
               "\n[train]\nlearning_rate = 0.01\neval_batch_size = 64\n\n[record]\nevery = 10\n");
  write_record(dir, "a/s1", 1, "mlp", "convnet", 0.82, RecordState::Completed, 0.4,
               "\n[train]\nlearning_rate = 0.01\neval_batch_size = 512\n\n[record]\nevery = 0\n"
               "probe_size = 64\n");
  analysis::Study one = analysis::load_study(dir);
  ASSERT_EQ(one.cells.size(), 1u);
  EXPECT_EQ(one.cells[0].runs.size(), 2u);

  write_record(dir, "b/s0", 0, "mlp", "convnet", 0.70, RecordState::Completed, 0.4,
               "\n[train]\nlearning_rate = 0.1\neval_batch_size = 64\n");
  analysis::Study two = analysis::load_study(dir);
  EXPECT_EQ(two.cells.size(), 2u);
  EXPECT_EQ(two.axes, (std::vector<std::string>{"train.learning_rate"}));
}

// The final measures of one record are the same wherever they are read: summarize, the run's
// report (its final-measures table) and the rule behind the Python reader (best/<split> rows).
TEST(Summarize, FinalMeasuresAreTheReportsRowsOfTheBestWeights) {
  testing::TemporaryDirectory study_dir;
  write_record(study_dir.path(), "run", 0, "mlp", "convnet", 0.80);
  analysis::RecordReader record(study_dir.path() + "/run/run.h5");
  std::map<std::string, double> summarized = analysis::final_measures_of(record.evaluation());
  analysis::Table reported =
      analysis::final_measures(record.training(), record.evaluation(), record.best_step());
  size_t checked = 0;
  for (size_t row = 0; row < reported.rows(); ++row) {
    const std::string& split = reported.column("split").texts[row];
    if (split.rfind(record_schema::kFinalSplitPrefix, 0) != 0) continue;
    const std::string name = split.substr(std::string(record_schema::kFinalSplitPrefix).size());
    EXPECT_DOUBLE_EQ(summarized.at(name + " top1"), reported.column("top1").numbers[row]) << name;
    ++checked;
  }
  EXPECT_EQ(checked, 3u);
  EXPECT_NEAR(summarized.at("train top1"), 0.83, 1e-12);
}

TEST(Summarize, CellsAverageFinishedRunsFlagTheRestAndCompareWithTheBaseline) {
  testing::TemporaryDirectory study_dir;
  const std::string dir = study_dir.path();
  write_record(dir, "unguided/s0", 0, "mlp", "", 0.80);
  write_record(dir, "unguided/s1", 1, "mlp", "", 0.82);
  write_record(dir, "guided/s0", 0, "mlp", "convnet", 0.85);
  write_record(dir, "guided/s1", 1, "mlp", "convnet", 0.89);
  write_record(dir, "guided/s2", 2, "mlp", "convnet", 0.10, RecordState::Interrupted);

  analysis::Study study = analysis::load_study(dir);
  ASSERT_EQ(study.cells.size(), 2u);
  ASSERT_FALSE(study.baseline.empty());
  EXPECT_EQ(study.baseline[0], (analysis::Setting{"guidance.enabled", "false"}));
  EXPECT_EQ(study.axes, (std::vector<std::string>{"guidance.enabled"}));  // one guide: no axis
  const analysis::StudyCell& guided = cell_with(study, "guidance.enabled", "true");
  const analysis::StudyCell& unguided = cell_with(study, "guidance.enabled", "false");
  EXPECT_EQ(guided.runs.size(), 3u);
  // The best weights' test rows, never the plain test rows; the interrupted run not averaged.
  std::vector<double> values = study.values(guided, "test top1");
  ASSERT_EQ(values.size(), 2u);
  EXPECT_NEAR(analysis::mean(values), 0.87, 1e-12);
  EXPECT_NEAR(analysis::sample_std(values), std::sqrt(0.0008), 1e-12);
  EXPECT_NEAR(analysis::mean(study.values(guided, "validation top1")), 0.85, 1e-12);
  // Train too from the best weights' row, as the reports and the Python reader take it.
  EXPECT_NEAR(analysis::mean(study.values(guided, "train top1")), 0.90, 1e-12);
  ASSERT_TRUE(guided.baseline.has_value());
  EXPECT_EQ(&study.cells[*guided.baseline], &unguided);

  analysis::Table table = analysis::study_table(study);
  size_t row = &guided - &study.cells[0];
  EXPECT_EQ(table.column("n_finished").numbers[row], 2);
  EXPECT_EQ(table.column("n_found").numbers[row], 3);
  EXPECT_THAT(table.column("flagged").texts[row], HasSubstr("guided/s2 (interrupted)"));
  EXPECT_EQ(table.column("runs").texts[row], "guided/s0; guided/s1; guided/s2");
  // Δ = 0.87 − 0.81; v = 0.0008/2 and 0.0002/2; df = 0.0005² / (0.0004² + 0.0001²) = 25/17.
  EXPECT_NEAR(table.column("test top1 delta").numbers[row], 0.06, 1e-12);
  EXPECT_NEAR(table.column("test top1 df").numbers[row], 25.0 / 17.0, 1e-9);
  double half = analysis::student_t_quantile(0.975, 25.0 / 17.0) * std::sqrt(0.0005);
  EXPECT_NEAR(table.column("test top1 ci_low").numbers[row], 0.06 - half, 1e-9);
  EXPECT_NEAR(table.column("test top1 ci_high").numbers[row], 0.06 + half, 1e-9);

  Ran result = summarize({dir});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("| 2/3 |"));
  EXPECT_THAT(result.out, HasSubstr("0.8700 ± 0.0283"));
  EXPECT_THAT(result.out, HasSubstr("+0.0600 ["));
  EXPECT_THAT(result.out, HasSubstr("guided/s2 (interrupted)"));
  EXPECT_THAT(result.out, HasSubstr("(baseline)"));
  EXPECT_TRUE(fs::exists(dir + "/summary.md"));
  EXPECT_THAT(testing::read_file(dir + "/summary.csv"), HasSubstr("test top1 ci_low"));

  // An explicit baseline: the guided cell compared with itself has Δ 0.
  Ran explicit_baseline = summarize({dir, "--baseline", "guidance.enabled=true"});
  ASSERT_EQ(explicit_baseline.exit_code, 0) << explicit_baseline.err;
  EXPECT_THAT(explicit_baseline.out, HasSubstr("-0.0600 ["));
  Ran wrong = summarize({dir, "--baseline", "guidance.enable=true"});
  EXPECT_EQ(wrong.exit_code, 2);
  EXPECT_THAT(wrong.err, HasSubstr("guidance.enabled"));
  EXPECT_EQ(summarize({dir + "/absent"}).exit_code, 2);
  EXPECT_EQ(summarize({dir, "--colour", "x"}).exit_code, 2);
  Ran help = summarize({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("usage: guidance summarize [OPTIONS] DIR"));
}

TEST(Summarize, TuneKeepsEachCellsLowestValidationLossAndComparesTunedCells) {
  testing::TemporaryDirectory study_dir;
  const std::string dir = study_dir.path();
  // {guide, learning rate, test top1, validation loss}: the unguided runs do best at 0.01, the
  // guided ones at 0.1, so a tuned comparison is 0.90 − 0.80, an untuned one at 0.1 is 0.90 − 0.70.
  struct Arm {
    const char* guide;
    const char* rate;
    double test;
    double validation_loss;
  };
  for (const Arm& s : {Arm{"", "0.1", 0.70, 0.5}, Arm{"", "0.01", 0.80, 0.3},
                       Arm{"convnet", "0.1", 0.90, 0.2}, Arm{"convnet", "0.01", 0.60, 0.6}}) {
    for (int seed = 0; seed < 2; ++seed) {
      std::string name = std::string(*s.guide ? s.guide : "none") + "-" + s.rate + "/s" +
                         std::to_string(seed);
      write_record(dir, name, seed, "mlp", s.guide, s.test + 0.01 * seed, RecordState::Completed,
                   s.validation_loss + 0.01 * seed,
                   std::string("\n[train]\nlearning_rate = ") + s.rate + "\n");
    }
  }
  analysis::Study untuned = analysis::load_study(dir);
  EXPECT_EQ(untuned.cells.size(), 4u);

  analysis::Study study = analysis::load_study(dir, {}, "train.learning_rate");
  ASSERT_EQ(study.cells.size(), 2u);
  const analysis::StudyCell& guided = cell_with(study, "guidance.enabled", "true");
  const analysis::StudyCell& unguided = cell_with(study, "guidance.enabled", "false");
  auto rate_of = [&](const analysis::StudyCell& cell) {
    for (const auto& [key, value] : cell.settings) {
      if (key == "train.learning_rate") return value;
    }
    return std::string("(none)");
  };
  EXPECT_EQ(rate_of(guided), "0.1");
  EXPECT_EQ(rate_of(unguided), "0.01");
  ASSERT_TRUE(guided.baseline.has_value());
  EXPECT_EQ(&study.cells[*guided.baseline], &unguided);
  analysis::Table table = analysis::study_table(study);
  size_t row = &guided - &study.cells[0];
  EXPECT_NEAR(table.column("test top1 delta").numbers[row], 0.10, 1e-12);
  // The end-of-training weights' validation rows are their own measures.
  EXPECT_NEAR(analysis::mean(study.values(guided, "last validation loss")), 0.455, 1e-12);
  EXPECT_NEAR(analysis::mean(study.values(guided, "validation loss")), 0.205, 1e-12);
  ASSERT_EQ(study.tuning.size(), 2u);
  for (const auto& choice : study.tuning) {
    EXPECT_EQ(choice.tried.size(), 2u);
    EXPECT_FALSE(choice.chosen.empty());
  }

  Ran tuned = summarize({dir, "--tune", "train.learning_rate"});
  ASSERT_EQ(tuned.exit_code, 0) << tuned.err;
  EXPECT_THAT(tuned.out, HasSubstr("+0.1000 ["));
  EXPECT_THAT(tuned.out, HasSubstr("0.01: 0.6050, 0.1: 0.2050 *"));
  EXPECT_THAT(tuned.out, HasSubstr("0.01: 0.3050 *, 0.1: 0.5050"));
  Ran wrong = summarize({dir, "--tune", "train.learning_rat"});
  EXPECT_EQ(wrong.exit_code, 2);
  EXPECT_THAT(wrong.err, HasSubstr("train.learning_rate"));
  Ran both = summarize({dir, "--tune", "train.learning_rate", "--baseline",
                        "train.learning_rate=0.1"});
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_THAT(both.err, HasSubstr("--baseline and --tune"));
}

/// Writes a guide × target study below `dir`, two seeds each, with each target's unguided runs:
/// six cells on four axes. Δ test top1 to the unguided runs is 0.1 (mlp guide) or 0.2 (convnet
/// guide), + 0.02 on the convnet target.
void write_atlas_study(const std::string& dir) {
  const double unguided[] = {0.70, 0.60};  // mlp, convnet targets
  const char* targets[] = {"mlp", "convnet"};
  const char* guides[] = {"mlp", "convnet"};
  for (int t = 0; t < 2; ++t) {
    for (int seed = 0; seed < 2; ++seed) {
      write_record(dir, std::string("none-") + targets[t] + "/s" + std::to_string(seed), seed,
                   targets[t], "", unguided[t] + 0.01 * seed);
      for (int g = 0; g < 2; ++g) {
        double gain = 0.1 * (g + 1) + 0.02 * t;
        write_record(dir, std::string(guides[g]) + "-" + targets[t] + "/s" + std::to_string(seed),
                     seed, targets[t], guides[g], unguided[t] + gain + 0.01 * seed);
      }
    }
  }
}

/// @return the lines of `text` wider than `width` terminal columns.
std::vector<std::string> lines_wider_than(const std::string& text, size_t width) {
  std::vector<std::string> wide;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (analysis::text_width(line) > width) wide.push_back(line);
  }
  return wide;
}

/// @return the row-major index of the pivot's cell at the row and column of those labels.
size_t pivot_index(const analysis::Pivot& pivot, const std::string& row,
                   const std::string& column) {
  size_t r = std::find(pivot.row_labels.begin(), pivot.row_labels.end(), row) -
             pivot.row_labels.begin();
  size_t c = std::find(pivot.column_labels.begin(), pivot.column_labels.end(), column) -
             pivot.column_labels.begin();
  EXPECT_LT(r, pivot.row_labels.size()) << row;
  EXPECT_LT(c, pivot.column_labels.size()) << column;
  return r * pivot.column_labels.size() + c;
}

/// @return a pivot's `texts` (its cells or cell_lines) at the row and column of those labels.
std::string pivot_text(const analysis::Pivot& pivot, const std::vector<std::string>& texts,
                       const std::string& row, const std::string& column) {
  size_t at = pivot_index(pivot, row, column);
  return at < texts.size() ? texts[at] : "(no cell)";
}

/// @return a pivot's value at the row and column of those labels.
double pivot_value(const analysis::Pivot& pivot, const std::string& row,
                   const std::string& column) {
  size_t at = pivot_index(pivot, row, column);
  return at < pivot.values.size() ? pivot.values[at] : std::nan("");
}

/// Runs `guidance summarize ARGUMENTS` in `directory` with `environment` (e.g. "COLUMNS=120"),
/// its output a pipe as a script's would be.
Ran summarize_in(const std::string& directory, const std::string& environment,
                 const std::string& arguments) {
  return testing::run_command("cd '" + directory + "' && env " + environment + " '" +
                              testing::cli_path() + "' summarize " + arguments);
}

TEST(Summarize, PivotMakesAPriorAtlasAgainstEachTargetsUnguidedBaseline) {
  testing::TemporaryDirectory study_dir;
  const std::string dir = study_dir.path();
  write_atlas_study(dir);
  analysis::Study study = analysis::load_study(dir);
  EXPECT_EQ(study.cells.size(), 6u);
  analysis::Pivot pivot =
      analysis::pivot_study(study, "guide.plugin", "target.plugin", "test top1");
  EXPECT_TRUE(pivot.delta);
  ASSERT_EQ(pivot.column_labels.size(), 2u);
  EXPECT_NEAR(pivot_value(pivot, "mlp", "mlp"), 0.10, 1e-9);
  EXPECT_NEAR(pivot_value(pivot, "convnet", "mlp"), 0.20, 1e-9);
  EXPECT_NEAR(pivot_value(pivot, "mlp", "convnet"), 0.12, 1e-9);
  EXPECT_NEAR(pivot_value(pivot, "convnet", "convnet"), 0.22, 1e-9);
  // The unguided runs' `-` guide holds each target's baseline: named so, with its mean and n.
  EXPECT_NEAR(pivot_value(pivot, analysis::kUnguidedBaseline, "convnet"), 0.0, 1e-12);
  EXPECT_EQ(pivot_text(pivot, pivot.cells, analysis::kUnguidedBaseline, "convnet"),
            "(baseline) 0.6050 ± 0.0071 (n=2)");
  // Each cell shows its Δ with the Welch interval and n; the heatmap prints them on three lines.
  // Convnet guide on the mlp target: {0.90, 0.91} against {0.70, 0.71}, each s² = 0.00005, so
  // the standard error is sqrt(2 · 0.00005 / 2) and df = 2 (t(0.975, 2) = 4.302652729911275).
  const double half = 4.302652729911275 * std::sqrt(0.00005);
  EXPECT_EQ(pivot_text(pivot, pivot.cells, "convnet", "mlp"),
            format("%+.4f [%+.4f, %+.4f] (n=2)", 0.2, 0.2 - half, 0.2 + half));
  EXPECT_EQ(pivot_text(pivot, pivot.cell_lines, "convnet", "mlp"),
            format("%+.3f\n[%+.3f, %+.3f]\nn=2", 0.2, 0.2 - half, 0.2 + half));
  EXPECT_EQ(pivot_text(pivot, pivot.cell_lines, analysis::kUnguidedBaseline, "mlp"),
            "baseline\n0.705 ± 0.007\nn=2");
  EXPECT_TRUE(pivot.left_out.empty());

  Ran result = summarize({dir, "--rows", "guide.plugin", "--cols", "target.plugin"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::string svg = testing::read_file(dir + "/atlas.svg");
  EXPECT_THAT(svg, HasSubstr("<svg"));
  EXPECT_THAT(svg, HasSubstr("convnet"));
  EXPECT_THAT(svg, HasSubstr("guide.plugin"));
  EXPECT_THAT(svg, HasSubstr(">unguided baseline</text>"));
  EXPECT_THAT(svg, HasSubstr(">n=2</text>"));
  EXPECT_THAT(svg, HasSubstr(">+0.200</text>"));
  EXPECT_THAT(svg, HasSubstr(format(">[%+.3f, %+.3f]</text>", 0.2 - half, 0.2 + half)));
  EXPECT_THAT(result.out, HasSubstr("| unguided baseline | (baseline) "));
  EXPECT_THAT(result.out, HasSubstr("(baseline) 0.7050 ± 0.0071 (n=2) |"));
  EXPECT_THAT(testing::read_file(dir + "/atlas.csv"), HasSubstr("guide.plugin"));
  EXPECT_THAT(result.out, HasSubstr("Δ test top1: guide.plugin (rows) × target.plugin (columns)"));
  Ran bad_axis = summarize({dir, "--rows", "guide.plugin", "--cols", "target.size"});
  EXPECT_EQ(bad_axis.exit_code, 2);
  EXPECT_THAT(bad_axis.err, HasSubstr("target.plugin"));

  // The directory report shows the study table, each cell linking to its runs.
  Ran report = analyze({"report", dir, "--out", dir + "/report"});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  std::string html = testing::read_file(dir + "/report/index.html");
  EXPECT_THAT(html, HasSubstr("<h2>Study</h2>"));
  EXPECT_THAT(html, HasSubstr("<tr><td>target=mlp, guide=convnet</td><td>2/2: <a "
                              "href=\"convnet-mlp/s0/index.html\" title=\"convnet-mlp/s0\">seed=0"
                              "</a> <a href=\"convnet-mlp/s1/index.html\""));
}

// An atlas spends no row or column on positions without a value: a target with no unguided runs
// has no Δ, nor does a guide used only on it; both are left out and named under the table.
TEST(Summarize, AtlasLeavesOutRowsAndColumnsWithoutAValueAndNamesThem) {
  testing::TemporaryDirectory study_dir;
  const std::string dir = study_dir.path();
  for (int seed = 0; seed < 2; ++seed) {
    const std::string s = "/s" + std::to_string(seed);
    write_record(dir, "none-mlp" + s, seed, "mlp", "", 0.70 + 0.01 * seed);
    write_record(dir, "convnet-mlp" + s, seed, "mlp", "convnet", 0.80 + 0.01 * seed);
    write_record(dir, "convnet-resnet" + s, seed, "resnet", "convnet", 0.60 + 0.01 * seed);
    write_record(dir, "vit-resnet" + s, seed, "resnet", "vit", 0.65 + 0.01 * seed);
  }
  analysis::Study study = analysis::load_study(dir);
  analysis::Pivot pivot =
      analysis::pivot_study(study, "guide.plugin", "target.plugin", "test top1");
  std::vector<std::string> rows = pivot.row_labels;
  std::sort(rows.begin(), rows.end());
  EXPECT_EQ(rows, (std::vector<std::string>{"convnet", analysis::kUnguidedBaseline}));
  EXPECT_EQ(pivot.column_labels, (std::vector<std::string>{"mlp"}));
  EXPECT_EQ(pivot.left_out,
            (std::vector<std::string>{"guide.plugin=vit", "target.plugin=resnet"}));
  ASSERT_EQ(pivot.values.size(), 2u);
  EXPECT_NEAR(pivot_value(pivot, "convnet", "mlp"), 0.10, 1e-9);

  Ran result = summarize({dir, "--rows", "guide.plugin", "--cols", "target.plugin"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("Left out, no value in any cell: guide.plugin=vit, "
                                    "target.plugin=resnet."));
  std::string svg = testing::read_file(dir + "/atlas.svg");
  EXPECT_THAT(svg, Not(HasSubstr(">resnet</text>")));
  EXPECT_THAT(svg, Not(HasSubstr(">vit</text>")));
  EXPECT_THAT(svg, Not(HasSubstr(">-</text>")));
}

// A TorchScript network is named by its file wherever a study shows it: the atlas's rows, one per
// file, and the cells' labels.
TEST(Summarize, ATorchScriptGuideIsLabelledByItsFileName) {
  testing::TemporaryDirectory study_dir;
  const std::string dir = study_dir.path();
  for (int seed = 0; seed < 2; ++seed) {
    const std::string s = "/s" + std::to_string(seed);
    write_record(dir, "none" + s, seed, "mlp", "", 0.70 + 0.01 * seed);
    write_record(dir, "convnet" + s, seed, "mlp", "convnet", 0.75 + 0.01 * seed);
    write_record(dir, "cnn" + s, seed, "mlp", "torchscript\npath = \"models/cnn.pt\"",
                 0.80 + 0.01 * seed);
    write_record(dir, "vit" + s, seed, "mlp", "torchscript\npath = \"other/vit.pt\"",
                 0.85 + 0.01 * seed);
  }
  analysis::Study study = analysis::load_study(dir);
  ASSERT_EQ(study.cells.size(), 4u);
  analysis::Pivot pivot =
      analysis::pivot_study(study, "guide.plugin", "guidance.enabled", "test top1");
  std::vector<std::string> rows = pivot.row_labels;
  std::sort(rows.begin(), rows.end());
  EXPECT_EQ(rows, (std::vector<std::string>{"cnn.pt", "convnet", analysis::kUnguidedBaseline,
                                            "vit.pt"}));
  EXPECT_NEAR(pivot_value(pivot, "cnn.pt", "true"), 0.10, 1e-9);
  EXPECT_NEAR(pivot_value(pivot, "vit.pt", "true"), 0.15, 1e-9);
  // Positions no cell takes (guided runs have no guidance.enabled=false) are grey, and say so.
  EXPECT_EQ(pivot_text(pivot, pivot.cell_lines, "cnn.pt", "false"), "");
  EXPECT_THAT(analysis::pivot_heatmap(pivot).note, HasSubstr("grey: no runs there"));

  std::vector<std::string> labels = analysis::cell_labels(study);
  std::sort(labels.begin(), labels.end());
  EXPECT_EQ(labels, (std::vector<std::string>{"guide=cnn.pt", "guide=convnet", "guide=vit.pt",
                                              "unguided"}));
}

// Cell labels name what tells cells apart, briefly: each axis by its last key part, the unguided
// cell by the word, and nothing a cell lacks.
TEST(Summarize, CellLabelsNameOnlyWhatTellsTheCellsApart) {
  testing::TemporaryDirectory study_dir;
  write_atlas_study(study_dir.path());
  analysis::Study study = analysis::load_study(study_dir.path());
  std::vector<std::string> labels = analysis::cell_labels(study);
  ASSERT_EQ(labels.size(), study.cells.size());
  for (size_t c = 0; c < study.cells.size(); ++c) {
    std::map<std::string, std::string> settings(study.cells[c].settings.begin(),
                                                study.cells[c].settings.end());
    std::string expected = "target=" + settings.at("target.plugin") + ", " +
                           (settings.at("guidance.enabled") == "false"
                                ? std::string("unguided")
                                : "guide=" + settings.at("guide.plugin"));
    EXPECT_EQ(labels[c], expected);
  }
}

// On a terminal of 120 columns (as $COLUMNS says) the table keeps the cell, its runs, the first
// test measure with its Δ and the flags, and names the measures it left out; narrower, one column
// names each cell by what tells it apart; piped without $COLUMNS it is the whole table of
// summary.md, as scripts have always read it. (Run in the study's parent so that paths, which
// never wrap, stay short.)
TEST(Summarize, PrintedTableFitsTheWidthAndShowsTheMeasuresNamed) {
  testing::TemporaryDirectory work;
  write_atlas_study(work.file("study"));

  Ran wide = summarize_in(work.path(), "COLUMNS=120", "study");
  ASSERT_EQ(wide.exit_code, 0) << wide.err;
  EXPECT_THAT(lines_wider_than(wide.out, 120), ::testing::IsEmpty()) << wide.out;
  EXPECT_THAT(wide.out, HasSubstr("| target.plugin | guide.plugin | guidance.enabled | runs | "
                                  "test top1 | Δ test top1 [95% CI] | flagged |\n"));
  EXPECT_THAT(wide.out, HasSubstr("| mlp | convnet | true | 2/2 | 0.9050 ± 0.0071 | +0.2000 ["));
  EXPECT_THAT(wide.out, HasSubstr("Left out to fit 120 columns: test loss, validation top1,"));
  // The files keep every measure whatever the terminal.
  EXPECT_THAT(testing::read_file(work.file("study/summary.md")), HasSubstr("| train loss |"));

  Ran narrow = summarize_in(work.path(), "COLUMNS=100", "study");
  ASSERT_EQ(narrow.exit_code, 0) << narrow.err;
  EXPECT_THAT(lines_wider_than(narrow.out, 100), ::testing::IsEmpty()) << narrow.out;
  EXPECT_THAT(narrow.out, HasSubstr("| cell | runs | test top1 | Δ test top1 [95% CI] | flagged |"));
  EXPECT_THAT(narrow.out,
              HasSubstr("| target=mlp, guide=convnet | 2/2 | 0.9050 ± 0.0071 | +0.2000 ["));
  EXPECT_THAT(narrow.out,
              HasSubstr("| target=mlp, unguided | 2/2 | 0.7050 ± 0.0071 | (baseline) |"));

  // Measures named are shown, all and only those, in their order; the pivot's is its own.
  Ran chosen = summarize_in(work.path(), "COLUMNS=120",
                            "study --measures 'train loss, test top1' --rows guide.plugin "
                            "--cols target.plugin --measure 'validation top1'");
  ASSERT_EQ(chosen.exit_code, 0) << chosen.err;
  EXPECT_THAT(chosen.out, HasSubstr("| target.plugin | guide.plugin | guidance.enabled | runs | "
                                    "train loss | test top1 | Δ test top1 [95% CI] | flagged |\n"));
  EXPECT_THAT(chosen.out, Not(HasSubstr("Left out")));
  EXPECT_THAT(chosen.out, HasSubstr("## Δ validation top1: guide.plugin (rows)"));

  Ran unknown = summarize({work.file("study"), "--measures", "test top1,test/top1"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("--measures: the study has no measure 'test/top1' (did you "
                                     "mean 'test top1'?); its measures are 'test top1', "
                                     "'test loss', 'validation top1'"));

  Ran piped = summarize_in(work.path(), "-u COLUMNS", "study");
  ASSERT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_EQ(piped.out, testing::read_file(work.file("study/summary.md")) +
                           "\nwrote study/summary.md and study/summary.csv\n");
  EXPECT_THAT(piped.out, HasSubstr("| train loss | flagged |"));
}

TEST(ErrorConsistency, KappaOfRecordsMatchesTheHandValueAndFillsTheMatrix) {
  testing::TemporaryDirectory study_dir;
  const std::string dir = study_dir.path();
  write_record(dir, "a", 0, "mlp", "convnet", 0.7);
  write_record(dir, "b", 1, "mlp", "", 0.6);
  std::vector<int64_t> indices = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  std::vector<int8_t> a = {1, 1, 1, 0, 0, 1, 0, 1, 1, 1};
  std::vector<int8_t> b = {1, 1, 0, 0, 1, 1, 0, 1, 1, 0};
  add_predictions(dir + "/a/run.h5", "target", indices, a);
  add_predictions(dir + "/a/run.h5", "guide", indices, a);  // the target copies its guide
  // b recorded its examples in another order: κ matches them by index.
  std::vector<int64_t> reversed(indices.rbegin(), indices.rend());
  add_predictions(dir + "/b/run.h5", "target", reversed, std::vector<int8_t>(b.rbegin(), b.rend()));

  analysis::RecordReader record(dir + "/a/run.h5");
  ASSERT_TRUE(record.has_predictions("guide"));
  Predictions read = record.predictions("target");
  EXPECT_EQ(read.correct, a);
  EXPECT_EQ(read.width, 1u);

  Ran pair = analyze({"consistency", dir + "/a/run.h5", dir + "/b/run.h5"});
  ASSERT_EQ(pair.exit_code, 0) << pair.err;
  EXPECT_THAT(pair.out, HasSubstr("kappa     " + analysis::format_number(0.16 / 0.46)));
  EXPECT_THAT(pair.out, HasSubstr("compared  10"));
  Ran own_guide =
      analyze({"consistency", dir + "/a/run.h5", dir + "/a/run.h5", "--side-b", "guide"});
  ASSERT_EQ(own_guide.exit_code, 0) << own_guide.err;
  EXPECT_THAT(own_guide.out, HasSubstr("kappa     1\n"));
  Ran missing = analyze({"consistency", dir + "/b/run.h5", dir + "/a/run.h5", "--side", "guide"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("predictions"));
  EXPECT_EQ(analyze({"consistency", dir + "/a/run.h5", "--side", "both"}).exit_code, 2);

  Ran matrix = analyze({"consistency", dir, "--out", dir + "/kappa"});
  ASSERT_EQ(matrix.exit_code, 0) << matrix.err;
  EXPECT_TRUE(fs::exists(dir + "/kappa/consistency.svg"));
  std::vector<analysis::PredictionSource> sources =
      analysis::prediction_sources({{"a", dir + "/a/run.h5"}, {"b", dir + "/b/run.h5"}});
  ASSERT_EQ(sources.size(), 3u);
  EXPECT_EQ(sources[1].label, "a/guide");
  analysis::ConsistencyMatrix kappas = analysis::consistency_matrix(sources);
  EXPECT_NEAR(kappas.values[0 * 3 + 1], 1.0, 1e-12);          // a with its guide
  EXPECT_NEAR(kappas.values[0 * 3 + 2], 0.16 / 0.46, 1e-12);  // a with b
  EXPECT_NEAR(kappas.values[2 * 3 + 0], 0.16 / 0.46, 1e-12);  // symmetric

  // The directory report shows the κ heatmap.
  Ran report = analyze({"report", dir, "--out", dir + "/report"});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  EXPECT_THAT(testing::read_file(dir + "/report/index.html"), HasSubstr("consistency.svg"));
  EXPECT_TRUE(fs::exists(dir + "/report/consistency.svg"));
}

TEST(ErrorConsistency, PerTokenKappaUsesOnlyScoredPositions) {
  Predictions a, b;
  a.indices = b.indices = {0, 1};
  a.width = b.width = 3;
  a.correct = {1, 0, -1, 1, 1, 0};
  b.correct = {1, 1, -1, 1, -1, 0};
  a.predicted = b.predicted = std::vector<int64_t>(6, 0);
  // Scored by both: (1,1), (0,1), (1,1), (0,0): agreement 3/4, p1 = 1/2, p2 = 3/4,
  // c_exp = 3/8 + 1/8 = 1/2, κ = (3/4 − 1/2) / (1/2) = 1/2.
  analysis::Kappa kappa = analysis::error_consistency(a, b, "a and b");
  EXPECT_EQ(kappa.count, 4);
  EXPECT_NEAR(kappa.kappa, 0.5, 1e-15);
}

// κ of cells: each entry sums up the κ of the pairs of two different networks, one of each group
// (the diagonal: two of the same group); pairs without a κ and a network with itself never count.
TEST(ErrorConsistency, CellMatrixAveragesThePairsOfTwoNetworksOfEachPairOfGroups) {
  const double nan = std::nan("");
  analysis::ConsistencyMatrix matrix;
  for (const char* label : {"a0", "a1", "b0", "b1", "b2"})
    matrix.sources.push_back({label, "", ""});
  matrix.values = {1.0, 0.5, 0.1, 0.3, nan,   //
                   0.5, 1.0, 0.2, 0.4, 0.6,   //
                   0.1, 0.2, 1.0, 0.7, 0.9,   //
                   0.3, 0.4, 0.7, 1.0, 0.8,   //
                   nan, 0.6, 0.9, 0.8, 1.0};
  analysis::GroupConsistency groups =
      analysis::group_consistency(matrix, {"A", "B"}, {0, 0, 1, 1, 1});
  // A × A: {0.5}; A × B: {0.1, 0.3, 0.2, 0.4, 0.6} (a0 with b2 has none); B × B: {0.7, 0.9, 0.8}.
  // A × B: mean 0.32, squared deviations 0.0484 + 0.0004 + 0.0144 + 0.0064 + 0.0784 = 0.148.
  EXPECT_EQ(groups.pairs, (std::vector<size_t>{1, 5, 5, 3}));
  EXPECT_NEAR(groups.mean[0], 0.5, 1e-12);
  EXPECT_TRUE(std::isnan(groups.spread[0])) << "one pair has no spread";
  for (size_t at : {1, 2}) {
    EXPECT_NEAR(groups.mean[at], 0.32, 1e-12);
    EXPECT_NEAR(groups.spread[at], std::sqrt(0.148 / 4), 1e-12);
  }
  EXPECT_NEAR(groups.mean[3], 0.8, 1e-12);
  EXPECT_NEAR(groups.spread[3], 0.1, 1e-12);

  analysis::Heatmap heatmap = analysis::group_consistency_heatmap(groups);
  EXPECT_EQ(heatmap.row_labels, (std::vector<std::string>{"A", "B"}));
  EXPECT_EQ(heatmap.texts, (std::vector<std::string>{
                               "0.50\n1 pair", format("0.32\n± %.2f\n5 pairs", std::sqrt(0.037)),
                               format("0.32\n± %.2f\n5 pairs", std::sqrt(0.037)),
                               "0.80\n± 0.10\n3 pairs"}));
  analysis::Table table = analysis::group_consistency_table(groups);
  EXPECT_EQ(table.column("group").texts, (std::vector<std::string>{"A", "A", "B", "B"}));
  EXPECT_EQ(table.column("with").texts, (std::vector<std::string>{"A", "B", "A", "B"}));
  EXPECT_EQ(table.column("pairs").numbers, (std::vector<double>{1, 5, 5, 3}));
}

// A study's directory report shows κ of its cells (targets of each cell, a cell's guides a group
// of their own) beside κ of every network, which its runs label by cell and seed.
TEST(ErrorConsistency, AStudyReportShowsKappaOfCellsBesideKappaOfEveryNetwork) {
  testing::TemporaryDirectory study_dir;
  const std::string dir = study_dir.path();
  const std::vector<int64_t> indices = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  const std::vector<std::vector<int8_t>> unguided = {{1, 1, 1, 0, 0, 1, 0, 1, 1, 1},
                                                     {1, 0, 1, 0, 1, 1, 0, 1, 0, 1}};
  const std::vector<std::vector<int8_t>> guided = {{1, 1, 0, 0, 1, 1, 0, 1, 1, 0},
                                                   {0, 1, 1, 0, 1, 1, 1, 1, 0, 0}};
  const std::vector<std::vector<int8_t>> guides = {{1, 0, 0, 1, 1, 0, 1, 0, 1, 0},
                                                   {1, 1, 0, 1, 0, 0, 1, 0, 1, 1}};
  for (int seed = 0; seed < 2; ++seed) {
    const std::string s = "/s" + std::to_string(seed);
    write_record(dir, "unguided" + s, seed, "mlp", "", 0.7);
    add_predictions(dir + "/unguided" + s + "/run.h5", "target", indices, unguided[seed]);
    write_record(dir, "guided" + s, seed, "mlp", "convnet", 0.8);
    add_predictions(dir + "/guided" + s + "/run.h5", "target", indices, guided[seed]);
    add_predictions(dir + "/guided" + s + "/run.h5", "guide", indices, guides[seed]);
  }
  auto kappas = [](const std::vector<std::vector<int8_t>>& a,
                   const std::vector<std::vector<int8_t>>& b, bool same) {
    std::vector<double> values;
    for (size_t i = 0; i < a.size(); ++i) {
      for (size_t j = same ? i + 1 : 0; j < b.size(); ++j)
        values.push_back(analysis::cohens_kappa(a[i], b[j]).kappa);
    }
    return values;
  };
  struct Expected {
    std::string group, with;
    std::vector<double> kappas;
  };
  const std::vector<Expected> expected = {
      {"unguided", "unguided", kappas(unguided, unguided, true)},
      {"guided", "guided", kappas(guided, guided, true)},
      {"guided", "unguided", kappas(guided, unguided, false)},
      {"guided", "guided / guide", kappas(guided, guides, false)},
      {"guided / guide", "guided / guide", kappas(guides, guides, true)},
      {"unguided", "guided / guide", kappas(unguided, guides, false)}};

  Ran report = analyze({"report", dir, "--out", dir + "/report"});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  std::istringstream csv(testing::read_file(dir + "/report/consistency-cells.csv"));
  std::string line;
  std::getline(csv, line);
  EXPECT_EQ(line, "group,with,mean,std,pairs");
  std::map<std::pair<std::string, std::string>, std::vector<double>> rows;
  std::map<std::pair<std::string, std::string>, std::string> texts;  // mean,std,pairs as written
  while (std::getline(csv, line)) {
    std::vector<std::string> fields;
    std::istringstream parts(line);
    for (std::string field; std::getline(parts, field, ',');) fields.push_back(field);
    if (line.back() == ',') fields.emplace_back();
    ASSERT_EQ(fields.size(), 5u) << line;
    rows[{fields[0], fields[1]}] = {std::stod(fields[2]),
                                    fields[3].empty() ? std::nan("") : std::stod(fields[3]),
                                    std::stod(fields[4])};
    texts[{fields[0], fields[1]}] = fields[2] + "," + fields[3] + "," + fields[4];
  }
  EXPECT_EQ(rows.size(), 9u) << "three groups";
  for (const auto& entry : expected) {
    SCOPED_TRACE(entry.group + " with " + entry.with);
    const std::pair<std::string, std::string> key{entry.group, entry.with}, mirrored{entry.with,
                                                                                   entry.group};
    ASSERT_EQ(rows.count(key), 1u);
    const std::vector<double>& row = rows[key];
    EXPECT_NEAR(row[0], analysis::mean(entry.kappas), 1e-8);
    if (entry.kappas.size() > 1) EXPECT_NEAR(row[1], analysis::sample_std(entry.kappas), 1e-8);
    EXPECT_EQ(row[2], static_cast<double>(entry.kappas.size()));
    EXPECT_EQ(texts[mirrored], texts[key]) << "symmetric";
  }

  std::string html = testing::read_file(dir + "/report/index.html");
  EXPECT_THAT(html, HasSubstr("<img src=\"consistency-cells.svg\""));
  EXPECT_LT(html.find("consistency-cells.svg"), html.find("\"consistency.svg\""))
      << "the cells' matrix first";
  std::string cells_svg = testing::read_file(dir + "/report/consistency-cells.svg");
  EXPECT_THAT(cells_svg, HasSubstr(">guided / guide</text>"));
  EXPECT_THAT(cells_svg, HasSubstr(">4 pairs</text>"));
  std::string every = testing::read_file(dir + "/report/consistency.svg");
  EXPECT_THAT(every, HasSubstr(">unguided, seed=1</text>"));
  EXPECT_THAT(every, HasSubstr(">guided, seed=0/guide</text>"));
}

/// A tiny parity sweep: unguided and guided × two seeds, a few steps each.
std::string study_config(const std::string& output) {
  return R"([run]
name = "study"
threads = 1
output = ")" +
         output + R"("
checkpoint_every = 0

[dataset]
plugin = "parity"
train_size = 128
validation_size = 32
test_size = 32
max_length = 6

[target]
plugin = "rnn"
hidden = 8

[guide]
plugin = "transformer"
width = 8

[train]
batch_size = 32
max_steps = 8
learning_rate = 0.01

[record]
at_end = false

[sweep]
"guidance.enabled" = [false, true]
"run.seed" = [0, 1]
)";
}

// A folder whose every record is damaged is a failure, not an empty summary: exit 1, each
// record named with its problem, nothing written.
TEST(Summarize, FailsWhenNoRecordCanBeRead) {
  testing::TemporaryDirectory work;
  fs::create_directories(work.file("study/a"));
  fs::create_directories(work.file("study/b"));
  testing::write_file(work.file("study/a/run.h5"), "not an HDF5 file");
  testing::write_file(work.file("study/b/run.h5"), "");
  testing::CommandResult result = testing::run_cli("summarize '" + work.file("study") + "'");
  EXPECT_EQ(result.exit_code, 1) << result.out;
  EXPECT_THAT(result.err, HasSubstr("none of the 2 run records below"));
  EXPECT_THAT(result.err, HasSubstr(work.file("study/a/run.h5") + ": "));
  EXPECT_THAT(result.err, HasSubstr(work.file("study/b/run.h5") + ": "));
  EXPECT_FALSE(fs::exists(work.file("study/summary.md")));
}

// A record damaged where summarize and report read it (its config text, in HDF5's global heap)
// is skipped, named with the dataset, and the others are summarized; with none readable,
// summarize fails.
TEST(Summarize, SkipsARecordDamagedWhereItReadsNamingTheDataset) {
  testing::TemporaryDirectory work;
  const std::string study = work.file("study");
  write_record(study, "a", 0, "rnn", "", 0.8);
  write_record(study, "b", 1, "rnn", "", 0.7);
  const std::string a = study + "/a/run.h5", b = study + "/b/run.h5";
  testing::flip_bits(b, testing::offset_of(b, "name = \"b\"") + 8);
  const std::string damaged = ": dataset 'config' " + std::string(testing::kChecksumFailure);

  Ran summary = summarize({study});
  EXPECT_EQ(summary.exit_code, 0) << summary.err;
  EXPECT_THAT(summary.out, HasSubstr("Unreadable records (not in any cell): b: " + b + damaged));
  Ran report = analyze({"report", study, "--out", work.file("report")});
  EXPECT_EQ(report.exit_code, 1);
  EXPECT_THAT(report.err, HasSubstr("skipped " + b + ": " + b + damaged));
  EXPECT_TRUE(fs::exists(work.file("report") + "/a/index.html"));

  testing::flip_bits(a, testing::offset_of(a, "name = \"a\"") + 8);
  summary = summarize({study});
  EXPECT_EQ(summary.exit_code, 1);
  EXPECT_THAT(summary.err, HasSubstr("none of the 2 run records below"));
  EXPECT_THAT(summary.err, HasSubstr(a + ": " + a + damaged));
}

TEST(Summarize, StudyOfTinyRunsThroughTheBinary) {
  testing::TemporaryDirectory work;
  std::string config = work.file("study.toml");
  testing::write_file(config, study_config(work.file("results")));
  testing::CommandResult ran = testing::run_cli("run --quiet '" + config + "'");
  ASSERT_EQ(ran.exit_code, 0) << ran.err;
  const std::string dir = work.file("results") + "/study";

  // The study's records, found as summarize finds them (run names are the sweep's business).
  std::vector<std::string> guided_records, unguided_records;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.path().filename() != "run.h5") continue;
    analysis::RecordReader record(entry.path().string());
    auto settings = analysis::settings_of(record.config());
    (settings.at("guidance.enabled") == "true" ? guided_records : unguided_records)
        .push_back(entry.path().string());
  }
  ASSERT_EQ(guided_records.size(), 2u);
  ASSERT_EQ(unguided_records.size(), 2u);

  // Final measures are the best weights' rows the run wrote after training.
  analysis::RecordReader finished(guided_records[0]);
  analysis::Table evaluation = finished.evaluation();
  const auto& splits = evaluation.column("split").texts;
  size_t best_test = std::find(splits.begin(), splits.end(), "best/test") - splits.begin();
  ASSERT_LT(best_test, splits.size());
  EXPECT_DOUBLE_EQ(analysis::final_measures_of(evaluation).at("test top1"),
                   evaluation.column("top1").numbers[best_test]);

  // Error consistency on the records' own predictions: κ of a target with its guide, by hand.
  ASSERT_TRUE(finished.has_predictions("target"));
  ASSERT_TRUE(finished.has_predictions("guide"));
  analysis::Kappa by_hand = analysis::cohens_kappa(finished.predictions("target").correct,
                                                   finished.predictions("guide").correct);
  EXPECT_EQ(by_hand.count, 32);  // the test split
  testing::CommandResult own_guide = testing::run_cli("analyze consistency '" + guided_records[0] +
                                                      "' '" + guided_records[0] +
                                                      "' --side-b guide");
  ASSERT_EQ(own_guide.exit_code, 0) << own_guide.err;
  EXPECT_THAT(own_guide.out, HasSubstr("kappa     " + analysis::format_number(by_hand.kappa)));
  testing::CommandResult kappas = testing::run_cli("analyze consistency '" + dir + "' --out '" +
                                                   work.file("kappa") + "'");
  ASSERT_EQ(kappas.exit_code, 0) << kappas.err;
  EXPECT_THAT(kappas.out, HasSubstr("/guide"));  // guides make columns of their own
  EXPECT_TRUE(fs::exists(work.file("kappa") + "/consistency.svg"));

  // A fifth run of the guided cell that never finished: same settings, state "running".
  Provenance provenance;
  provenance.config_toml = finished.config();
  provenance.seed = 7;
  RecordLayout layout = finished.layout();
  auto killed = RunRecord::create(dir + "/killed/run.h5", provenance, layout);
  killed->flush();
  killed.reset();

  testing::CommandResult summary = testing::run_cli("summarize '" + dir + "'");
  ASSERT_EQ(summary.exit_code, 0) << summary.err;
  EXPECT_THAT(summary.out, HasSubstr("5 runs (4 finished) in 2 cells"));
  EXPECT_THAT(summary.out, HasSubstr("| 2/3 |"));
  EXPECT_THAT(summary.out, HasSubstr("| 2/2 |"));
  EXPECT_THAT(summary.out, HasSubstr("killed (running)"));
  EXPECT_THAT(summary.out, HasSubstr("Δ test top1 [95% CI]"));
  EXPECT_TRUE(fs::exists(dir + "/summary.md"));
  EXPECT_TRUE(fs::exists(dir + "/summary.csv"));
  analysis::Study study = analysis::load_study(dir);
  EXPECT_EQ(study.axes, (std::vector<std::string>{"guidance.enabled"}));
  const analysis::StudyCell& guided = cell_with(study, "guidance.enabled", "true");
  EXPECT_EQ(study.values(guided, "test top1").size(), 2u);

  testing::CommandResult report =
      testing::run_cli("analyze report '" + dir + "' --out '" + work.file("report") + "'");
  ASSERT_EQ(report.exit_code, 0) << report.err;
  std::string html = testing::read_file(work.file("report") + "/index.html");
  EXPECT_THAT(html, HasSubstr("<h2>Study</h2>"));
  EXPECT_THAT(html, HasSubstr("<img src=\"consistency.svg\""));

  testing::CommandResult help = testing::run_cli("summarize --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_EQ(testing::run_cli("summarize").exit_code, 2);
}

}  // namespace
}  // namespace guidance
