#include "host/cli/Commands.h"

#include <fcntl.h>

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
#include "host/study/StudyRunner.h"
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

constexpr const char* kRunHelp = R"(usage: guidance run CONFIG [--resume | --restart] [--threads N] [--quiet] [--shard I/N | --shard slurm]
                    [--jobs N] [--dry-run] [--emit-slurm [--tasks K] [--partition P] [--time T] [--cpus C] [--gpus G]]

Trains the run CONFIG describes (every run of its [sweep], in order) and writes its record to
<run.output>/<run.name>/run.h5. Ctrl-C or SIGTERM saves a checkpoint and stops; --resume
continues from it and ends as an uninterrupted run would. Studies: docs/studies.md.

  --resume        continue each run from its last checkpoint
  --restart       discard each run's earlier record and checkpoints and start over
  --threads N     LibTorch intra-op threads (default: run.threads, else every core; with --jobs:
                  cores / jobs)
  --quiet         no progress output
  --shard I/N     run only the sweep runs i with i % N == I (for job arrays)
  --shard slurm   the shard of this Slurm array task (SLURM_ARRAY_TASK_ID, _COUNT, _MIN)
  --jobs N        train N runs at once in child processes; done runs are skipped, interrupted
                  ones resumed, a failed run does not stop the others (logs: <run dir>/log.txt)
  --dry-run       list the runs (name, state done/partial/new, settings) without training
  --emit-slurm    print an sbatch array script that runs every shard with --shard slurm --resume;
                  --tasks K array tasks (default: one per run), --partition P, --time T,
                  --cpus C (also --threads C), --gpus G go into it

Each option taking a value accepts '--option VALUE' and '--option=VALUE'. A run that another
process is training is reported and skipped. Internal (what --jobs passes its children):
--run-index K trains run K only, --progress-fd FD writes 'step S T' lines to FD.

exit codes: 0 every run done, 2 usage or config error, 1 runtime failure (with --jobs: a run
failed; also when a run was skipped as busy), 130 interrupted (resumable)
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
        << "\n  cost: " << traits.cost << "\n  min rows: " << traits.min_rows
        << " (examples per comparison, with the default parameters; guidance skips token "
           "positions and batches with fewer)\n";
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
  std::vector<SweepRun> sweep;
  std::vector<Config> runs;
};

