#pragma once

#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/optim/optimizer.h>

#include "guidance/api/Dataset.h"
#include "guidance/api/Metric.h"
#include "guidance/api/Network.h"
#include "host/config/Config.h"
#include "host/distributed/Collective.h"
#include "host/training/Checkpoint.h"
#include "host/training/GuideTapCache.h"
#include "host/training/LayerMap.h"
#include "host/training/TaskObjective.h"

namespace guidance {

/// Wall-clock seconds spent in each part of training steps, summed over the steps timed.
struct StepPhases {
  double data = 0;            ///< reading the batch and moving it to the device
  double guide_forward = 0;   ///< the frozen guide's forward pass (or its cache lookup)
  double target_forward = 0;  ///< the target's forward pass and task loss
  double distances = 0;       ///< the pairs' distances (and distillation)
  double backward = 0;
  double optimizer = 0;       ///< gradient clipping, the optimiser step, zeroing gradients
};

/// Thrown by Trainer::evaluate when settings.stop_evaluation says so: the evaluation is abandoned.
struct EvaluationStopped : std::runtime_error {
  EvaluationStopped() : std::runtime_error("evaluation stopped") {}
};

/// How a Trainer runs: the [train] and [guidance] sections plus where its files go.
struct TrainerSettings {
  TrainSection train;
  std::string train_table = "train";  ///< the config table `train` comes from, named in errors
  GuidanceSection guidance;         ///< alpha, guided_steps, guide_input, tokenwise (if guided)
  uint64_t seed = 0;
  torch::Device device = torch::kCPU;
  std::string checkpoint_path;      ///< "" = no checkpoints
  int64_t checkpoint_every = 0;     ///< steps; 0 = only at epoch ends (if checkpoint_path set)
  std::string best_weights_path;    ///< "" = no best-validation selection
  /// Asked before each step with the steps done so far; true saves a checkpoint and stops (e.g.
  /// on SIGINT). None: never.
  std::function<bool(int64_t steps_done)> stop_requested;
  /// Asked before each evaluation batch; true abandons the evaluation (EvaluationStopped), so a
  /// stop does not wait for a large split. None: evaluations always finish (distributed runs,
  /// whose ranks must agree on every stop).
  std::function<bool()> stop_evaluation;
  /// The ranks of a distributed run (docs/distributed.md): each trains on its share of every
  /// batch, taps are gathered and gradients averaged over them. Null: one process.
  std::shared_ptr<Collective> collective;
  /// Runs started together on this machine (a study's --jobs): they share the memory from which
  /// the guide-tap cache's default budget is derived.
  int64_t concurrent_runs = 1;
};

/// @return whether the frozen guide runs in train mode (`guidance.guide_mode`; `released`: for
/// token tasks, as the released sequence scripts never put their guide in eval mode).
bool guide_trains(const GuidanceSection& guidance, const TaskSpec& task);

/// @return the settings a config gives a Trainer (sections, seed, device), without files or stops.
TrainerSettings trainer_settings(const Config& config, torch::Device device);

/// One optimiser step's figures.
struct StepReport {
  int64_t step = 0;          ///< steps done, 1-based
  int64_t epoch = 0;         ///< 0-based epoch the step belongs to
  int64_t total_steps = 0;
  double learning_rate = 0;
  double task_loss = 0;
  double guidance_loss = 0;  ///< Σ pair distances (before α); 0 when unguided at this step
  double distill_loss = 0;   ///< distillation KL (T²-scaled, before its weight); 0 when off
  double total_loss = 0;     ///< task + α·guidance + weight·distill
  std::vector<double> pair_distances;
};

/// One evaluation's figures.
struct EvaluationReport {
  int64_t step = 0;
  int64_t epoch = 0;
  Split split = Split::Validation;
  std::map<std::string, double> measures;  ///< "loss" and the task's measures
};

/// Receives what a Trainer does, to print or record it.
class TrainingObserver {
 public:
  virtual ~TrainingObserver() = default;
  virtual void on_step(const StepReport& /*report*/) {}
  virtual void on_evaluation(const EvaluationReport& /*report*/) {}
  /// Called just before each checkpoint is written. Records flush here, so a checkpoint never
  /// lies ahead of the rows on disk: a kill between the two leaves rows past the previous
  /// checkpoint, which resuming drops.
  virtual void on_checkpoint(int64_t /*step*/) {}
};

/// Guided (or unguided) training of one target network on one dataset.
///
/// A step is one optimiser update over `accumulate` micro-batches of `batch_size` examples.
/// The order of examples in epoch e is a permutation seeded by (seed, e), so the data a step
/// sees depends only on its number: with the checkpointed model, optimiser and global RNG, a
/// resumed run continues exactly as an uninterrupted one (same machine and thread count).
class Trainer {
 public:
  /// @param guide frozen guide, or nullptr for unguided training; the trainer puts it in eval
  ///        mode, disables its gradients and never changes it
  /// @param metric the guidance metric (nullptr when unguided)
  Trainer(TrainerSettings settings, std::shared_ptr<Dataset> dataset, TaskSpec task,
          std::shared_ptr<Network> target, std::shared_ptr<Network> guide,
          std::shared_ptr<Metric> metric, std::vector<TapPair> pairs);

  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  int64_t total_steps() const { return total_steps_; }
  int64_t step() const { return progress_.step; }

