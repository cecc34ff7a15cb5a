#include "host/cli/Commands.h"

#include <fcntl.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <map>
#include <memory>
#include <optional>
#include <sstream>

#include <CLI/CLI.hpp>
#include <torch/torch.h>
#include <torch/version.h>

#include "analysis/Analyze.h"
#include "analysis/Summarize.h"
#include "analysis/Table.h"
#include "host/bench/StepBench.h"
#include "host/common/CommandLine.h"
#include "host/common/EnumNames.h"
#include "host/common/Errors.h"
#include "host/common/Suggest.h"
#include "host/config/Config.h"
#include "host/config/ConfigKeys.h"
#include "host/contract/ContractChecks.h"
#include "host/distributed/Launch.h"
#include "host/distributed/ProcessGroup.h"
#include "host/config/TomlReader.h"
#include "host/plugins/PluginCatalog.h"
#include "host/recording/RecordSchema.h"
#include "host/recording/RecordVerify.h"
#include "host/study/Slurm.h"
#include "host/study/StudyJobs.h"
#include "host/study/StudyRunner.h"
#include "host/sweep/Shards.h"
#include "host/sweep/Sweep.h"
#include "host/training/RunDriver.h"
#include "host/training/RunSetup.h"

namespace guidance::cli {

namespace {

constexpr const char* kDescription =
    "Guided training workbench: trains a target network while aligning its layers to a frozen\n"
    "guide's (arXiv 2410.20035), with architectures, datasets, metrics and guide initialisations\n"
    "as plugins. 'guidance COMMAND --help' describes a command.\n";

constexpr const char* kExitCodes =
    "exit codes: 0 success, 2 usage or config error, 1 runtime failure, 130 interrupted "
    "(resumable)";

struct GlobalOptions {
  std::vector<std::string> plugin_dirs;
};

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
  const size_t width = analysis::output_width(out);
  size_t summary_column = 0;
  for (size_t c = 0; c + 1 < widths.size(); ++c) summary_column += widths[c] + 2;
  // A summary squeezed into fewer columns than this reads badly: it goes under the name instead.
  constexpr size_t kNarrowestSummary = 50;
  const bool beside = width == 0 || width >= summary_column + kNarrowestSummary;
  for (const auto& row : rows) {
    std::ostringstream line;
    for (size_t c = 0; c + 1 < row.size(); ++c) line << std::left << std::setw(widths[c] + 2) << row[c];
    std::string columns = line.str();
    if (beside) {
      std::vector<std::string> summary = analysis::wrap_text(
          row.back(), width == 0 ? 0 : width - summary_column);
      out << columns << summary[0] << "\n";
      for (size_t i = 1; i < summary.size(); ++i)
        out << std::string(summary_column, ' ') << summary[i] << "\n";
      continue;
    }
    columns.erase(columns.find_last_not_of(' ') + 1);
    // Only a long library name makes the columns wider than the terminal: 'plugins describe'
    // shows it whole.
    if (columns.size() > width) columns = columns.substr(0, width - 1) + "…";
    out << columns << "\n";
    if (&row == &rows.front()) continue;  // no SUMMARY header: the indented lines are those
    const size_t indent = widths[0] + 2;
    for (const auto& part : analysis::wrap_text(row.back(), width > indent ? width - indent : 1))
      out << std::string(indent, ' ') << part << "\n";
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

/// @return the name of every loaded plugin, for "did you mean" suggestions.
std::vector<std::string> plugin_names(const PluginCatalog& catalog) {
  std::vector<std::string> names;
  for (const auto& entry : catalog.entries()) names.push_back(entry.info.name);
  return names;
}

int describe_plugin(const std::string& name, const GlobalOptions& global, std::ostream& out,
                    std::ostream& err) {
  PluginCatalog catalog = load_plugins(global.plugin_dirs, {});
  std::vector<const CatalogEntry*> found = catalog.find_any(name);
  if (found.empty()) {
    throw UsageError("no plugin named '" + name + "'" + did_you_mean(name, plugin_names(catalog)));
  }
  for (size_t i = 0; i < found.size(); ++i) {
    if (i) out << "\n";
    describe_entry(*found[i], out);
  }
  // The plugin asked about is described whatever else failed to load: the refusals are only
  // reported (docs/plugins.md, "Refusals").
  for (const auto& problem : catalog.problems()) err << "guidance: " << problem << "\n";
  return 0;
}

/// @return the sizes `--input-shape` names, "1,28,28" → {1, 28, 28}: one or more positive
/// integers separated by commas. @throws UsageError naming the option and the value otherwise
std::vector<int64_t> parse_input_shape(const std::string& text) {
  std::vector<int64_t> shape;
  bool valid = !text.empty();
  for (size_t begin = 0; valid && begin <= text.size();) {
    size_t comma = text.find(',', begin);
    if (comma == std::string::npos) comma = text.size();
    const std::string part = text.substr(begin, comma - begin);
    size_t used = 0;
    long long size = 0;
    try {
      size = std::stoll(part, &used);
    } catch (const std::logic_error&) {
      used = 0;
    }
    valid = !part.empty() && std::isdigit(static_cast<unsigned char>(part.front())) &&
            used == part.size() && size > 0;
    shape.push_back(size);
    begin = comma + 1;
  }
  if (!valid) {
    throw UsageError("--input-shape expects positive sizes separated by commas, e.g. 1,28,28 "
                     "(channels, height, width); got '" + text + "'");
  }
  return shape;
}

/// `plugins test SUBJECT`: the contract checks (host/contract) on a plugin named in SUBJECT, on
/// an inline table `{ plugin = "...", <parameters> }`, or on every plugin of a library file.
/// `input_shape`, when given (`--input-shape`), replaces the image task's shape 3,32,32.
/// @return 0 when every check passed, 1 when one failed
int test_plugins(const std::string& subject, const std::optional<std::string>& input_shape,
                 const GlobalOptions& global, std::ostream& out, std::ostream& err) {
  ContractOptions options;
  if (input_shape) options.image_shape = parse_input_shape(*input_shape);
  PluginCatalog catalog = load_plugins(global.plugin_dirs, {});
  for (const auto& problem : catalog.problems()) err << "guidance: " << problem << "\n";
  struct Tested {
    const CatalogEntry* entry;
    Params params;
  };
  std::vector<Tested> tested;
  PluginCatalog library;  // a library file's own plugins, whatever else is loaded
  std::error_code no_file;
  if (!subject.empty() && subject.front() != '{' && std::filesystem::is_regular_file(subject, no_file)) {
    library.load_library(subject);
    library.require_no_problems();
    for (const auto& entry : library.entries()) {
      tested.push_back({&entry, defaults_of(entry.info.params)});
    }
    if (tested.empty()) throw UsageError("plugin library '" + subject + "' registers no plugins");
  } else {
    std::string name = subject;
    if (!subject.empty() && subject.front() == '{') {
      try {
        toml::table table = toml::parse("value = " + subject, std::string_view("plugins test"));
        name = table["value"]["plugin"].value_or(std::string());
      } catch (const toml::parse_error& error) {
        throw UsageError("not a plugin name, library file nor a TOML table "
                         "{ plugin = \"...\", ... }: " + std::string(error.description()));
      }
    }
    std::vector<const CatalogEntry*> found = catalog.find_any(name);
    if (found.empty()) {
      throw UsageError("no plugin named '" + name + "' and no library file '" + subject + "'" +
                       did_you_mean(name, plugin_names(catalog)));
    }
    for (const CatalogEntry* entry : found) {
      tested.push_back(
          {entry, parse_plugin_choice(subject, entry->plugin->kind(), catalog, "plugins test").params});
    }
  }
  options.base_directory = std::filesystem::current_path().string();
  options.architectures = &catalog;
  bool all_passed = true;
  for (const Tested& plugin : tested) {
    std::vector<CheckResult> results = check_contract(*plugin.entry, plugin.params, options);
    all_passed = print_results(std::string(to_string(plugin.entry->plugin->kind())) + " " +
                                   plugin.entry->info.name,
                               results, out) &&
                 all_passed;
  }
  return all_passed ? 0 : 1;
}

/// CONFIG and the overrides after it, as `run`, `check`, `bench` and `plugins needed` take them.
struct ConfigArguments {
  std::string path;
  ConfigOverrides overrides;
};

void add_config_arguments(CLI::App& command, ConfigArguments& arguments,
                          const std::string& config_help) {
  command.add_option("CONFIG", arguments.path, config_help)->required();
  command.add_option("OVERRIDES", arguments.overrides.assignments,
                     "key=value changes to the config, e.g. train.epochs=2 guide.plugin=mlp "
                     "(a value is TOML, or a bare string); checked like the file's");
  command.add_flag("-m,--multirun", arguments.overrides.multirun,
                   "key=a,b,c overrides make the key a sweep axis (one run per value)");
}

void add_plugins_command(CLI::App& root, const GlobalOptions& global, std::ostream& out,
                         std::ostream& err) {
  CLI::App& plugins = add_command(
      root, "plugins", "list every loaded plugin (kind, name, version, library, summary)",
      [&] { return list_plugins(load_plugins(global.plugin_dirs, {}), out, err); });
  plugins.require_subcommand(0, 1);
  plugins.footer(
      "Lists every plugin found in the plugin directories. Libraries that could not be loaded are\n"
      "reported on stderr; the listing then exits 2, 'describe' still exits 0 when it found NAME.\n"
      "Summaries wrap to $COLUMNS when it is set, else to the terminal's width (below each name\n"
      "when the columns leave them too little room); piped without $COLUMNS, one line each.");
  auto name = std::make_shared<std::string>();
  CLI::App& describe = add_command(
      plugins, "describe",
      "show a plugin's parameters (types, defaults, allowed values, docs)\n"
      "and traits; for metrics also the formula, range, differentiability, cost",
      [&, name] { return describe_plugin(*name, global, out, err); });
  describe.add_option("NAME", *name, "the plugin's name, e.g. linear-cka")->required();
  describe.footer("");
  auto subject = std::make_shared<std::string>();
  auto input_shape = std::make_shared<std::optional<std::string>>();
  CLI::App& test = add_command(
      plugins, "test",
      "run the contract checks the shipped plugins pass, one PASS/FAIL line per check\n"
      "(docs/plugins.md, 'Contract checks')",
      [&, subject, input_shape] {
        return test_plugins(*subject, *input_shape, global, out, err);
      });
  test.add_option("SUBJECT", *subject,
                  "a plugin's name, a plugin library file (every plugin in it), or a table\n"
                  "'{ plugin = \"text\", path = \"corpus.txt\" }' giving parameters")
      ->required();
  test.add_option_function<std::string>(
          "--input-shape", [input_shape](const std::string& text) { *input_shape = text; },
          "the image task's input shape, sizes separated by commas, e.g. 1,28,28\n"
          "(default 3,32,32): for an architecture made for other images")
      ->type_name("C,H,W");
  test.footer("exit codes: 0 every check passed, 1 a check failed, 2 usage error or unknown plugin");
  auto config = std::make_shared<ConfigArguments>();
  CLI::App& needed = add_command(
      plugins, "needed",
      "list the plugins a config names, one per line, without loading any:\n"
      "what to build before running it (the quick start builds only these)",
      [&out, config] {
        for (const std::string& name :
             ConfigDocument::parse(config->path, config->overrides).plugin_names()) {
          out << name << "\n";
        }
        return 0;
      });
  add_config_arguments(needed, *config, "the config file (TOML)");
  needed.footer(
      "Reads CONFIG's `plugin` keys, [sweep] axes and [record] metrics, and adds the default\n"
      "metric and guide-init where a config leaves them out; a value every run's sweep axis\n"
      "replaces is left out. Names are not checked: `guidance\n"
      "check CONFIG` does that once they are built. In this build tree plugin NAME is the target\n"
      "guidance-plugin-NAME.");
}

struct LoadedConfig {
  PluginCatalog catalog;
  std::vector<SweepRun> sweep;
  std::vector<Config> runs;
};

/// A config's plugins and its sweep, no run expanded yet: `check` and `run` expand the runs they
/// need one at a time (docs/studies.md).
struct LoadedSweep {
  PluginCatalog catalog;
  Sweep sweep;
};

LoadedSweep load_sweep(const ConfigArguments& arguments, const GlobalOptions& global) {
  ConfigDocument document = ConfigDocument::parse(arguments.path, arguments.overrides);
  PluginCatalog catalog = load_plugins(global.plugin_dirs, document.plugin_dirs());
  catalog.require_no_problems();
  Sweep sweep(document);
  return {std::move(catalog), std::move(sweep)};
}

LoadedConfig load_config(const ConfigArguments& arguments, const GlobalOptions& global) {
  LoadedSweep loaded = load_sweep(arguments, global);
  SelectedRuns study = select_runs(arguments.path, loaded.sweep, shard_positions(loaded.sweep.size(), 0, 1),
                             loaded.catalog);
  return {std::move(loaded.catalog), std::move(study.runs), std::move(study.configs)};
}

/// @return "N taps, M in tap_set 'S'" for a network's taps and the set the uniform map uses.
std::string taps_in_set(const Network& network, TapSet set) {
  std::vector<TapSpec> taps = network.taps();
  size_t in_set = 0;
  for (const auto& tap : taps) in_set += tap.in(set) ? 1 : 0;
  return std::to_string(taps.size()) + " taps, " + std::to_string(in_set) + " in tap_set '" +
         kTapSetNames[static_cast<size_t>(set)] + "'";
}

/// @return the tap sets a tap belongs to, as `guidance.tap_set` spells them ("modules,blocks").
std::string tap_set_names(const TapSpec& tap) {
  std::string names;
  for (size_t set = 0; set < kTapSetNames.size(); ++set) {
    if (!tap.in(static_cast<TapSet>(set))) continue;
    names += (names.empty() ? "" : ",") + std::string(kTapSetNames[set]);
  }
  return names;
}

/// One row per tap: name, the tap sets it belongs to, layout and the activation's shape on
/// `batch`; the title counts the taps of the set the uniform map runs over.
void print_taps(const std::string& title, Network& network, const NetworkInput& batch,
                TapSet mapped_set, std::ostream& out) {
  NetworkOutput output = inspect_forward(network, batch);
  std::vector<TapSpec> taps = network.taps();
  size_t width = 0;
  for (const auto& tap : taps) width = std::max(width, tap.name.size());
  out << "    " << title << " (" << taps_in_set(network, mapped_set) << "):\n";
  for (size_t i = 0; i < taps.size(); ++i) {
    out << "      " << std::left << std::setw(static_cast<int>(width + 2)) << taps[i].name
        << std::setw(16) << tap_set_names(taps[i]) << std::setw(10)
        << (taps[i].layout == TapLayout::Flat ? "flat" : "sequence")
        << c10::str(output.taps.at(i).sizes()) << "\n";
  }
}

/// The taps of target and guide with their shapes on a batch of two training examples, and the
/// resolved layer pairs: what a layer map can name, without misspelling a tap to find out.
void print_tap_details(const Config& config, const RunComponents& run, std::ostream& out) {
  int64_t count = std::min<int64_t>(2, run.dataset->size(Split::Train));
  if (count == 0) {
    out << "    (no training examples to show tap shapes on)\n";
    return;
  }
  Batch batch = run.dataset->batch(Split::Train, torch::arange(count, torch::kLong));
  out << "    shapes on a batch of " << count << " training examples\n";
  const TapSet mapped_set = config.guidance.tap_set;
  print_taps("target " + config.target.name + " taps", *run.target, batch.network_input(),
             mapped_set, out);
  if (!run.guide) return;
  print_taps("guide " + config.guide->architecture.name + " taps", *run.guide,
             batch.network_input(), mapped_set, out);
  out << "    layer pairs (guide tap -> target tap), uniform_map '"
      << kUniformMapRuleNames[static_cast<size_t>(config.guidance.uniform_map)] << "':\n";
  for (const TapPair& pair : run.pairs) {
    out << "      " << pair.guide_name << " -> " << pair.target_name << "\n";
  }
}

struct CheckArguments {
  ConfigArguments config;
  bool verbose = false;
};

/// Assembles a run (data opened, networks built, layer map resolved) and @return what `check`
/// prints after the run's name.
std::string assembly_report(const Config& config, const PluginCatalog& catalog, bool verbose) {
  RunComponents run = assemble_run(config, catalog);
  std::ostringstream out;
  out << config.dataset.name << " (" << run.dataset->size(Split::Train) << " train / "
      << run.dataset->size(Split::Validation) << " validation / " << run.dataset->size(Split::Test)
      << " test), target " << config.target.name << " ("
      << taps_in_set(*run.target, config.guidance.tap_set) << ")";
  if (config.guided()) {
    out << ", guide " << describe_guide(*config.guide) << " via " << config.guidance.metric.name
        << " on " << run.pairs.size() << " pairs";
  } else {
    out << ", unguided";
  }
  out << "\n";
  if (verbose) print_tap_details(config, run, out);
  return out.str();
}

/// @return what tells apart runs that may assemble differently: their settings but [train] keys
/// and run.seed, which assemble_run does not read or which change only initial weights and data
/// order, not what `check` checks.
std::string assembly_key(const SweepRun& run) {
  std::string key;
  for (const auto& [path, value] : run.settings) {
    if (path == "train" || path.rfind("train.", 0) == 0 || path == kReplicateKey) continue;
    key += path + " = " + value + "\n";
  }
  return key;
}

int check_config(const CheckArguments& arguments, const GlobalOptions& global,
                 std::ostream& out) {
  LoadedSweep loaded = load_sweep(arguments.config, global);
  // Assembling a run costs far more than validating it (the dataset is read): runs that assemble
  // alike share one assembly, so a sweep over seeds and [train] keys is assembled once.
  std::map<std::string, std::string> reports;
  const size_t runs = loaded.sweep.size();
  auto check_run = [&](SweepRun& run, Config& config) {
    std::string& report = reports[assembly_key(run)];
    if (report.empty()) report = assembly_report(config, loaded.catalog, arguments.verbose);
    out << "ok  " << config.run.name << ": " << report;
  };
  for_each_run(loaded.sweep, shard_positions(runs, 0, 1), loaded.catalog, check_run);
  out << arguments.config.path << ": " << runs << (runs == 1 ? " run" : " runs") << " valid\n";
  return 0;
}

/// `keys [SECTION]`: the config key reference, from the same declarations that read configs.
int print_config_keys(const std::string& section, std::ostream& out) {
  auto plain = [](std::string text) {
    text.erase(std::remove(text.begin(), text.end(), '`'), text.end());
    return text;
  };
  std::vector<std::string> tables;
  bool found = false;
  for (const SectionReference& reference : config_reference()) {
    tables.push_back(reference.table.substr(1, reference.table.size() - 2));
    if (!section.empty() && reference.table != section && reference.table != "[" + section + "]") {
      continue;
    }
    found = true;
    out << reference.table << "\n";
    for (const KeyReference& key : reference.keys) {
      out << "  " << plain(key.key) << " (" << key.type;
      if (!key.allowed.empty()) out << ", " << plain(key.allowed);
      out << ") = " << plain(key.default_value) << "\n      " << plain(key.doc) << "\n";
    }
  }
  if (!found) throw UsageError("no config section '" + section + "'" + did_you_mean(section, tables));
  return 0;
}

void add_keys_command(CLI::App& root, std::ostream& out) {
  auto section = std::make_shared<std::string>();
  CLI::App& keys = add_command(
      root, "keys", "every config key: type, default, allowed values, meaning (docs/config.md)",
      [&out, section] { return print_config_keys(*section, out); });
  keys.add_option("SECTION", *section, "only this section, e.g. train or [train]");
}

void add_check_command(CLI::App& root, const GlobalOptions& global, std::ostream& out) {
  auto arguments = std::make_shared<CheckArguments>();
  CLI::App& check = add_command(root, "check",
                                "validate a config and every plugin it names, without training",
                                [&, arguments] { return check_config(*arguments, global, out); });
  add_config_arguments(check, arguments->config, "the config file (TOML)");
  check.add_flag("--verbose", arguments->verbose,
                 "also list, for each run, the target's and the guide's taps (name, layout, shape "
                 "on two training examples) and the resolved layer pairs");
  check.footer(
      "Validates CONFIG: TOML syntax, every section and key, each plugin's table against its\n"
      "schema, the data the dataset plugin reads, the networks (built, not trained) and the layer\n"
      "map's tap names. Every run of a [sweep] is checked. Nothing is trained or written.");
}

struct BenchArguments {
  ConfigArguments config;
  BenchOptions options;
  std::string guide_cache;  ///< "" = the config's
  std::string precision;    ///< "" = the config's
};

int bench_command(const BenchArguments& arguments, const GlobalOptions& global, std::ostream& out,
                 std::ostream& err) {
  LoadedConfig loaded = load_config(arguments.config, global);
  if (loaded.runs.size() != 1) {
    throw UsageError(arguments.config.path + " describes " + std::to_string(loaded.runs.size()) +
                     " runs (a [sweep]); bench times one run");
  }
  BenchOptions options = arguments.options;
  if (!arguments.guide_cache.empty()) {
    options.guide_cache =
        *enumerator_named<GuideCacheMode>(kGuideCacheModeNames, arguments.guide_cache);
  }
  if (!arguments.precision.empty()) {
    options.precision = *enumerator_named<Precision>(kPrecisionNames, arguments.precision);
  }
  for (const auto& [name, value] : bench_config(loaded.runs.front(), loaded.catalog, options,
                                                err)) {
    out << name << " " << std::setprecision(6) << value << "\n";
  }
  return 0;
}

void add_bench_command(CLI::App& root, const GlobalOptions& global, std::ostream& out,
                       std::ostream& err) {
  auto arguments = std::make_shared<BenchArguments>();
  CLI::App& bench = add_command(
      root, "bench", "time a config's training steps and say where a step's time goes",
      [&, arguments] { return bench_command(*arguments, global, out, err); });
  add_config_arguments(bench, arguments->config, "the config file (TOML) of one run");
  bench.add_option("--steps", arguments->options.steps, "steps timed")->capture_default_str();
  bench.add_option("--warmup", arguments->options.warmup, "untimed steps first")
      ->capture_default_str();
  bench.add_flag("--unguided", arguments->options.unguided, "time the run with guidance off");
  bench.add_option("--threads", arguments->options.threads,
                   "LibTorch threads (default: the config's run.threads)");
  bench.add_option("--guide-cache-mb", arguments->options.guide_cache_mb,
                   "guidance.guide_cache_mb for this bench (0: from free memory)");
  bench.add_option("--guide-cache", arguments->guide_cache, "guidance.guide_cache for this bench")
      ->check(one_of(names_of(kGuideCacheModeNames)))
      ->type_name("auto|on|off");
  bench.add_option("--precision", arguments->precision, "train.precision for this bench")
      ->check(one_of(names_of(kPrecisionNames)))
      ->type_name("32|bf16-mixed");
  bench.footer(
      "Builds the run (its guide initialised as `run` would, a trained guide cached as `run`\n"
      "caches it; no record or checkpoint is written), runs the warm-up steps, counts one\n"
      "step's operations, then times --steps steps. Prints one `name value` per line:\n"
      "steps_per_s, seconds_per_step, share.<phase> for data, guide_forward, target_forward,\n"
      "distances, backward and optimizer, step_gflop, matmul_gflop_per_s, compute_fraction,\n"
      "peak_rss_mib, guide_cache_hits.\n"
      "See docs/performance.md.");
}

struct RunArguments {
  ConfigArguments config;
  RunOptions options;
  std::string shard;
  int jobs = 0;
  int run_index = -1;
  int progress_fd = -1;
  bool dry_run = false;
  bool emit_slurm = false;
  SlurmRequest slurm;
  int tasks = 0;
};

/// @return the shard `--shard I/N` or `--shard slurm` names.
Shard parse_shard(const std::string& text) {
  if (text == "slurm") return slurm_shard([](const char* name) { return std::getenv(name); });
  Shard shard;
  size_t slash = text.find('/');
  size_t index_used = 0, count_used = 0;
  try {
    if (slash != std::string::npos) {
      shard.index = std::stoi(text.substr(0, slash), &index_used);
      shard.count = std::stoi(text.substr(slash + 1), &count_used);
    }
  } catch (const std::logic_error&) {
    index_used = 0;
  }
  if (slash == std::string::npos || index_used != slash || count_used != text.size() - slash - 1) {
    throw UsageError("--shard expects I/N or 'slurm', got '" + text + "'");
  }
  return shard;
}

int run_command(RunArguments& arguments, const GlobalOptions& global, std::ostream& out,
               std::ostream& err) {
  Shard selected_shard;
  if (!arguments.shard.empty()) selected_shard = parse_shard(arguments.shard);

  const std::string& path = arguments.config.path;
  LoadedSweep loaded = load_sweep(arguments.config, global);
  const Sweep& sweep = loaded.sweep;
  std::vector<size_t> selected;
  if (arguments.run_index >= 0) {
    if (static_cast<size_t>(arguments.run_index) >= sweep.size()) {
      throw UsageError("--run-index " + std::to_string(arguments.run_index) +
                       ": the config has " + std::to_string(sweep.size()) + " runs");
    }
    selected.push_back(static_cast<size_t>(arguments.run_index));
  } else {
    selected = shard_positions(sweep.size(), selected_shard.index, selected_shard.count);
  }

  if (arguments.dry_run) return list_study(path, sweep, selected, loaded.catalog, out);
  if (arguments.emit_slurm) {
    // Every run is validated before a script that trains them elsewhere is printed.
    for_each_run(sweep, selected, loaded.catalog, [](SweepRun&, Config&) {});
    SlurmRequest& slurm = arguments.slurm;
    slurm.binary = std::filesystem::read_symlink("/proc/self/exe").string();
    slurm.config = std::filesystem::absolute(path).lexically_normal().string();
    slurm.overrides = sweep.overrides().arguments();
    for (const auto& dir : global.plugin_dirs) {
      slurm.plugin_dirs.push_back(std::filesystem::absolute(dir).lexically_normal().string());
    }
    std::string name = sweep.study();
    std::replace(name.begin(), name.end(), '/', '-');
    slurm.job_name = name;
    slurm.runs = sweep.size();
    slurm.tasks = arguments.tasks > 0 ? static_cast<size_t>(arguments.tasks) : sweep.size();
    out << slurm_script(slurm);
    return 0;
  }
  // Only the selected runs are expanded: a --jobs child or a shard holds its own runs alone.
  SelectedRuns study = select_runs(path, sweep, selected, loaded.catalog);
  RunOptions& options = arguments.options;
  if (std::optional<Launch> launch = launch_from_environment(std::getenv)) {
    if (arguments.jobs > 0 || selected.size() != 1) {
      throw UsageError("a distributed launch (" + launch->source + " variables, " +
                       std::to_string(launch->world_size) +
                       " processes) trains one run together: select one run of the sweep with "
                       "--shard I/N (N = its number of runs), and drop --jobs (" + std::to_string(selected.size()) +
                       " runs selected)");
    }
    const Config& config = study.configs.front();
    options.collective = join_process_group(*launch, config.run.distributed, config.run.device);
    if (launch->rank != 0) options.quiet = true;
  }
  if (arguments.jobs > 0) {
    JobOptions job_options;
    job_options.jobs = arguments.jobs;
    job_options.threads = options.threads;
    job_options.restart = options.restart;
    job_options.quiet = options.quiet;
    job_options.plugin_dirs = global.plugin_dirs;
    return run_study_jobs(study, job_options, out, err);
  }
  return run_study_here(study, loaded.catalog, options, arguments.progress_fd, out, err);
}

void add_run_command(CLI::App& root, const GlobalOptions& global, std::ostream& out,
                     std::ostream& err) {
  auto arguments = std::make_shared<RunArguments>();
  RunArguments& a = *arguments;
  CLI::App& run = add_command(
      root, "run", "train the run (or every run of a sweep) the config describes",
      [&, arguments] { return run_command(*arguments, global, out, err); });
  add_config_arguments(run, a.config, "the config file (TOML)");
  CLI::Option* resume =
      run.add_flag("--resume", a.options.resume, "continue each run from its last checkpoint");
  CLI::Option* restart = run.add_flag(
      "--restart", a.options.restart,
      "discard each run's earlier record and checkpoints and start over");
  resume->excludes(restart);
  run.add_option("--threads", a.options.threads,
                 "LibTorch intra-op threads (default: run.threads, else every core; with --jobs: "
                 "cores / jobs)")
      ->type_name("N")
      ->check(at_least(1));
  run.add_flag("--quiet", a.options.quiet, "no progress output");
  CLI::Option* shard =
      run.add_option("--shard", a.shard,
                     "I/N: run only the sweep runs i with i % N == I (for job arrays); 'slurm': "
                     "the shard of this Slurm array task (SLURM_ARRAY_TASK_ID, _COUNT, _MIN)")
          ->type_name("I/N|slurm");
  CLI::Option* jobs =
      run.add_option("--jobs", a.jobs,
                     "train N runs at once in child processes; done runs are skipped, "
                     "interrupted ones resumed, a failed run does not stop the others (logs: "
                     "<run dir>/log.txt)")
          ->type_name("N")
          ->check(at_least(1));
  CLI::Option* dry_run = run.add_flag(
      "--dry-run", a.dry_run, "list the runs (name, state done/partial/new, settings) without "
                              "training");
  CLI::Option* emit_slurm = run.add_flag(
      "--emit-slurm", a.emit_slurm,
      "print an sbatch array script that runs every shard with --shard slurm --resume");
  dry_run->excludes(emit_slurm);
  emit_slurm->excludes(shard)->excludes(jobs);
  const std::string slurm_group = "Options of --emit-slurm";
  run.add_option("--tasks", a.tasks, "array tasks (default: one per run)")
      ->type_name("K")
      ->check(at_least(1))
      ->needs(emit_slurm)
      ->group(slurm_group);
  run.add_option("--partition", a.slurm.partition, "the Slurm partition")
      ->type_name("P")
      ->needs(emit_slurm)
      ->group(slurm_group);
  run.add_option("--time", a.slurm.time, "the time limit of each task")
      ->type_name("T")
      ->needs(emit_slurm)
      ->group(slurm_group);
  run.add_option("--cpus", a.slurm.cpus, "CPUs per task (also --threads C)")
      ->type_name("C")
      ->check(at_least(1))
      ->needs(emit_slurm)
      ->group(slurm_group);
  run.add_option("--gpus", a.slurm.gpus, "GPUs per task")
      ->type_name("G")
      ->check(at_least(1))
      ->needs(emit_slurm)
      ->group(slurm_group);
  // What --jobs passes its children; not for users, so not in the help.
  run.add_option("--run-index", a.run_index, "train run K only")
      ->check(at_least(0))
      ->excludes(jobs)
      ->excludes(shard)
      ->group("");
  run.add_option("--concurrent-runs", a.options.concurrent_runs,
                 "runs started beside this one, sharing its memory")
      ->check(at_least(1))
      ->excludes(jobs)
      ->group("");
  run.add_option("--progress-fd", a.progress_fd, "write 'step S T' lines to FD")
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            int fd = -1;
            if (!CLI::detail::lexical_cast(text, fd) || fd < 0 || ::fcntl(fd, F_GETFD) < 0) {
              return "'" + text + "' is not an open file descriptor";
            }
            return "";
          },
          ""))
      ->group("");
  run.footer(
      "Trains the run CONFIG describes (every run of its [sweep], in order) and writes its record\n"
      "to <run.output>/<run.name>/run.h5. Ctrl-C or SIGTERM saves a checkpoint and stops; --resume\n"
      "continues from it and ends as an uninterrupted run would. A run that another process is\n"
      "training is reported and skipped. Studies: docs/studies.md.\n\n"
      "Started as one of several processes (WORLD_SIZE > 1 with RANK, MASTER_ADDR, MASTER_PORT as\n"
      "torchrun sets them, or under srun), the processes train one run data-parallel, rank 0\n"
      "writing: scripts/launch-local.sh N CONFIG tries it locally. docs/distributed.md.\n\n"
      "exit codes: 0 every run done, 2 usage or config error, 1 runtime failure (with --jobs: a\n"
      "run failed; also when a run was skipped as busy), 130 interrupted (resumable)");
}

