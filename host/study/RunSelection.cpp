#include "host/study/RunSelection.h"

#include <algorithm>
#include <filesystem>
#include <iomanip>
#include <map>
#include <set>

#include "host/common/TextFormat.h"
#include "host/recording/RecordFormat.h"

namespace guidance {

namespace fs = std::filesystem;

namespace {

std::string settings_text(const SweepRun& run, const std::set<std::string>& varying) {
  std::string text;
  for (const auto& [path, value] : run.settings) {
    if (varying.count(path) == 0) continue;
    text += (text.empty() ? "" : ", ") + path + " = " + value;
  }
  return text;
}

}  // namespace

std::string config_arguments(const SelectedRuns& selection) {
  std::string text = selection.config_path;
  for (const auto& argument : selection.sweep.overrides().arguments()) {
    text += " " + shell_quote(argument);
  }
  return text;
}

std::string to_string(RunState state) {
  switch (state) {
    case RunState::New: return "new";
    case RunState::Partial: return "partial";
    case RunState::Done: return "done";
  }
  return "new";
}

RunState run_state(const std::string& run_directory) {
  std::string record = (fs::path(run_directory) / "run.h5").string();
  if (fs::exists(record)) {
    // Being created, or cut short by a kill (unreadable): whatever it holds, the run is not done.
    return record_format::state_of(record) == RecordState::Completed ? RunState::Done
                                                                      : RunState::Partial;
  }
  return fs::exists(fs::path(run_directory) / "checkpoint.pt") ? RunState::Partial : RunState::New;
}

void for_each_run(const Sweep& sweep, const std::vector<size_t>& positions,
                  const PluginCatalog& catalog,
                  const std::function<void(SweepRun& run, Config& config)>& visit) {
  for (size_t position : positions) {
    SweepRun run = sweep.run(position);
    Config config = validate_config(run.document, catalog);
    visit(run, config);
  }
}

SelectedRuns select_runs(const std::string& config_path, const Sweep& sweep,
                   const std::vector<size_t>& positions, const PluginCatalog& catalog) {
  SelectedRuns study{config_path, sweep, {}, {}};
  study.runs.reserve(positions.size());
  study.configs.reserve(positions.size());
  for_each_run(sweep, positions, catalog, [&](SweepRun& run, Config& config) {
    study.runs.push_back(std::move(run));
    study.configs.push_back(std::move(config));
  });
  return study;
}

int list_study(const std::string& config_path, const Sweep& sweep,
               const std::vector<size_t>& positions, const PluginCatalog& catalog,
               std::ostream& out) {
  std::set<std::string> varying = sweep.varying();
  size_t width = 3;
  for (size_t position : positions) width = std::max(width, sweep.name(position).size());
  std::map<RunState, size_t> counts;
  out << std::left << std::setw(width + 2) << "RUN" << std::setw(9) << "STATE" << "SETTINGS\n";
  for_each_run(sweep, positions, catalog, [&](SweepRun& run, Config& config) {
    RunState state = run_state(config.run_directory());
    ++counts[state];
    out << std::setw(width + 2) << run.name << std::setw(9) << to_string(state)
        << settings_text(run, varying) << "\n";
  });
  out << config_path << ": " << positions.size() << (positions.size() == 1 ? " run" : " runs");
  if (positions.size() != sweep.size()) out << " of " << sweep.size();
  out << ": " << counts[RunState::Done] << " done, " << counts[RunState::Partial] << " partial, "
      << counts[RunState::New] << " new\n";
  return 0;
}

}  // namespace guidance
