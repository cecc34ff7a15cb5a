#include "host/training/GuideTrainer.h"

#include <filesystem>
#include <sstream>

#include <torch/version.h>

#include "guidance/api/Export.h"
#include "guidance/api/InputFile.h"
#include "host/common/Errors.h"
#include "host/common/StopSignal.h"
#include "host/config/ConfigKeys.h"
#include "host/config/TomlReader.h"
#include "host/training/Checkpoint.h"
#include "host/training/Progress.h"
#include "host/training/Trainer.h"

namespace guidance {

namespace fs = std::filesystem;

HostGuideServices::HostGuideServices(const Config& config, const PluginCatalog& catalog,
                                     const RunComponents& run, std::ostream& log, bool quiet)
    : config_(config), catalog_(catalog), run_(run), log_(log), quiet_(quiet) {}

namespace {

std::string describe(const PluginChoice& choice) {
  std::string text = choice.name;
  for (const auto& [key, value] : choice.params.values()) text += ";" + key + "=" + format_param_value(value);
  return text;
}

std::string hex(uint64_t value) {
  std::ostringstream text;
  text << std::hex << value;
  return text.str();
}

}  // namespace

std::string HostGuideServices::cache_path(const GuideTraining& training) const {
  std::ostringstream key;
  const PluginChoice& architecture = config_.guide->architecture;
  key << "abi=" << kAbiVersion << "|torch=" << TORCH_VERSION << "|guide=" << describe(architecture)
      << "@" << catalog_.find(PluginKind::Architecture, architecture.name).info.version
      << "|dataset=" << describe(config_.dataset) << "@"
      << catalog_.find(PluginKind::Dataset, config_.dataset.name).info.version
      << "|" << guide_training_settings(config_)
      << "|optimizer=" << to_string(training.optimizer) << "|lr=" << training.learning_rate
      << "|wd=" << training.weight_decay << "|batch=" << training.batch_size
      << "|epochs=" << training.epochs << "|steps=" << training.max_steps
      << "|clip=" << training.grad_clip;
  uint64_t hash = derive_seed(0, key.str());
  return (fs::path(config_.run.output) / "guide-cache" /
          (config_.guide->architecture.name + "-" + hex(hash) + ".pt"))
      .string();
}

bool HostGuideServices::train_cached(Network& guide, const GuideTraining& training) {
  std::string path = cache_path(training);
  if (fs::exists(path)) {
    guidance::load_weights(guide, path);
    if (!quiet_) log_ << "guide: loaded trained " << config_.guide->architecture.name << " from " << path << "\n";
    return true;
  }
  TrainerSettings settings;
  // The strategy's settings are the GuideTraining part of [train]; the rest keeps its defaults.
  static_cast<GuideTraining&>(settings.train) = training;
  settings.train_table = "guide.init";
  settings.train.eval_batch_size = config_.train.eval_batch_size;
  settings.train.train_eval_size = 0;
  settings.seed = derive_seed(config_.run.seed, "guide-training");
  settings.device = run_.device;
  // The key names this guide's training exactly, so its checkpoint is continued by any later run
  // that needs the same guide; it is removed once the guide is cached.
  settings.checkpoint_path = path + ".checkpoint";
  settings.checkpoint_every = config_.run.checkpoint_every;
  settings.stop_requested = [](int64_t) { return stop_requested(); };
  // Non-owning: the guide is owned by the run; the trainer only borrows it while training.
  std::shared_ptr<Network> borrowed(&guide, [](Network*) {});
  Trainer trainer(settings, run_.dataset, run_.task, borrowed, nullptr, nullptr, {});
  if (fs::exists(settings.checkpoint_path)) {
    trainer.resume();
    if (!quiet_) {
      log_ << "guide: continuing its training at step " << trainer.step() << " of "
           << trainer.total_steps() << " from " << settings.checkpoint_path << "\n";
    }
  }
  ProgressPrinter progress(log_, "guide", is_terminal(log_), quiet_, config_.run.log_every);
  bool completed = trainer.run(progress);
  progress.finish_line();
  if (!completed) {
    throw Interrupted("stopped while training the guide, at step " +
                      std::to_string(trainer.step()) + " of " +
                      std::to_string(trainer.total_steps()) + "; its checkpoint " +
                      settings.checkpoint_path + " is continued by running the same command "
                      "again");
  }
  save_weights(guide, path);
  fs::remove(settings.checkpoint_path);
  if (!quiet_) log_ << "guide: trained " << config_.guide->architecture.name << ", cached at " << path << "\n";
  return false;
}

void HostGuideServices::load_weights(Network& guide, const std::string& path) {
  guidance::load_weights(guide, resolve_path(config_.document.directory, path));
}

void initialize_guide(const Config& config, const PluginCatalog& catalog, const RunComponents& run,
                      std::ostream& log, bool quiet) {
  HostGuideServices services(config, catalog, run, log, quiet);
  torch::manual_seed(derive_seed(config.run.seed, "guide-init"));
  try {
    run.guide_init->initialize(*run.guide, services);
  } catch (const ParamError& error) {
    const PluginChoice& init = config.guide->init;
    throw ConfigError(error_location(init, error) + ": guide init '" + init.name +
                      "' cannot initialise the guide: " + error.what());
  }
}

}  // namespace guidance
