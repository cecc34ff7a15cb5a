#include "host/training/Trainer.h"

#include <chrono>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/cuda.h>
#include <torch/nn/utils/clip_grad.h>

#include "guidance/api/InputFile.h"
#include "host/common/Errors.h"
#include "host/common/FaultPoints.h"
#include "host/distributed/DataParallel.h"
#include "host/training/GuidanceLoss.h"
#include "host/training/Optimization.h"
#include "host/training/Precision.h"
#include "host/training/RunSetup.h"
#include "host/training/TaskObjective.h"

namespace guidance {

namespace {

/// Adds the time since its last lap to one StepPhases field; does nothing without phases.
class PhaseClock {
 public:
  PhaseClock(StepPhases* phases, torch::Device device)
      : phases_(phases), device_(device), last_(std::chrono::steady_clock::now()) {}

  void lap(double StepPhases::*phase) {
    if (phases_ == nullptr) return;
    // CUDA kernels run asynchronously: wait for them so each phase is charged its own work.
    if (device_.is_cuda()) torch::cuda::synchronize();
    auto now = std::chrono::steady_clock::now();
    phases_->*phase += std::chrono::duration<double>(now - last_).count();
    last_ = now;
  }

 private:
  StepPhases* phases_;
  torch::Device device_;
  std::chrono::steady_clock::time_point last_;
};

/// The taps (and mask) guidance compares, over the global batch.
struct GlobalTaps {
  std::vector<torch::Tensor> guide;   ///< gathered where a pair uses them, else as given
  std::vector<torch::Tensor> target;  ///< gathered (with gradient) where a pair uses them
  torch::Tensor mask;                 ///< gathered; undefined when the batch has none
};

/// Gathers the taps the pairs compare and the batch's mask, so that guidance terms computed from
/// them on every rank are those of one process training the whole global batch.
GlobalTaps gather_pair_taps(Collective& collective, const std::vector<TapPair>& pairs,
                            const std::vector<torch::Tensor>& guide_taps,
                            const std::vector<torch::Tensor>& target_taps,
                            const torch::Tensor& mask) {
  GlobalTaps global{guide_taps, target_taps, mask};
  std::vector<bool> guide_done(guide_taps.size()), target_done(target_taps.size());
  for (const TapPair& pair : pairs) {
    if (!guide_done.at(pair.guide_index)) {
      global.guide[pair.guide_index] =
          gather_with_gradient(collective, guide_taps[pair.guide_index]);
      guide_done[pair.guide_index] = true;
    }
    if (!target_done.at(pair.target_index)) {
      global.target[pair.target_index] =
          gather_with_gradient(collective, target_taps[pair.target_index]);
      target_done[pair.target_index] = true;
    }
  }
  if (mask.defined()) global.mask = gather_with_gradient(collective, mask);
  return global;
}

}  // namespace

bool guide_trains(const GuidanceSection& guidance, const TaskSpec& task) {
  switch (guidance.guide_mode) {
    case GuideMode::Train:
      return true;
    case GuideMode::Eval:
      return false;
    case GuideMode::Released:
      break;
  }
  return task.input_kind == InputKind::Tokens;
}

TrainerSettings trainer_settings(const Config& config, torch::Device device) {
  TrainerSettings settings;
  settings.train = config.train;
  settings.guidance = config.guidance;
  settings.seed = config.run.seed;
  settings.device = device;
  return settings;
}

Trainer::Trainer(TrainerSettings settings, std::shared_ptr<Dataset> dataset, TaskSpec task,
                 std::shared_ptr<Network> target, std::shared_ptr<Network> guide,
                 std::shared_ptr<Metric> metric, std::vector<TapPair> pairs)
    : settings_(std::move(settings)),
      dataset_(std::move(dataset)),
      task_(std::move(task)),
      target_(std::move(target)),
      guide_(std::move(guide)),
      metric_(std::move(metric)),
      pairs_(std::move(pairs)) {
  target_->to(settings_.device);
  target_specs_ = target_->taps();
  if (guide_) {
    guide_->to(settings_.device);
    guide_->train(guide_trains(settings_.guidance, task_));
    for (auto& parameter : guide_->parameters()) parameter.set_requires_grad(false);
    guide_specs_ = guide_->taps();
  }
  optimizer_ = make_optimizer(settings_.train, target_->parameters());
  train_size_ = dataset_->size(Split::Train);
  const int64_t per_step = settings_.train.batch_size * settings_.train.accumulate;
  if (train_size_ < per_step) {
    const std::string& table = settings_.train_table;
    std::string needs = table + ".batch_size " + std::to_string(settings_.train.batch_size);
    if (settings_.train.accumulate > 1) {
      needs += " x " + table + ".accumulate " + std::to_string(settings_.train.accumulate) +
               " = " + std::to_string(per_step);
    }
    throw RunError("the train split has " + std::to_string(train_size_) +
                   " examples, fewer than one step needs (" + needs + ")");
  }
  if (settings_.collective) {
    const int world = settings_.collective->world_size();
    if (settings_.train.batch_size % world != 0) {
      throw RunError("train.batch_size " + std::to_string(settings_.train.batch_size) +
                     " is the global batch of a distributed run and must divide evenly among its " +
                     std::to_string(world) + " processes");
    }
    progress_.world_size = world;
  }
  int64_t micro_batches = train_size_ / settings_.train.batch_size;
  steps_per_epoch_ = micro_batches / settings_.train.accumulate;
  total_steps_ = settings_.train.max_steps > 0 ? settings_.train.max_steps
                                               : settings_.train.epochs * steps_per_epoch_;
  check_precision_supported(settings_.train.precision, settings_.device);
  if (guide_) guide_cache_off_reason_ = plan_guide_cache();
}

std::string Trainer::plan_guide_cache() {
  const GuidanceSection& guidance = settings_.guidance;
  if (guidance.guide_cache == GuideCacheMode::Off) {
    return "guide cache: off (guidance.guide_cache = \"off\")";
  }
  if (guide_->is_training()) {
    if (guidance.guide_cache == GuideCacheMode::On) {
      throw RunError("guidance.guide_cache = \"on\" keeps the guide's outputs for each train "
                     "example, but this guide runs in train mode (guidance.guide_mode; "
                     "\"released\" means train mode on token tasks), so they change every "
                     "step: set guide_mode = \"eval\" or guide_cache = \"auto\"");
    }
    return "guide cache: off, the guide runs in train mode (guidance.guide_mode), so its "
           "outputs change every step";
  }
  if (guidance.guide_input != GuideInput::Batch) {
    return "guide cache: off, the guide sees noise (guidance.guide_input), new every step";
  }
  if (guidance.guide_cache == GuideCacheMode::Auto && !guide_->batch_invariant()) {
    return "guide cache: off, the guide does not declare batch-invariant outputs, so cached "
           "ones could differ from a fresh forward pass in the last bits (guide_cache = \"on\" "
           "keeps them anyway)";
  }
  CacheBudget budget =
      guidance.guide_cache_mb > 0
          ? CacheBudget{static_cast<uint64_t>(guidance.guide_cache_mb) << 20,
                        "guidance.guide_cache_mb = " + std::to_string(guidance.guide_cache_mb)}
          : default_cache_budget(settings_.collective ? settings_.collective->world_size()
                                                      : settings_.concurrent_runs);
  std::vector<bool> paired(guide_specs_.size(), false);
  for (const TapPair& pair : pairs_) paired.at(pair.guide_index) = true;
  guide_cache_ = std::make_unique<GuideTapCache>(train_size_, std::move(budget),
                                                 std::move(paired), guidance.distilling(),
                                                 guidance.guide_cache_bf16);
  return "";
}

std::string Trainer::guide_cache_status() const {
  return guide_cache_ ? guide_cache_->status() : guide_cache_off_reason_;
}

NetworkOutput Trainer::forward(Network& network, const NetworkInput& input) const {
  NetworkOutput output;
  {
    AutocastScope autocast(settings_.train.precision, settings_.device);
    output = network.forward(input);
  }
  return in_float32(std::move(output));
}

void Trainer::resume() {
  const int64_t world_size = progress_.world_size;
  progress_ = load_checkpoint(settings_.checkpoint_path, *target_, *optimizer_);
  if (progress_.world_size != world_size) {
    throw RunError("checkpoint '" + settings_.checkpoint_path + "' was written by a run of " +
                   std::to_string(progress_.world_size) + " process(es); this one has " +
                   std::to_string(world_size) + ": resume it with the same number of processes "
                   "(WORLD_SIZE), or start over with --restart");
  }
  if (settings_.best_weights_path.empty() || progress_.best_step < 0) return;
  // The checkpoint's copy of the best weights is the truth: best.pt may be missing, damaged, or
  // newer than the checkpoint (a new best saved after it, then a kill).
  std::string stored;
  try {
    stored = InputFile::open(settings_.best_weights_path).read_all();
  } catch (const std::runtime_error&) {
    // Missing or not a plain file: rewritten below.
  }
  if (stored != progress_.best_weights) {
    write_file_atomically(settings_.best_weights_path, progress_.best_weights);
  }
}

void Trainer::synchronize() {
  Collective& collective = *settings_.collective;
  broadcast_module(collective, *target_, "broadcast of the target's weights");
  std::string optimizer = collective.rank() == 0 ? optimizer_state(*optimizer_) : std::string();
  broadcast_bytes(collective, optimizer, "broadcast of the optimiser state");
  if (collective.rank() != 0) load_optimizer_state(*optimizer_, optimizer);
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  std::vector<torch::Tensor> state{torch::tensor({progress_.step}, torch::kLong),
                                   generator.get_state()};
  collective.broadcast(state, "broadcast of the step and random state");
  progress_.step = state[0].item<int64_t>();
  generator.set_state(state[1]);
}

std::string Trainer::selection_measure() const {
  return task_.measures.empty() ? "loss" : task_.measures.front();
}

torch::Tensor Trainer::epoch_order(int64_t epoch) const {
  auto generator = at::detail::createCPUGenerator(
      derive_seed(settings_.seed, "order") + static_cast<uint64_t>(epoch));
  return torch::randperm(train_size_, generator, torch::kLong);
}

Batch Trainer::to_device(Batch batch) const {
  auto move = [&](torch::Tensor& tensor) {
    if (tensor.defined()) tensor = tensor.to(settings_.device);
  };
  move(batch.inputs);
  move(batch.mask);
  move(batch.targets);
  move(batch.target_mask);
  return batch;
}

torch::Tensor Trainer::guide_inputs(const Batch& batch) const {
  const GuideInput kind = settings_.guidance.guide_input;
  if (kind == GuideInput::Batch) return batch.inputs;
  const torch::TensorOptions cpu_long = torch::TensorOptions().dtype(torch::kLong);
  const torch::TensorOptions cpu_float = torch::TensorOptions().dtype(torch::kFloat);
  if (task_.input_kind == InputKind::Tokens) {
    if (kind == GuideInput::Noise) {
      // Released: ids up to the batch's largest, at every position, padding included.
      int64_t largest = batch.inputs.max().item<int64_t>();
      return torch::randint(largest + 1, batch.inputs.sizes(), cpu_long).to(batch.inputs.device());
    }
    torch::Tensor tokens =
        torch::randint(task_.vocab_size, batch.inputs.sizes(), cpu_long).to(batch.inputs.device());
    return batch.mask.defined()
               ? torch::where(batch.mask, tokens, torch::full_like(tokens, task_.pad_token))
               : tokens;
  }
  if (kind == GuideInput::Noise) {
    // Released: a standard-normal image plus 0.1-scaled normal noise, clamped to [0, 1].
    torch::Tensor image = torch::randn(batch.inputs.sizes(), cpu_float);
    torch::Tensor noise = torch::randn(batch.inputs.sizes(), cpu_float) * 0.1;
    return (image + noise).clamp(0.0, 1.0).to(batch.inputs.device());
  }
  double clamp = settings_.guidance.noise_clamp;
  torch::Tensor noise = torch::randn(batch.inputs.sizes(), cpu_float).to(batch.inputs.device());
  return clamp > 0 ? noise.clamp(-clamp, clamp) : noise;
}

NetworkOutput Trainer::guide_forward(const Batch& batch, const torch::Tensor& indices) {
  if (guide_cache_) {
    if (auto cached = guide_cache_->lookup(indices, settings_.device)) {
      return in_float32(std::move(*cached));
    }
  }
  NetworkOutput output;
  {
    torch::NoGradGuard no_grad;
    // Records and evaluations may have switched the guide to eval mode since the last step.
    guide_->train(guide_trains(settings_.guidance, task_));
    NetworkInput input{guide_inputs(batch), batch.mask};
    AutocastScope autocast(settings_.train.precision, settings_.device);
    output = guide_->forward(input);
  }
  // Stored as computed (bf16 under bf16-mixed), compared in float32.
  if (guide_cache_) guide_cache_->store(indices, output);
  return in_float32(std::move(output));
}

StepReport Trainer::train_step() {
  const TrainSection& train = settings_.train;
  StepReport report;
  report.step = progress_.step + 1;
  report.epoch = progress_.step / steps_per_epoch_;
  report.total_steps = total_steps_;
  report.learning_rate = learning_rate_at(train, progress_.step, steps_per_epoch_, total_steps_);
  set_learning_rate(*optimizer_, report.learning_rate);
  const bool guiding = guide_ && (settings_.guidance.guided_steps == 0 ||
                                  progress_.step < settings_.guidance.guided_steps);
  if (report.epoch != cached_epoch_) {
    cached_order_ = epoch_order(report.epoch);
    cached_epoch_ = report.epoch;
  }
  const int64_t first_micro = (progress_.step % steps_per_epoch_) * train.accumulate;

  PhaseClock clock(phases_, settings_.device);
  target_->train();
  optimizer_->zero_grad();
  clock.lap(&StepPhases::optimizer);
  report.pair_distances.assign(pairs_.size(), 0.0);
  for (int64_t micro = 0; micro < train.accumulate; ++micro) {
    torch::Tensor indices =
        cached_order_.narrow(0, (first_micro + micro) * train.batch_size, train.batch_size);
    if (settings_.collective) indices = local_share(*settings_.collective, indices);
    Batch batch = to_device(dataset_->batch(Split::Train, indices));
    clock.lap(&StepPhases::data);
    NetworkOutput target_out = forward(*target_, batch.network_input());
    torch::Tensor task = task_loss(task_, target_out.logits, batch);
    torch::Tensor loss = task;
    clock.lap(&StepPhases::target_forward);
    if (guiding) {
      // In the released order: the target's forward, the guide's (noise drawn from the global
      // RNG after the target's dropout), then the target's second forward for its taps.
      NetworkOutput guide_out = guide_forward(batch, indices);
      clock.lap(&StepPhases::guide_forward);
      if (!pairs_.empty()) {
        std::vector<torch::Tensor> target_taps =
            settings_.guidance.single_target_forward
                ? target_out.taps
                : forward(*target_, batch.network_input()).taps;
        clock.lap(&StepPhases::target_forward);
        GlobalTaps taps{guide_out.taps, target_taps, batch.mask};
        if (settings_.collective) {
          taps = gather_pair_taps(*settings_.collective, pairs_, guide_out.taps, target_taps,
                                  batch.mask);
        }
        GuidanceTerms terms = guidance_terms(
            *metric_, pairs_, guide_specs_, target_specs_, taps.guide, taps.target, taps.mask,
            {settings_.guidance.tokenwise, settings_.guidance.mask_padding});
        loss = loss + settings_.guidance.alpha * terms.total;
        report.guidance_loss += terms.total.item<double>() / train.accumulate;
        for (size_t p = 0; p < pairs_.size(); ++p) {
          report.pair_distances[p] += terms.per_pair[p] / train.accumulate;
        }
      }
      if (settings_.guidance.distilling()) {
        torch::Tensor distill =
            distillation_loss(target_out.logits, guide_out.logits,
                              settings_.guidance.distill_temperature, batch.target_mask);
        loss = loss + settings_.guidance.distill_weight * distill;
        report.distill_loss += distill.item<double>() / train.accumulate;
      }
      clock.lap(&StepPhases::distances);
    }
    (loss / static_cast<double>(train.accumulate)).backward();
    report.task_loss += task.item<double>() / train.accumulate;
    report.total_loss += loss.item<double>() / train.accumulate;
    clock.lap(&StepPhases::backward);
  }
  if (settings_.collective) {
    // Guidance figures are already global (computed from gathered taps); the others are means
    // of each rank's share, equal shares, so their global value is the mean over the ranks.
    Collective& collective = *settings_.collective;
    average_gradients(collective, target_->parameters());
    std::vector<double> sums = sum_over_ranks(
        collective, {report.task_loss, report.distill_loss, report.total_loss}, "loss figures");
    report.task_loss = sums[0] / collective.world_size();
    report.distill_loss = sums[1] / collective.world_size();
    report.total_loss = sums[2] / collective.world_size();
  }
  if (train.grad_clip > 0) torch::nn::utils::clip_grad_norm_(target_->parameters(), train.grad_clip);
  optimizer_->step();
  clock.lap(&StepPhases::optimizer);
  progress_.step = report.step;
  return report;
}

std::map<std::string, double> Trainer::evaluate(Network& network, Split split, int64_t limit,
                                                ExamplePredictions* predictions) {
  const int64_t size = dataset_->size(split);
  int64_t count = limit > 0 ? std::min(limit, size) : size;
  torch::Tensor indices = torch::arange(count, torch::kLong);
  if (split == Split::Train && count < size) {
    auto generator = at::detail::createCPUGenerator(derive_seed(settings_.seed, "train-eval"));
    indices = torch::randperm(size, generator, torch::kLong).narrow(0, 0, count);
  }
  MeasureAccumulator accumulator(task_);
  std::vector<ExamplePredictions> parts;
  bool was_training = network.is_training();
  network.eval();
  torch::NoGradGuard no_grad;
  // A distributed run shares the batches among its ranks and sums their measures; predictions
  // (the final test split) are computed whole by each rank that asks.
  const bool sharded = settings_.collective && predictions == nullptr;
  int64_t batch_number = 0;
  for (int64_t start = 0; start < count; start += settings_.train.eval_batch_size) {
    if (sharded && batch_number++ % settings_.collective->world_size() !=
                       settings_.collective->rank()) {
      continue;
    }
    evaluation_batch_point();
    if (settings_.stop_evaluation && settings_.stop_evaluation()) {
      network.train(was_training);
      throw EvaluationStopped();
    }
    int64_t length = std::min(settings_.train.eval_batch_size, count - start);
    Batch batch = to_device(dataset_->batch(split, indices.narrow(0, start, length)));
    torch::Tensor logits = forward(network, batch.network_input()).logits;
    accumulator.add(logits, batch);
    if (predictions != nullptr) parts.push_back(predictions_of(task_, logits, batch));
  }
  network.train(was_training);
  if (sharded) {
    accumulator.combine([&](std::vector<double> sums) {
      return sum_over_ranks(*settings_.collective, std::move(sums), "sum of evaluation measures");
    });
  }
  if (predictions != nullptr) {
    std::vector<torch::Tensor> predicted, correct;
    for (const auto& part : parts) {
      predicted.push_back(part.predicted);
      correct.push_back(part.correct);
    }
    // Token tasks may pad each batch to its own length: pad to the longest, unscored.
    int64_t length = 0;
    for (const auto& part : predicted) length = std::max<int64_t>(length, part.dim() > 1 ? part.size(1) : 0);
    for (size_t i = 0; length > 0 && i < predicted.size(); ++i) {
      int64_t missing = length - predicted[i].size(1);
      predicted[i] = torch::constant_pad_nd(predicted[i], {0, missing}, 0);
      correct[i] = torch::constant_pad_nd(correct[i], {0, missing}, -1);
    }
    predictions->predicted = predicted.empty() ? torch::empty({0}, torch::kLong) : torch::cat(predicted);
    predictions->correct = correct.empty() ? torch::empty({0}, torch::kChar) : torch::cat(correct);
  }
  return accumulator.result();
}

void Trainer::evaluate_and_select(TrainingObserver& observer) {
  const int64_t epoch = (progress_.step - 1) / steps_per_epoch_;
  if (settings_.train.train_eval_size > 0) {
    observer.on_evaluation({progress_.step, epoch, Split::Train,
                            evaluate(*target_, Split::Train, settings_.train.train_eval_size)});
  }
  if (dataset_->size(Split::Validation) == 0) return;
  EvaluationReport validation{progress_.step, epoch, Split::Validation,
                              evaluate(*target_, Split::Validation)};
  observer.on_evaluation(validation);
  if (settings_.best_weights_path.empty()) return;
  const std::string measure = selection_measure();
  double score = validation.measures.at(measure);
  bool better = progress_.best_step < 0 ||
                (higher_is_better(measure) ? score > progress_.best_score
                                           : score < progress_.best_score);
  if (better) {
    progress_.best_score = score;
    progress_.best_step = progress_.step;
    progress_.best_weights = serialize_weights(*target_);
    write_file_atomically(settings_.best_weights_path, progress_.best_weights);
  }
}

void Trainer::checkpoint(TrainingObserver& observer) {
  if (settings_.checkpoint_path.empty()) return;
  observer.on_checkpoint(progress_.step);
  save_checkpoint(settings_.checkpoint_path, *target_, *optimizer_, progress_);
}

bool Trainer::run(TrainingObserver& observer) {
  while (progress_.step < total_steps_) {
    if (settings_.stop_requested && settings_.stop_requested(progress_.step)) {
      checkpoint(observer);
      return false;
    }
    StepReport report = train_step();
    if (!std::isfinite(report.total_loss)) {
      throw RunError("the loss became " + std::to_string(report.total_loss) + " at step " +
                     std::to_string(report.step) + " (task " + std::to_string(report.task_loss) +
                     ", guidance " + std::to_string(report.guidance_loss) +
                     "): lower " + settings_.train_table + ".learning_rate" +
                     (settings_.train_table == "train" ? " or guidance.alpha" : "") + ", or set " +
                     settings_.train_table + ".grad_clip");
    }
    observer.on_step(report);
    const bool epoch_end = progress_.step % steps_per_epoch_ == 0;
    const bool last = progress_.step == total_steps_;
    if (epoch_end || last) {
      try {
        evaluate_and_select(observer);
      } catch (const EvaluationStopped&) {
        return false;  // without this step's checkpoint: its evaluation is missing
      }
    }
    if (epoch_end || last ||
        (settings_.checkpoint_every > 0 && progress_.step % settings_.checkpoint_every == 0)) {
      checkpoint(observer);
    }
  }
  return true;
}

void Trainer::restore_best() {
  if (settings_.best_weights_path.empty() || progress_.best_step < 0) return;
  load_weights(*target_, settings_.best_weights_path);
}

}  // namespace guidance
