// Cell identity and tuning on studies built in memory: which settings become axes, which runs
// share a cell, and what --tune keeps.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "analysis/Cells.h"
#include "analysis/Study.h"
#include "analysis/Tuning.h"
#include "host/recording/RecordSchema.h"

namespace guidance::analysis {
namespace {

StudyRun run_with(const std::string& name, std::map<std::string, std::string> settings,
                  std::map<std::string, double> measures = {}) {
  StudyRun run;
  run.name = name;
  run.state = to_string(RecordState::Completed);
  run.settings = std::move(settings);
  run.measures = std::move(measures);
  return run;
}

TEST(Cells, AxesAreSettingsThatDifferAmongReadableRunsInConfigOrder) {
  Study study;
  // guidance.weight sorts before target.plugin by name but after it in a config; guide.plugin
  // and train.learning_rate take one value wherever they are set; the unreadable run's settings
  // count for nothing.
  study.runs = {
      run_with("a/s0", {{"guidance.weight", "1"}, {"guide.plugin", "convnet"},
                        {"target.plugin", "mlp"}, {"train.learning_rate", "0.1"}}),
      run_with("b/s0", {{"target.plugin", "mlp"}, {"train.learning_rate", "0.1"}}),
      run_with("c/s0", {{"guidance.weight", "2"}, {"guide.plugin", "convnet"},
                        {"target.plugin", "cnn"}, {"train.learning_rate", "0.1"}}),
      run_with("a/s1", {{"guidance.weight", "1"}, {"guide.plugin", "convnet"},
                        {"target.plugin", "mlp"}, {"train.learning_rate", "0.1"}}),
      run_with("broken", {{"target.plugin", "resnet"}, {"train.learning_rate", "0.5"}}),
  };
  study.runs.back().state = kUnreadable;
  group_into_cells(study);

  EXPECT_EQ(study.axes, (std::vector<std::string>{"target.plugin", "guidance.weight"}));
  ASSERT_EQ(study.cells.size(), 3u);
  EXPECT_EQ(study.cells[0].settings,
            (std::vector<Setting>{{"target.plugin", "mlp"}, {"guidance.weight", "1"}}));
  EXPECT_EQ(study.cells[0].runs, (std::vector<size_t>{0, 3}));
  EXPECT_EQ(study.cells[1].settings,
            (std::vector<Setting>{{"target.plugin", "mlp"}, {"guidance.weight", kNoValue}}));
  EXPECT_EQ(study.cells[1].runs, (std::vector<size_t>{1}));
  EXPECT_EQ(study.cells[2].runs, (std::vector<size_t>{2}));
  EXPECT_FALSE(study.cell_of(4).has_value());
}

TEST(Tuning, KeepsTheLowestValidationLossAndEveryCellOfAGroupWithoutAFinishedRun) {
  Study study;
  study.runs = {
      run_with("a-0.1", {{"guide.plugin", "a"}, {"train.learning_rate", "0.1"}},
               {{kTuningMeasure, 0.3}}),
      run_with("a-0.01", {{"guide.plugin", "a"}, {"train.learning_rate", "0.01"}},
               {{kTuningMeasure, 0.2}}),
      run_with("b-0.1", {{"guide.plugin", "b"}, {"train.learning_rate", "0.1"}}),
      run_with("b-0.01", {{"guide.plugin", "b"}, {"train.learning_rate", "0.01"}}),
  };
  study.runs[2].state = study.runs[3].state = to_string(RecordState::Failed);
  group_into_cells(study);
  tune_cells(study, "train.learning_rate");

  EXPECT_EQ(study.tuned_axis, "train.learning_rate");
  ASSERT_EQ(study.cells.size(), 3u);
  EXPECT_EQ(study.cells[0].runs, (std::vector<size_t>{1}));
  ASSERT_EQ(study.tuning.size(), 2u);
  EXPECT_EQ(study.tuning[0].chosen, "0.01");
  EXPECT_EQ(study.tuning[0].tried.size(), 2u);
  EXPECT_EQ(study.tuning[1].chosen, "");
  EXPECT_EQ(study.cells[1].runs, (std::vector<size_t>{2}));
  EXPECT_EQ(study.cells[2].runs, (std::vector<size_t>{3}));
}

}  // namespace
}  // namespace guidance::analysis
