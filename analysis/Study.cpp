#include "analysis/Study.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include "analysis/Baselines.h"
#include "analysis/Cells.h"
#include "analysis/RecordReader.h"
#include "analysis/SummaryText.h"
#include "analysis/Tuning.h"
#include "host/common/Errors.h"
#include "host/recording/RecordFormat.h"

namespace guidance::analysis {

namespace fs = std::filesystem;

namespace {

// The prefix of the measures of the last validation row (the weights at the end of training).
constexpr const char* kLastValidation = "last validation ";

// Adds `prefix` + name → value of each numeric column at `row` that has a value there.
void add_measures(const std::vector<const Table::Column*>& numeric, size_t row,
                  const std::string& prefix, std::map<std::string, double>& measures) {
  for (const Table::Column* column : numeric) {
    double value = column->numbers.at(row);
    if (!std::isnan(value)) measures[prefix + column->name] = value;
  }
}

// @return the last row of `split`, if the split column has one.
std::optional<size_t> last_row_of(const std::vector<std::string>& splits,
                                  const std::string& split) {
  for (size_t row = splits.size(); row-- > 0;) {
    if (splits[row] == split) return row;
  }
  return std::nullopt;
}

}  // namespace

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

std::map<std::string, double> final_measures_of(const Table& evaluation) {
  std::map<std::string, double> measures;
  if (!evaluation.has(record_schema::kSplit)) return measures;
  std::vector<const Table::Column*> numeric;
  for (const auto& column : evaluation.columns) {
    if (column.name != record_schema::kStep && column.name != record_schema::kEpoch &&
        column.name != record_schema::kSplit) {
      numeric.push_back(&column);
    }
  }
  for (const auto& [split, row] : final_evaluation_rows(evaluation).rows) {
    add_measures(numeric, row, split + " ", measures);
  }
  const auto& splits = evaluation.column(record_schema::kSplit).texts;
  if (std::optional<size_t> row = last_row_of(splits, "validation")) {
    add_measures(numeric, *row, kLastValidation, measures);
  }
  return measures;
}

Study load_study(const std::string& directory, const std::vector<Setting>& baseline,
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
      run.state = kUnreadable;
      run.problem = error.what();
    }
    for (const auto& [name, value] : run.measures) measure_set.insert(name);
    study.runs.push_back(std::move(run));
  }
  if (std::all_of(study.runs.begin(), study.runs.end(),
                  [](const StudyRun& run) { return run.state == kUnreadable; })) {
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

  group_into_cells(study);
  if (!tune_axis.empty()) tune_cells(study, tune_axis);
  assign_baselines(study, baseline);
  return study;
}

}  // namespace guidance::analysis
