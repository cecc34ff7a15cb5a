#include "host/training/RunDriver.h"

#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <optional>

#include <torch/version.h>

#include "host/common/DirectoryLock.h"
#include "host/common/Errors.h"
#include "host/common/FaultPoints.h"
#include "host/common/StopSignal.h"
#include "host/common/TextFormat.h"
#include "host/distributed/DataParallel.h"
#include "host/recording/RecordFormat.h"
#include "host/recording/RecordSchema.h"
#include "host/recording/RecordVerify.h"
#include "host/recording/RunRecord.h"
#include "host/training/Checkpoint.h"
#include "host/training/GuideTrainer.h"
#include "host/training/Progress.h"
#include "host/training/RunSetup.h"
#include "host/training/Trainer.h"

namespace guidance {

namespace fs = std::filesystem;

namespace {

std::string host_name() {
  char name[256] = {};
  gethostname(name, sizeof(name) - 1);
  return name;
}

/// The files of one run directory.
struct RunFiles {
  explicit RunFiles(const std::string& directory)
      : directory(directory),
        record(directory + "/run.h5"),
        checkpoint(directory + "/checkpoint.pt"),
        best(directory + "/best.pt"),
        guide(directory + "/guide.pt") {}
  std::string directory, record, checkpoint, best, guide;

  /// Removes the temporary files ("<file>.partial.<pid>") of killed writers. Only the holder of
  /// the directory's lock may call it: then no live process writes them.
  void remove_leftovers() const {
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(directory, error)) {
      if (entry.path().filename().string().find(".partial.") != std::string::npos) {
        fs::remove(entry.path(), error);
      }
    }
  }
};

Provenance make_provenance(const Config& config, const PluginCatalog& catalog, int threads) {
  Provenance provenance;
  provenance.workbench_version = GUIDANCE_VERSION;
  provenance.torch_version = TORCH_VERSION;
  provenance.host = host_name();
  provenance.config_path = fs::absolute(config.document.path).string();
  provenance.config_toml = config.resolved_toml();
  provenance.start_time = now_iso8601();
  provenance.seed = config.run.seed;
  provenance.threads = threads;
  auto add = [&](PluginKind kind, const std::string& name) {
    const CatalogEntry& entry = catalog.find(kind, name);
    for (const auto& listed : provenance.plugins) {
      if (listed.kind == to_string(kind) && listed.name == name) return;  // e.g. guidance + record
    }
    provenance.plugins.push_back(
        {to_string(kind), entry.info.name, entry.info.version, entry.library_path});
  };
  add(PluginKind::Dataset, config.dataset.name);
  add(PluginKind::Architecture, config.target.name);
  if (config.guided()) {
    add(PluginKind::Architecture, config.guide->architecture.name);
    add(PluginKind::GuideInit, config.guide->init.name);
    add(PluginKind::Metric, config.guidance.metric.name);
  }
  for (const auto& metric : config.record.metrics) add(PluginKind::Metric, metric.plugin.name);
  return provenance;
}

/// The probe set: the first probe_size examples of the validation split (test if none).
struct ProbeSet {
  Split split = Split::Validation;
  torch::Tensor indices;  ///< int64 [n]
  torch::Tensor labels;   ///< the examples' targets
  /// Token tasks only: the probe as one batch, whose rows snapshots feed a few at a time. A batch
  /// is padded to its longest sequence, and every part of a snapshot needs the probe's length.
  /// (Images are read a batch at a time, so that a large probe is not held in memory.)
  std::optional<Batch> padded;
};

ProbeSet probe_set(const RunComponents& run, int64_t probe_size) {
  Split split = run.dataset->size(Split::Validation) > 0 ? Split::Validation : Split::Test;
  int64_t count = std::min(probe_size, run.dataset->size(split));
  torch::Tensor indices = torch::arange(count, torch::kLong);
  Batch batch = run.dataset->batch(split, indices);
  ProbeSet probe{split, indices, batch.targets, std::nullopt};
  if (batch.mask.defined()) probe.padded = std::move(batch);
  return probe;
}

std::vector<torch::Tensor> probe_taps(Network& network, const Batch& probe, torch::Device device) {
  torch::NoGradGuard no_grad;
  bool was_training = network.is_training();
  network.eval();
  NetworkInput input{probe.inputs.to(device),
                     probe.mask.defined() ? probe.mask.to(device) : probe.mask};
  std::vector<torch::Tensor> taps = network.forward(input).taps;
  network.train(was_training);
  for (auto& tap : taps) tap = tap.to(torch::kCPU);
  return taps;
}

/// Sends training events to the progress printer and the record, and takes snapshots.
class RunObserver : public TrainingObserver {
 public:
  RunObserver(const Config& config, RunComponents& run, RunRecord& record,
              ProgressPrinter& progress, const ProbeSet& probe, int64_t total_steps,
              std::function<void(int64_t, int64_t)> on_step)
      : config_(config), run_(run), record_(record), progress_(progress), probe_(probe),
        total_steps_(total_steps), on_step_(std::move(on_step)) {}