  /// Restores model, optimiser, RNG and progress from the settings' checkpoint file, and rewrites
  /// the best weights file from the checkpoint's copy when it is missing or differs.
  void resume();

  /// Distributed runs only: gives every rank rank 0's model, optimiser state, RNG and progress
  /// (rank 0's after resume(), or its freshly built ones). Every rank calls it before run().
  void synchronize();

  /// Trains until the step budget is spent or a stop is requested (SIGINT/SIGTERM). Evaluates
  /// validation and a fixed train subset at each epoch end and after the last step, keeping the
  /// best validation weights; writes a checkpoint every checkpoint_every steps, at epoch ends
  /// and when settings.stop_requested() says so. A stop during an epoch-end evaluation
  /// (settings.stop_evaluation) abandons it and that step's checkpoint: --resume continues from
  /// the checkpoint before, as after a kill. @return true if the budget was spent, false if
  /// stopped early.
  bool run(TrainingObserver& observer);

  /// @return loss and measures of `network` on a split (at most `limit` examples when > 0; for
  /// the train split a fixed seeded subset).
  /// @param predictions when given, receives the per-example predictions (examples in order)
  /// Throws EvaluationStopped when settings.stop_evaluation() says so before a batch.
  std::map<std::string, double> evaluate(Network& network, Split split, int64_t limit = 0,
                                         ExamplePredictions* predictions = nullptr);

  /// @return the step whose weights restore_best() loads (the last step without selection).
  int64_t best_step() const { return progress_.best_step >= 0 ? progress_.best_step : step(); }

  /// Loads the best validation weights into the target (no-op without selection or before any).
  void restore_best();

  /// @return the measure that selects the best checkpoint: the task's first, else "loss".
  std::string selection_measure() const;

  /// One optimiser step, without the evaluations and checkpoints run() adds (for benchmarks).
  StepReport train_step();

  /// From now on every step adds the time of each of its phases to `phases` (nullptr: stop).
  void set_phases(StepPhases* phases) { phases_ = phases; }

  /// @return the guide-tap cache (guidance.guide_cache, when it applies), or nullptr.
  const GuideTapCache* guide_cache() const { return guide_cache_.get(); }

  /// @return one line for the run's log: what the guide-tap cache holds, or why it is off.
  std::string guide_cache_status() const;

 private:
  /// Builds guide_cache_ when guidance.guide_cache asks for it and the guide allows it.
  /// @return why there is no cache ("" when there is one)
  std::string plan_guide_cache();
  NetworkOutput guide_forward(const Batch& batch, const torch::Tensor& indices);
  /// @return `network`'s outputs in train.precision, logits and taps in float32
  NetworkOutput forward(Network& network, const NetworkInput& input) const;
  torch::Tensor epoch_order(int64_t epoch) const;
  torch::Tensor guide_inputs(const Batch& batch) const;
  Batch to_device(Batch batch) const;
  void evaluate_and_select(TrainingObserver& observer);
  void checkpoint(TrainingObserver& observer);

  TrainerSettings settings_;
  std::shared_ptr<Dataset> dataset_;
  TaskSpec task_;
  std::shared_ptr<Network> target_;
  std::shared_ptr<Network> guide_;
  std::shared_ptr<Metric> metric_;
  std::vector<TapPair> pairs_;
  std::vector<TapSpec> target_specs_;
  std::vector<TapSpec> guide_specs_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  int64_t train_size_ = 0;
  int64_t steps_per_epoch_ = 0;
  int64_t total_steps_ = 0;
  TrainingProgress progress_;
  torch::Tensor cached_order_;
  int64_t cached_epoch_ = -1;
  std::unique_ptr<GuideTapCache> guide_cache_;
  std::string guide_cache_off_reason_;
  StepPhases* phases_ = nullptr;
};

}  // namespace guidance