void add_verify_command(CLI::App& root, std::ostream& out) {
  auto target = std::make_shared<std::string>();
  CLI::App& verify = add_command(
      root, "verify",
      "check run records for damage: read every dataset and attribute and\n"
      "compare every checksum; one line per record",
      [&out, target] { return record_verify::verify_command(*target, out); });
  verify.add_option("PATH", *target, "a record (run.h5), or a directory: every run.h5 below it")
      ->required();
  verify.footer(
      "Reads the whole of each record, in blocks of about 16 MiB: HDF5 verifies the checksum of\n"
      "every chunk (Fletcher-32) and of every object header, and the checksums of the strings\n"
      "are compared (format version 4 and newer; older records have no data checksums). Prints\n"
      "\"<record>: ok\", or one line per damaged object naming it. docs/reliability.md.\n\n"
      "exit codes: 0 every record intact, 1 a record damaged or unreadable (or no record below\n"
      "PATH), 2 usage error (no such file or directory)");
}

void add_schema_command(CLI::App& root, std::ostream& out) {
  auto json = std::make_shared<bool>(false);
  CLI::App& schema = add_command(
      root, "schema", "print the run record's layout: every name, where it lies, what it holds",
      [&out, json] {
        out << (*json ? record_schema::layout_json() : record_schema::layout_text());
        return 0;
      });
  schema.add_flag("--json", *json,
                  "as one JSON object (names by key, lists, tables, format version): the file "
                  "python/guidance_record_schema.json the Python reader takes its names from");
  schema.footer(
      "Prints the layout that host/recording/RecordSchema.h declares, the one both the writer and\n"
      "the readers use (docs/record-format.md). After a change there, regenerate the Python\n"
      "reader's copy: guidance schema --json > python/guidance_record_schema.json");
}