  void on_step(const StepReport& report) override {
    progress_.on_step(report);
    if (on_step_) on_step_(report.step, report.total_steps);
    record_.append_training({report.step, report.epoch, report.learning_rate, report.total_loss,
                             report.task_loss, report.guidance_loss, report.distill_loss,
                             report.pair_distances});
    kill_point("step:" + std::to_string(report.step));
    if (snapshot_due(report.step)) snapshot(report.step);
  }

  void on_evaluation(const EvaluationReport& report) override {
    progress_.on_evaluation(report);
    std::map<std::string, double> measures = report.measures;
    measures.erase("loss");  // the record keeps the loss in a column of its own
    record_.append_evaluation(
        {report.step, report.epoch, to_string(report.split), report.measures.at("loss"), measures});
  }

  void on_checkpoint(int64_t /*step*/) override { record_.flush(); }

  /// Runs the probe set through both networks eval_batch_size examples at a time, so only one
  /// batch of one network's taps is in memory while the record writes them.
  void snapshot(int64_t step) {
    SnapshotSource source;
    source.examples = probe_.indices.size(0);
    source.batch_size = config_.train.eval_batch_size;
    source.similarity_memory_bytes = static_cast<uint64_t>(config_.record.similarity_memory_mb)
                                     << 20;
    source.activations = [&, step](const std::string& side, int64_t begin, int64_t end) {
      if (begin > 0 || side == record_schema::kTarget) {
        kill_point("snapshot:" + std::to_string(step));
      }
      Network& network = side == record_schema::kGuide ? *run_.guide : *run_.target;
      const int64_t count = end - begin;
      if (probe_.padded) {
        return probe_taps(network,
                          Batch{probe_.padded->inputs.narrow(0, begin, count),
                                probe_.padded->mask.narrow(0, begin, count)},
                          run_.device);
      }
      return probe_taps(
          network, run_.dataset->batch(probe_.split, probe_.indices.narrow(0, begin, count)),
          run_.device);
    };
    record_.write_snapshot(step, source, run_.record_metrics);
  }

 private:
  bool snapshot_due(int64_t step) const {
    const RecordSection& record = config_.record;
    if (record.every > 0 && step % record.every == 0) return true;
    if (std::find(record.at_steps.begin(), record.at_steps.end(), step) != record.at_steps.end()) {
      return true;
    }
    return record.at_end && step == total_steps_;
  }