LoadedConfig load_config(const std::string& path, const GlobalOptions& global) {
  ConfigDocument document = ConfigDocument::parse(path);
  LoadedConfig loaded{load_plugins(global.plugin_dirs, document.plugin_dirs()), {}, {}};
  loaded.catalog.require_no_problems();
  loaded.sweep = expand_sweep(document);
  for (const SweepRun& run : loaded.sweep) {
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

/// Reads `--name VALUE` or `--name=VALUE` at args[i] (advancing i past a separate value).
/// @return whether args[i] is that option
bool option_value(const std::vector<std::string>& args, size_t& i, const std::string& name,
                  std::string& value) {
  const std::string& arg = args[i];
  if (arg == name) {
    if (i + 1 >= args.size()) throw UsageError(name + " needs a value");
    value = args[++i];
    return true;
  }
  if (arg.rfind(name + "=", 0) == 0) {
    value = arg.substr(name.size() + 1);
    return true;
  }
  return false;
}

int run_command(const std::vector<std::string>& args, const GlobalOptions& global,
                std::ostream& out, std::ostream& err) {
  if (wants_help(args)) {
    out << kRunHelp;
    return 0;
  }
  RunOptions options;
  std::string path;
  std::string shard;
  int jobs = 0;
  int run_index = -1;
  int progress_fd = -1;
  bool dry_run = false;
  bool emit_slurm = false;
  SlurmRequest slurm;
  int tasks = 0;
  bool slurm_options = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    std::string value;
    if (arg == "--resume") {
      options.resume = true;
    } else if (arg == "--restart") {
      options.restart = true;
    } else if (arg == "--quiet") {
      options.quiet = true;
    } else if (arg == "--dry-run") {
      dry_run = true;
    } else if (arg == "--emit-slurm") {
      emit_slurm = true;
    } else if (option_value(args, i, "--threads", value)) {
      options.threads = parse_count("--threads", value);
      if (options.threads < 1) throw UsageError("--threads must be at least 1");
    } else if (option_value(args, i, "--shard", value)) {
      shard = value;
    } else if (option_value(args, i, "--jobs", value)) {
      jobs = parse_count("--jobs", value);
      if (jobs < 1) throw UsageError("--jobs must be at least 1");
    } else if (option_value(args, i, "--run-index", value)) {
      run_index = parse_count("--run-index", value);
      if (run_index < 0) throw UsageError("--run-index must be at least 0");
    } else if (option_value(args, i, "--progress-fd", value)) {
      progress_fd = parse_count("--progress-fd", value);
      if (progress_fd < 0 || ::fcntl(progress_fd, F_GETFD) < 0) {
        throw UsageError("--progress-fd " + value + " is not an open file descriptor");
      }
    } else if (option_value(args, i, "--tasks", value)) {
      tasks = parse_count("--tasks", value);
      if (tasks < 1) throw UsageError("--tasks must be at least 1");
      slurm_options = true;
    } else if (option_value(args, i, "--partition", value)) {
      slurm.partition = value;
      slurm_options = true;
    } else if (option_value(args, i, "--time", value)) {
      slurm.time = value;
      slurm_options = true;
    } else if (option_value(args, i, "--cpus", value)) {
      slurm.cpus = parse_count("--cpus", value);
      if (slurm.cpus < 1) throw UsageError("--cpus must be at least 1");
      slurm_options = true;
    } else if (option_value(args, i, "--gpus", value)) {
      slurm.gpus = parse_count("--gpus", value);
      if (slurm.gpus < 1) throw UsageError("--gpus must be at least 1");
      slurm_options = true;
    } else if (!arg.empty() && arg[0] == '-') {
      throw UsageError("unknown option '" + arg + "' for 'run'" +
                       did_you_mean(arg, {"--resume", "--restart", "--quiet", "--threads",
                                          "--shard", "--jobs", "--dry-run", "--emit-slurm",
                                          "--tasks", "--partition", "--time", "--cpus",
                                          "--gpus"}));
    } else if (path.empty()) {
      path = arg;
    } else {
      throw UsageError("'run' takes one CONFIG, got '" + path + "' and '" + arg + "'");
    }
  }
  if (path.empty()) throw UsageError("usage: guidance run CONFIG");
  if (options.resume && options.restart) throw UsageError("--resume and --restart exclude each other");
  if (dry_run && emit_slurm) throw UsageError("--dry-run and --emit-slurm exclude each other");
  if (slurm_options && !emit_slurm) {
    throw UsageError("--tasks, --partition, --time, --cpus and --gpus go with --emit-slurm");
  }
  if (emit_slurm && (!shard.empty() || jobs > 0)) {
    throw UsageError("--emit-slurm writes its own --shard slurm; leave out --shard and --jobs");
  }
  if (run_index >= 0 && (jobs > 0 || !shard.empty())) {
    throw UsageError("--run-index selects one run: leave out --jobs and --shard");
  }

  Shard selected_shard;
  if (shard == "slurm") {
    selected_shard = slurm_shard([](const char* name) { return std::getenv(name); });
  } else if (!shard.empty()) {
    size_t slash = shard.find('/');
    if (slash == std::string::npos) {
      throw UsageError("--shard expects I/N or 'slurm', got '" + shard + "'");
    }
    selected_shard.index = parse_count("--shard", shard.substr(0, slash));
    selected_shard.count = parse_count("--shard", shard.substr(slash + 1));
  }

  LoadedConfig loaded = load_config(path, global);
  Study study{path, std::move(loaded.sweep), std::move(loaded.runs)};
  std::vector<size_t> selected;
  if (run_index >= 0) {
    if (static_cast<size_t>(run_index) >= study.sweep.size()) {
      throw UsageError("--run-index " + std::to_string(run_index) + ": the config has " +
                       std::to_string(study.sweep.size()) + " runs");
    }
    selected.push_back(static_cast<size_t>(run_index));
  } else {
    selected = shard_positions(study.sweep.size(), selected_shard.index, selected_shard.count);
  }

  if (dry_run) return list_study(study, selected, out);
  if (emit_slurm) {
    slurm.binary = std::filesystem::read_symlink("/proc/self/exe").string();
    slurm.config = std::filesystem::absolute(path).lexically_normal().string();
    for (const auto& dir : global.plugin_dirs) {
      slurm.plugin_dirs.push_back(std::filesystem::absolute(dir).lexically_normal().string());
    }
    std::string name = sweep_cell(study.sweep.front(), study.sweep.size(), path).study;
    std::replace(name.begin(), name.end(), '/', '-');
    slurm.job_name = name;
    slurm.runs = study.sweep.size();
    slurm.tasks = tasks > 0 ? static_cast<size_t>(tasks) : study.sweep.size();
    out << slurm_script(slurm);
    return 0;
  }
  if (jobs > 0) {
    JobOptions job_options;
    job_options.jobs = jobs;
    job_options.threads = options.threads;
    job_options.restart = options.restart;
    job_options.quiet = options.quiet;
    job_options.plugin_dirs = global.plugin_dirs;
    return run_study_jobs(study, selected, job_options, out, err);
  }
  return run_study_here(study, selected, loaded.catalog, options, progress_fd, out, err);
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
