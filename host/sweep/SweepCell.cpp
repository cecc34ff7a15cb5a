#include "host/sweep/SweepCell.h"

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <utility>

#include "host/common/AtomicFile.h"
#include "host/common/Errors.h"
#include "host/config/TomlWriter.h"

namespace guidance {

namespace fs = std::filesystem;

namespace {

std::string toml_string(const std::string& text) {
  return inline_toml(toml::value<std::string>(text));
}

}  // namespace

std::vector<SweepSetting> SweepCell::cell() const {
  std::vector<SweepSetting> kept;
  for (const auto& setting : settings) {
    if (!replicate || setting.first != *replicate) kept.push_back(setting);
  }
  return kept;
}

SweepCell sweep_cell(const SweepRun& run, size_t runs, const std::string& config_path) {
  SweepCell cell;
  cell.run = run.name;
  cell.study = run.settings.empty() ? run.name : run.name.substr(0, run.name.rfind('/'));
  cell.config = fs::absolute(config_path).lexically_normal().string();
  cell.index = run.index;
  cell.runs = runs;
  cell.settings = run.settings;
  if (run.replicate) cell.replicate = kReplicateKey;
  cell.seed = run.seed;
  return cell;
}

void write_sweep_cell(const SweepCell& cell, const std::string& directory) {
  std::ostringstream text;
  text << "# This run's cell of its sweep, written by `guidance run` (docs/studies.md).\n"
       << "study = " << toml_string(cell.study) << "\n"
       << "run = " << toml_string(cell.run) << "\n"
       << "config = " << toml_string(cell.config) << "\n"
       << "index = " << cell.index << "\n"
       << "runs = " << cell.runs << "\n"
       << "seed = " << cell.seed << "\n";
  if (cell.replicate) text << "replicate = " << toml_string(*cell.replicate) << "\n";
  text << "\n# every axis of the sweep: key path = the run's value, as TOML text\n[settings]\n";
  for (const auto& [path, value] : cell.settings) text << toml_string(path) << " = " << toml_string(value) << "\n";

  write_file_atomically((fs::path(directory) / kSweepCellFile).string(), text.str());
}

std::optional<SweepCell> read_sweep_cell(const std::string& directory) {
  std::string path = (fs::path(directory) / kSweepCellFile).string();
  if (!fs::exists(path)) return std::nullopt;
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& error) {
    throw RunError(path + ": " + std::string(error.description()));
  }
  auto text = [&](const char* key) {
    std::optional<std::string> value = root[key].value<std::string>();
    if (!value) throw RunError(path + ": missing string '" + key + "'");
    return *value;
  };
  auto count = [&](const char* key) {
    std::optional<int64_t> value = root[key].value<int64_t>();
    if (!value || *value < 0) throw RunError(path + ": missing integer '" + key + "'");
    return *value;
  };
  SweepCell cell;
  cell.study = text("study");
  cell.run = text("run");
  cell.config = text("config");
  cell.index = static_cast<size_t>(count("index"));
  cell.runs = static_cast<size_t>(count("runs"));
  cell.seed = static_cast<uint64_t>(count("seed"));
  if (root.contains("replicate")) cell.replicate = text("replicate");
  if (const toml::table* settings = root["settings"].as_table()) {
    std::vector<std::pair<toml::source_position, SweepSetting>> ordered;
    for (const auto& [key, value] : *settings) {
      std::optional<std::string> setting = value.value<std::string>();
      if (!setting) throw RunError(path + ": setting '" + std::string(key.str()) + "' is not a string");
      ordered.push_back({value.source().begin, {std::string(key.str()), *setting}});
    }
    std::stable_sort(ordered.begin(), ordered.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& entry : ordered) cell.settings.push_back(entry.second);
  }
  return cell;
}

}  // namespace guidance