  const Config& config_;
  RunComponents& run_;
  RunRecord& record_;
  ProgressPrinter& progress_;
  const ProbeSet& probe_;
  int64_t total_steps_;
  std::function<void(int64_t, int64_t)> on_step_;
};

/// One line on how this run computes its guidance term, so a log says which departures from the
/// released method (docs/fidelity.md) it makes.
std::string guidance_summary(const GuidanceSection& guidance, const RunComponents& run) {
  const bool sequences = run.task.input_kind == InputKind::Tokens;
  std::string line = "guidance: " + std::to_string(run.pairs.size()) + " pairs";
  if (guidance.layer_map == LayerMapKind::Uniform) {
    line += std::string(" over tap_set '") + kTapSetNames[static_cast<size_t>(guidance.tap_set)] +
            "' (uniform_map '" +
            kUniformMapRuleNames[static_cast<size_t>(guidance.uniform_map)] + "')";
  }
  line += std::string(", guide in ") + (guide_trains(guidance, run.task) ? "train" : "eval") +
          " mode, target taps from " +
          (guidance.single_target_forward ? "the task's forward" : "a second forward");
  if (sequences) {
    line += std::string(", sequences ") + (guidance.tokenwise ? "token-wise" : "flattened") +
            (guidance.mask_padding ? " with padding masked" : " with padding included");
  }
  return line;
}

RecordLayout make_layout(const Config& config, const RunComponents& run) {
  RecordLayout layout;
  for (const auto& pair : run.pairs) layout.pair_names.push_back(pair.label());
  layout.measure_names = run.task.measures;
  if (run.guide) {
    for (const auto& tap : run.guide->taps()) layout.guide_taps.push_back(tap.name);
  }
  for (const auto& tap : run.target->taps()) layout.target_taps.push_back(tap.name);
  for (const auto& metric : config.record.metrics) layout.metrics.push_back(metric.name);
  layout.activation_dtype = config.record.activation_dtype;
  return layout;
}

// The record's form of a network's predictions on the test examples `indices`.
Predictions recorded_predictions(const torch::Tensor& indices,
                                 const ExamplePredictions& predictions) {
  torch::Tensor examples = indices.to(torch::kCPU, torch::kLong).contiguous();
  torch::Tensor predicted = predictions.predicted.to(torch::kCPU, torch::kLong).contiguous();
  torch::Tensor correct = predictions.correct.to(torch::kCPU, torch::kChar).contiguous();
  Predictions recorded;
  recorded.indices.assign(examples.data_ptr<int64_t>(),
                          examples.data_ptr<int64_t>() + examples.numel());
  recorded.predicted.assign(predicted.data_ptr<int64_t>(),
                            predicted.data_ptr<int64_t>() + predicted.numel());
  recorded.correct.assign(correct.data_ptr<int8_t>(), correct.data_ptr<int8_t>() + correct.numel());
  recorded.width = predicted.dim() > 1 ? static_cast<size_t>(predicted.size(1)) : 1;
  return recorded;
}

}  // namespace

