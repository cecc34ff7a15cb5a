#include "host/cli/Commands.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include <torch/version.h>

#include "analysis/Analyze.h"
#include "analysis/Summarize.h"
#include "host/common/Errors.h"
#include "host/common/StopSignal.h"
#include "host/common/Suggest.h"
#include "host/config/Config.h"
#include "host/config/TomlReader.h"
#include "host/plugins/PluginCatalog.h"
#include "host/sweep/Sweep.h"
#include "host/training/RunDriver.h"
#include "host/training/RunSetup.h"

namespace guidance::cli {

namespace {

constexpr const char* kMainHelp = R"(usage: guidance [--plugin-dir DIR]... COMMAND [ARGS]

Guided training workbench: trains a target network while aligning its layers to a frozen guide's
(arXiv 2410.20035), with architectures, datasets, metrics and guide initialisations as plugins.

commands:
  plugins                 list every loaded plugin (kind, name, version, library, summary)
  plugins describe NAME   show a plugin's parameters (types, defaults, docs) and traits
  check CONFIG            validate a config and every plugin it names, without training
  run CONFIG              train the run (or every run of a sweep) the config describes
  analyze ...             offline analysis of run records (see 'guidance analyze --help')
  summarize DIR           a study's table: mean ± std over seeds per cell, Δ to a baseline with
                          a 95 % Welch CI, failed runs flagged; --rows/--cols pivot (prior atlas)

global options:
  --plugin-dir DIR        load plugins from DIR first (repeatable); then $GUIDANCE_PLUGIN_PATH
                          (colon-separated), the config's run.plugin_dirs, the built-in plugins
  --version               print versions and exit
  -h, --help              this help; 'guidance COMMAND --help' for a command

exit codes: 0 success, 2 usage or config error, 1 runtime failure, 130 interrupted (resumable)
)";

constexpr const char* kPluginsHelp = R"(usage: guidance plugins [describe NAME]

Lists every plugin found in the plugin directories, or describes one: its parameters with types,
defaults, allowed values and docs; for metrics also the formula, range, differentiability and cost.
Libraries that could not be loaded are reported on stderr (exit code 2).
)";

constexpr const char* kCheckHelp = R"(usage: guidance check CONFIG

Validates CONFIG: TOML syntax, every section and key, each plugin's table against its schema,
the data the dataset plugin reads, the networks (built, not trained) and the layer map's tap
names. Every run of a [sweep] is checked. Nothing is trained or written.
)";

constexpr const char* kRunHelp = R"(usage: guidance run CONFIG [--resume | --restart] [--threads N] [--quiet] [--shard I/N]

Trains the run CONFIG describes (every run of its [sweep], in order) and writes its record to
<run.output>/<run.name>/run.h5. Ctrl-C or SIGTERM saves a checkpoint and stops; --resume
continues from it and ends as an uninterrupted run would.

  --resume       continue each run from its last checkpoint
  --restart      discard each run's earlier record and checkpoints and start over
  --threads N    LibTorch intra-op threads (default: run.threads, else every core)
  --quiet        no progress output
  --shard I/N    run only the sweep runs i with i % N == I (for job arrays)

exit codes: 0 done, 2 usage or config error, 1 runtime failure, 130 interrupted (resumable)
)";

struct GlobalOptions {
  std::vector<std::string> plugin_dirs;
  std::vector<std::string> rest;
};

GlobalOptions split_global_options(const std::vector<std::string>& args) {
  GlobalOptions options;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--plugin-dir") {
      if (i + 1 >= args.size()) throw UsageError("--plugin-dir needs a directory");
      options.plugin_dirs.push_back(args[++i]);
    } else if (arg.rfind("--plugin-dir=", 0) == 0) {
      options.plugin_dirs.push_back(arg.substr(13));
    } else {
      options.rest.push_back(arg);
    }
  }
  return options;
}

bool wants_help(const std::vector<std::string>& args) {
  for (const auto& arg : args) {
    if (arg == "--help" || arg == "-h") return true;
  }
  return false;
}