std::string version_text() {
  return std::string("guidance ") + GUIDANCE_VERSION + "\nplugin ABI " +
         std::to_string(kAbiVersion) + "\nLibTorch " + TORCH_VERSION;
}

}  // namespace

int run_guidance(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  try {
    GlobalOptions global;
    CLI::App root(kDescription, "guidance");
    use_workbench_conventions(root);
    root.footer(kExitCodes);
    root.require_subcommand(1);
    root.add_option("--plugin-dir", global.plugin_dirs,
                    "load plugins from DIR first (repeatable, before or after the command); then "
                    "$GUIDANCE_PLUGIN_PATH (colon-separated), the config's run.plugin_dirs, the "
                    "built-in plugins")
        ->type_name("DIR")
        ->allow_extra_args(false);
    root.set_version_flag("--version", version_text(), "print versions and exit");
    add_plugins_command(root, global, out, err);
    add_check_command(root, global, out);
    add_keys_command(root, out);
    add_run_command(root, global, out, err);
    add_bench_command(root, global, out, err);
    add_analyze_command(
        root, [&global] { return load_plugins(global.plugin_dirs, {}); }, out, err);
    analysis::add_summarize_command(root, out);
    add_verify_command(root, out);
    add_schema_command(root, out);
    if (args.empty()) {
      out << root.help();
      return 2;
    }
    return run_command_line(root, args, out);
  } catch (const UsageError& error) {
    err << error.what() << "\n";
    return 2;
  } catch (const ConfigError& error) {
    err << "guidance: " << error.what() << "\n";
    return 2;
  } catch (const PluginLoadError& error) {
    err << "guidance: " << error.what() << "\n";
    return 2;
  } catch (const Interrupted& error) {
    err << "guidance: " << error.what() << "\n";
    return 130;
  } catch (const c10::Error& error) {
    err << "guidance: LibTorch error: " << error.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& error) {
    err << "guidance: " << error.what() << "\n";
    return 1;
  }
}

}  // namespace guidance::cli