RunSummary run_config(const Config& config, const PluginCatalog& catalog,
                      const RunOptions& options, std::ostream& log) {
  int threads = apply_threads(options.threads > 0 ? options.threads : config.run.threads);
  RunFiles files(config.run_directory());
  RunSummary summary;
  summary.name = config.run.name;
  summary.record_path = files.record;

  const std::shared_ptr<Collective>& collective = options.collective;
  // The other ranks of a distributed run touch no file of the run directory.
  const bool writer = !collective || collective->rank() == 0;
  // Held until the run returns: no other process trains, resumes or restarts this run meanwhile.
  std::optional<DirectoryLock> lock;
  if (writer) {
    lock.emplace(files.directory);
    files.remove_leftovers();
  }
  // Assembled before anything is removed: a run that cannot start (no GPU, bad data) loses nothing.
  RunComponents run = assemble_run(config, catalog);
  if (options.restart && writer) {
    for (const auto& file : {files.record, files.checkpoint, files.best, files.guide}) fs::remove(file);
  }
  const bool resuming = writer && options.resume && fs::exists(files.checkpoint);
  if (writer && options.resume && !resuming && fs::exists(files.record)) {
    // Killed before its first checkpoint: nothing to continue from, so start over.
    if (!options.quiet) log << "run " << config.run.name << ": no checkpoint yet, starting over\n";
    fs::remove(files.record);
  }
  if (writer && !resuming && fs::exists(files.record)) {
    throw RunError("'" + files.record + "' already exists: continue it with --resume, or choose "
                   "another run.name or run.output (nothing was changed)");
  }
  if (resuming && !fs::exists(files.record)) {
    throw RunError("'" + files.checkpoint + "' has no record beside it (" + files.record +
                   " is missing): start the run over with --restart");
  }
  const bool already_complete =
      resuming && record_format::state_of(files.record) == RecordState::Completed;
  // A completed record is accepted again only whole: damage since it finished is named (exit 1).
  if (already_complete) record_verify::require_intact(files.record);
  if (!options.quiet) {
    log << "run " << config.run.name << ": " << config.dataset.name << ", target "
        << config.target.name
        << (config.guided() ? ", guide " + describe_guide(*config.guide) : std::string(", unguided"))
        << ", " << threads << " thread" << (threads == 1 ? "" : "s") << ", device "
        << config.run.device
        << (config.train.precision == Precision::Float32
                ? std::string()
                : std::string(", precision ") +
                      kPrecisionNames[static_cast<size_t>(config.train.precision)])
        << (collective ? ", " + std::to_string(collective->world_size()) + " processes" : "")
        << "\n";
    if (config.guided()) log << "  " << guidance_summary(config.guidance, run) << "\n";
  }
  // Rank 0 prepares the guide (a trained init trains once) and every other rank takes its weights.
  if (run.guide && writer) {
    if (resuming && fs::exists(files.guide)) {
      load_weights(*run.guide, files.guide);
    } else {
      initialize_guide(config, catalog, run, log, options.quiet);
      save_weights(*run.guide, files.guide);
    }
  }
  if (run.guide && collective) {
    broadcast_module(*collective, *run.guide, "broadcast of the guide's weights");
  }

  TrainerSettings settings = trainer_settings(config, run.device);
  settings.checkpoint_path = writer ? files.checkpoint : "";
  settings.checkpoint_every = config.run.checkpoint_every;
  settings.best_weights_path = writer ? files.best : "";
  settings.stop_requested = [collective](int64_t done) {
    bool stop = stop_requested() || stop_point_reached(done);
    // Ranks stop at the same step or not at all: one leaving early would strand the others.
    return collective ? any_rank(*collective, stop, "agreement on stopping") : stop;
  };
  if (!collective) settings.stop_evaluation = [] { return stop_requested(); };
  settings.collective = collective;
  settings.concurrent_runs = options.concurrent_runs;
  Trainer trainer(settings, run.dataset, run.task, run.target, run.guide, run.metric, run.pairs);

  std::unique_ptr<RunRecord> record;
  if (resuming) {
    trainer.resume();
    if (!already_complete) record = RunRecord::resume(files.record, trainer.step());
    if (!options.quiet) {
      log << (already_complete ? "already completed at step " : "resumed at step ")
          << trainer.step() << " of " << trainer.total_steps() << "\n";
    }
  } else if (writer) {
    record = RunRecord::create(files.record, make_provenance(config, catalog, threads),
                               make_layout(config, run));
  }
  if (collective) trainer.synchronize();
  ProbeSet probe = probe_set(run, config.record.probe_size);
  if (!resuming && record) {
    record->write_probe(probe.indices, probe.labels,
                        run.dataset->source(probe.split, probe.indices));
    record->flush();
  }

  // A failure marks the record "failed" if it still can; the first error is the one reported.
  auto finish_failed = [&] {
    try {
      if (record) record->finish(RecordState::Failed, now_iso8601());
    } catch (const std::exception& error) {
      log << "guidance: the record could not be marked failed (it stays \"running\"): "
          << error.what() << "\n";
    }
  };
  ProgressPrinter progress(log, config.run.name, is_terminal(log), options.quiet,
                           config.run.log_every);
  std::optional<RunObserver> observer;
  if (record) observer.emplace(config, run, *record, progress, probe, trainer.total_steps(),
                                      options.on_step);
  TrainingObserver silent;
  try {
    summary.completed = trainer.run(observer ? static_cast<TrainingObserver&>(*observer) : silent);
    progress.finish_line();
    if (run.guide && !options.quiet) log << trainer.guide_cache_status() << "\n";
    summary.steps = trainer.step();
    if (!summary.completed) {
      if (record) record->finish(RecordState::Interrupted, now_iso8601());
      return summary;
    }
    // The final measures evaluate the reloaded best-validation weights; the record keeps them as
    // rows of their own ("best/<split>"), and "completed" is set only once they are written.
    // Ctrl-C between these evaluations stops the run there (a study's children within seconds,
    // not after every split); --resume evaluates the best weights again. Every rank asks while
    // all evaluate; once only the writer goes on (the test split, predictions), it asks alone.
    // A stop within an evaluation (settings.stop_evaluation) abandons it the same way.
    auto stopped_while_finishing = [&](bool every_rank_asks) {
      return every_rank_asks ? settings.stop_requested(trainer.step())
                             : stop_requested() || stop_point_reached(trainer.step());
    };
    auto stop_finishing = [&] {
      progress.finish_line();
      if (!options.quiet) {
        log << "stopped while evaluating the best weights; --resume evaluates them again\n";
      }
      if (record) record->finish(RecordState::Interrupted, now_iso8601());
      summary.completed = false;
      return summary;
    };
    try {
      trainer.restore_best();
      if (collective) broadcast_module(*collective, *run.target, "broadcast of the best weights");
      FinalResults results;
      results.best_step = trainer.best_step();
      ExamplePredictions target_predictions;
      if (stopped_while_finishing(true)) return stop_finishing();
      summary.train = trainer.evaluate(*run.target, Split::Train, config.train.train_eval_size);
      if (stopped_while_finishing(true)) return stop_finishing();
      summary.validation = trainer.evaluate(*run.target, Split::Validation);
      if (!writer) return summary;
      if (stopped_while_finishing(false)) return stop_finishing();
      summary.test = trainer.evaluate(*run.target, Split::Test, 0, &target_predictions);
      summary.best_step = results.best_step;
      if (already_complete) return summary;
      const int64_t epoch = (trainer.step() - 1) / trainer.steps_per_epoch();
      for (const auto& [split, measures] : {std::pair{Split::Train, &summary.train},
                                            std::pair{Split::Validation, &summary.validation},
                                            std::pair{Split::Test, &summary.test}}) {
        if (split == Split::Validation && run.dataset->size(Split::Validation) == 0) continue;
        std::map<std::string, double> values = *measures;
        values.erase("loss");
        record->append_evaluation({trainer.step(), epoch,
                                   std::string(record_schema::kFinalSplitPrefix) + to_string(split),
                                   measures->at("loss"), values});
      }
      torch::Tensor test_indices = torch::arange(run.dataset->size(Split::Test), torch::kLong);
      results.predictions[record_schema::kTarget] =
          recorded_predictions(test_indices, target_predictions);
      if (run.guide) {
        if (stopped_while_finishing(false)) return stop_finishing();
        ExamplePredictions guide_predictions;
        trainer.evaluate(*run.guide, Split::Test, 0, &guide_predictions);
        results.predictions[record_schema::kGuide] =
            recorded_predictions(test_indices, guide_predictions);
      }
      kill_point("finish");
      record->finish(RecordState::Completed, now_iso8601(), results);
    } catch (const EvaluationStopped&) {
      return stop_finishing();
    }
  } catch (...) {
    progress.finish_line();
    finish_failed();
    throw;
  }
  return summary;
}

}  // namespace guidance