/// Loads plugins in the documented order; a directory that does not exist is an error.
PluginCatalog load_plugins(const std::vector<std::string>& cli_dirs,
                           const std::vector<std::string>& config_dirs) {
  PluginCatalog catalog;
  for (const auto& dir : cli_dirs) catalog.load_directory(dir);
  if (const char* path = std::getenv("GUIDANCE_PLUGIN_PATH")) {
    std::stringstream stream(path);
    for (std::string dir; std::getline(stream, dir, ':');) {
      if (dir.empty()) continue;
      try {
        catalog.load_directory(dir);
      } catch (const PluginLoadError& error) {
        throw PluginLoadError(std::string(error.what()) + " (listed in GUIDANCE_PLUGIN_PATH)");
      }
    }
  }
  for (const auto& dir : config_dirs) catalog.load_directory(dir);
  catalog.load_directory(PluginCatalog::default_directory());
  return catalog;
}

std::string file_name(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}

int list_plugins(const PluginCatalog& catalog, std::ostream& out, std::ostream& err) {
  std::vector<std::vector<std::string>> rows = {{"KIND", "NAME", "VERSION", "LIBRARY", "SUMMARY"}};
  for (PluginKind kind : {PluginKind::Architecture, PluginKind::Dataset, PluginKind::Metric,
                          PluginKind::GuideInit}) {
    for (const auto& entry : catalog.entries()) {
      if (entry.plugin->kind() != kind) continue;
      rows.push_back({to_string(kind), entry.info.name, entry.info.version,
                      file_name(entry.library_path), entry.info.summary});
    }
  }
  std::vector<size_t> widths(5, 0);
  for (const auto& row : rows) {
    for (size_t c = 0; c + 1 < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  for (const auto& row : rows) {
    for (size_t c = 0; c + 1 < row.size(); ++c) out << std::left << std::setw(widths[c] + 2) << row[c];
    out << row.back() << "\n";
  }
  for (const auto& problem : catalog.problems()) err << "guidance: " << problem << "\n";
  return catalog.problems().empty() ? 0 : 2;
}

std::string allowed_values(const ParamSpec& spec) {
  std::ostringstream text;
  if (!spec.choices.empty()) {
    for (size_t i = 0; i < spec.choices.size(); ++i) text << (i ? "|" : "") << spec.choices[i];
  } else if (spec.min || spec.max) {
    text << (spec.min ? "[" : "(-inf") << (spec.min ? std::to_string(*spec.min) : "") << ", "
         << (spec.max ? std::to_string(*spec.max) : "inf") << (spec.max ? "]" : ")");
    std::string range = text.str();
    // Integral bounds read better without trailing zeros.
    for (const char* zeros : {".000000"}) {
      for (size_t at; (at = range.find(zeros)) != std::string::npos;) range.erase(at, 7);
    }
    return range;
  }
  return text.str();
}

void describe_entry(const CatalogEntry& entry, std::ostream& out) {
  const PluginInfo& info = entry.info;
  out << info.name << " (" << to_string(entry.plugin->kind()) << " plugin, version "
      << info.version << ")\n  " << info.summary << "\n  library: " << entry.library_path << "\n";
  if (entry.plugin->kind() == PluginKind::Metric) {
    MetricTraits traits = std::static_pointer_cast<MetricPlugin>(entry.plugin)->traits();
    out << "  formula: " << traits.formula << "\n"
        << "  range: [" << traits.lower << ", " << traits.upper << "], a "
        << (traits.sense == MetricSense::Distance ? "distance" : "similarity")
        << (traits.sense == MetricSense::Distance ? "" : " (guidance minimises upper - value)")
        << "\n  differentiable: " << (traits.differentiable ? "yes (usable for guidance)"
                                                           : "no (analysis and records only)")
        << "\n  cost: " << traits.cost << "\n";
  }
  out << "  table: plugin = \"" << info.name << "\"\n";
  if (info.params.empty()) {
    out << "  parameters: none\n";
    return;
  }
  out << "  parameters:\n";
  for (const auto& spec : info.params) {
    out << "    " << spec.name << " (" << to_string(spec.type);
    std::string allowed = allowed_values(spec);
    if (!allowed.empty()) out << ", " << allowed;
    out << ") = " << (spec.required ? std::string("<required>") : format_param_value(spec.default_value))
        << "\n        " << spec.doc << "\n";
  }
}

int plugins_command(const std::vector<std::string>& args, const GlobalOptions& global,
                    std::ostream& out, std::ostream& err) {
  if (wants_help(args)) {
    out << kPluginsHelp;
    return 0;
  }
  PluginCatalog catalog = load_plugins(global.plugin_dirs, {});
  if (args.empty()) return list_plugins(catalog, out, err);
  if (args[0] != "describe") {
    throw UsageError("unknown 'plugins' subcommand '" + args[0] + "' (expected 'describe NAME')");
  }
  if (args.size() != 2) throw UsageError("usage: guidance plugins describe NAME");
  std::vector<const CatalogEntry*> found = catalog.find_any(args[1]);
  if (found.empty()) {
    std::vector<std::string> all;
    for (const auto& entry : catalog.entries()) all.push_back(entry.info.name);
    throw UsageError("no plugin named '" + args[1] + "'" + did_you_mean(args[1], all));
  }
  for (size_t i = 0; i < found.size(); ++i) {
    if (i) out << "\n";
    describe_entry(*found[i], out);
  }
  for (const auto& problem : catalog.problems()) err << "guidance: " << problem << "\n";
  return 0;
}

struct LoadedConfig {
  PluginCatalog catalog;
  std::vector<Config> runs;
};

LoadedConfig load_config(const std::string& path, const GlobalOptions& global) {
  ConfigDocument document = ConfigDocument::parse(path);
  LoadedConfig loaded{load_plugins(global.plugin_dirs, document.plugin_dirs()), {}};
  loaded.catalog.require_no_problems();
  for (const SweepRun& run : expand_sweep(document)) {
    loaded.runs.push_back(validate_config(run.document, loaded.catalog));
  }
  return loaded;
}

int check_command(const std::vector<std::string>& args, const GlobalOptions& global,
                  std::ostream& out) {
  if (wants_help(args)) {
    out << kCheckHelp;
    return 0;
  }
  if (args.size() != 1) throw UsageError("usage: guidance check CONFIG");
  LoadedConfig loaded = load_config(args[0], global);
  for (const Config& config : loaded.runs) {
    RunComponents run = assemble_run(config, loaded.catalog);
    out << "ok  " << config.run.name << ": " << config.dataset.name << " ("
        << run.dataset->size(Split::Train) << " train / " << run.dataset->size(Split::Validation)
        << " validation / " << run.dataset->size(Split::Test) << " test), target "
        << config.target.name << " (" << run.target->taps().size() << " taps)";
    if (config.guided()) {
      out << ", guide " << config.guide->architecture.name << " [" << config.guide->init.name
          << "] via " << config.guidance.metric.name << " on " << run.pairs.size() << " pairs";
    } else {
      out << ", unguided";
    }
    out << "\n";
  }
  out << args[0] << ": " << loaded.runs.size() << (loaded.runs.size() == 1 ? " run" : " runs")
      << " valid\n";
  return 0;
}

int parse_count(const std::string& flag, const std::string& text) {
  try {
    size_t used = 0;
    int value = std::stoi(text, &used);
    if (used == text.size()) return value;
  } catch (const std::exception&) {
  }
  throw UsageError(flag + " expects a number, got '" + text + "'");
}

void print_comparison(const std::vector<RunSummary>& summaries, std::ostream& out) {
  std::vector<std::string> measures;
  for (const auto& summary : summaries) {
    for (const auto& [name, value] : summary.test) {
      if (std::find(measures.begin(), measures.end(), name) == measures.end()) measures.push_back(name);
    }
  }
  size_t width = 4;
  for (const auto& summary : summaries) width = std::max(width, summary.name.size());
  auto column = [](const std::string& measure) { return std::max<size_t>(24, measure.size() + 13); };
  out << "\n" << std::left << std::setw(width + 2) << "run" << std::setw(11) << "best step";
  for (const auto& measure : measures) out << std::setw(column(measure)) << ("train/test " + measure);
  out << "record\n";
  for (const auto& summary : summaries) {
    out << std::setw(width + 2) << summary.name << std::setw(11)
        << (summary.completed ? std::to_string(summary.best_step) : std::string("-"));
    for (const auto& measure : measures) {
      std::ostringstream cell;
      cell << std::fixed << std::setprecision(4);
      auto train = summary.train.find(measure);
      auto test = summary.test.find(measure);
      cell << (train != summary.train.end() ? train->second : NAN) << " / "
           << (test != summary.test.end() ? test->second : NAN);
      out << std::setw(column(measure)) << cell.str();
    }
    out << summary.record_path << (summary.completed ? "" : "  (interrupted)") << "\n";
  }
}

int run_command(const std::vector<std::string>& args, const GlobalOptions& global,
                std::ostream& out, std::ostream& err) {
  if (wants_help(args)) {
    out << kRunHelp;
    return 0;
  }
  RunOptions options;
  std::string path;
  int shard_index = 0;
  int shard_count = 1;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--resume") {
      options.resume = true;
    } else if (arg == "--restart") {
      options.restart = true;
    } else if (arg == "--quiet") {
      options.quiet = true;
    } else if (arg == "--threads") {
      if (i + 1 >= args.size()) throw UsageError("--threads needs a number");
      options.threads = parse_count("--threads", args[++i]);
      if (options.threads < 1) throw UsageError("--threads must be at least 1");
    } else if (arg == "--shard") {
      if (i + 1 >= args.size()) throw UsageError("--shard needs I/N");
      std::string shard = args[++i];
      size_t slash = shard.find('/');
      if (slash == std::string::npos) throw UsageError("--shard expects I/N, got '" + shard + "'");
      shard_index = parse_count("--shard", shard.substr(0, slash));
      shard_count = parse_count("--shard", shard.substr(slash + 1));
    } else if (!arg.empty() && arg[0] == '-') {
      throw UsageError("unknown option '" + arg + "' for 'run'" +
                       did_you_mean(arg, {"--resume", "--restart", "--quiet", "--threads", "--shard"}));
    } else if (path.empty()) {
      path = arg;
    } else {
      throw UsageError("'run' takes one CONFIG, got '" + path + "' and '" + arg + "'");
    }
  }
  if (path.empty()) throw UsageError("usage: guidance run CONFIG");
  if (options.resume && options.restart) throw UsageError("--resume and --restart exclude each other");
  LoadedConfig loaded = load_config(path, global);
  std::vector<size_t> selected = shard_positions(loaded.runs.size(), shard_index, shard_count);
  install_stop_handlers();
  std::vector<RunSummary> summaries;
  for (size_t index : selected) {
    summaries.push_back(run_config(loaded.runs[index], loaded.catalog, options, err));
    if (!summaries.back().completed) break;
  }
  print_comparison(summaries, out);
  if (!summaries.empty() && !summaries.back().completed) {
    err << "guidance: interrupted; a checkpoint was saved. Continue with: guidance run " << path
        << " --resume\n";
    return 130;
  }
  return 0;
}

}  // namespace

int dispatch(const std::vector<std::string>& all_args, std::ostream& out, std::ostream& err) {
  GlobalOptions global = split_global_options(all_args);
  const std::vector<std::string>& args = global.rest;
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    out << kMainHelp;
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version") {
    out << "guidance " << GUIDANCE_VERSION << "\nplugin ABI " << kAbiVersion << "\nLibTorch "
        << TORCH_VERSION << "\n";
    return 0;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "plugins") return plugins_command(rest, global, out, err);
  if (args[0] == "check") return check_command(rest, global, out);
  if (args[0] == "run") return run_command(rest, global, out, err);
  if (args[0] == "analyze") {
    PluginCatalog catalog = load_plugins(global.plugin_dirs, {});
    return analyze_main(rest, catalog, out, err);
  }
  if (args[0] == "summarize") return analysis::summarize_main(rest, out, err);
  throw UsageError("unknown command '" + args[0] + "'" +
                   did_you_mean(args[0], {"plugins", "check", "run", "analyze", "summarize"}));
}

}  // namespace guidance::cli
