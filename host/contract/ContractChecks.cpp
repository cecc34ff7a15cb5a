#include "host/contract/ContractChecks.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <set>
#include <sstream>

#include <torch/torch.h>

#include "guidance/api/PluginApi.h"
#include "host/common/Suggest.h"
#include "host/config/Config.h"
#include "host/training/Checkpoint.h"
#include "host/recording/RecordSchema.h"
#include "host/training/Precision.h"
#include "host/training/TaskObjective.h"

namespace guidance {

namespace {

/// A failed expectation inside one check; its message becomes the check's detail.
struct CheckFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void expect(bool condition, const std::string& why) {
  if (!condition) throw CheckFailure(why);
}

template <typename T>
std::string text(const T& value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

/// Runs checks one by one, each catching its own failure.
class CheckList {
 public:
  void run(const std::string& check, const std::function<void()>& body) {
    CheckResult result{check, true, ""};
    try {
      body();
    } catch (const c10::Error& error) {
      result = {check, false, error.what_without_backtrace()};
    } catch (const std::exception& error) {
      result = {check, false, error.what()};
    }
    results_.push_back(std::move(result));
  }
  std::vector<CheckResult> take() { return std::move(results_); }

 private:
  std::vector<CheckResult> results_;
};

constexpr int64_t kBatch = 4;
constexpr int64_t kLength = 8;
constexpr int64_t kVocabulary = 6;

TaskSpec image_task(std::vector<int64_t> shape = {3, 32, 32}) {
  TaskSpec task;
  task.name = "contract-image";
  task.input_kind = InputKind::Image;
  task.input_shape = std::move(shape);
  task.num_outputs = 10;
  task.measures = {measures::kTop1};
  return task;
}

TaskSpec token_task(TargetKind target) {
  TaskSpec task;
  task.name = target == TargetKind::Class ? "contract-tokens-class" : "contract-tokens-per-position";
  task.input_kind = InputKind::Tokens;
  task.input_shape = {kLength};
  task.vocab_size = kVocabulary;
  task.target_kind = target;
  task.num_outputs = target == TargetKind::Class ? 2 : kVocabulary;
  task.measures = {target == TargetKind::Class ? measures::kTop1 : measures::kTokenAccuracy};
  return task;
}

/// Random inputs for a task: images from randn; tokens of lengths L, L/2, 1 and L−1.
NetworkInput random_input(const TaskSpec& task) {
  if (task.input_kind == InputKind::Image) {
    std::vector<int64_t> shape{kBatch};
    shape.insert(shape.end(), task.input_shape.begin(), task.input_shape.end());
    return {torch::randn(shape), {}};
  }
  const int64_t length = task.input_shape[0];
  torch::Tensor lengths = torch::tensor({length, length / 2, int64_t{1}, length - 1}).unsqueeze(1);
  torch::Tensor mask = torch::arange(length).unsqueeze(0).lt(lengths);
  return {torch::randint(1, task.vocab_size, {kBatch, length}, torch::kLong), mask};
}

std::vector<int64_t> logits_shape(const TaskSpec& task) {
  if (task.target_kind == TargetKind::TokenPerPosition) {
    return {kBatch, task.input_shape[0], task.num_outputs};
  }
  return {kBatch, task.num_outputs};
}

// ---- architectures ----

/// Checks what Network::batch_invariant() promises: frozen, an example's logits and taps are the
/// same bit for bit in a permuted batch and among other examples, in `precision`.
void expect_batch_invariance(Network& net, const TaskSpec& task, Precision precision) {
  net.eval();
  torch::NoGradGuard frozen;
  AutocastScope autocast(precision, torch::kCPU);
  // Enough rows that a BLAS kernel's row blocking would show: 8 random batches stacked.
  std::vector<NetworkInput> parts;
  for (int i = 0; i < 8; ++i) parts.push_back(random_input(task));
  auto stack = [&](auto field) {
    std::vector<torch::Tensor> pieces;
    for (const auto& part : parts) pieces.push_back(part.*field);
    return pieces.front().defined() ? torch::cat(pieces) : torch::Tensor();
  };
  NetworkInput input{stack(&NetworkInput::inputs), stack(&NetworkInput::mask)};
  const int64_t rows = input.inputs.size(0);
  torch::Tensor order = torch::randperm(rows, torch::kLong);
  NetworkInput permuted{input.inputs.index_select(0, order),
                        input.mask.defined() ? input.mask.index_select(0, order) : torch::Tensor()};
  NetworkOutput whole = net.forward(input);
  NetworkOutput shuffled = net.forward(permuted);
  const std::string in = precision == Precision::Float32 ? " (float32)" : " (bf16 autocast)";
  expect(torch::equal(whole.logits.index_select(0, order), shuffled.logits),
         "the logits of a permuted batch differ from the batch's, permuted" + in);
  std::vector<TapSpec> taps = net.taps();
  for (size_t i = 0; i < taps.size() && i < whole.taps.size(); ++i) {
    expect(torch::equal(whole.taps[i].index_select(0, order), shuffled.taps[i]),
           "tap '" + taps[i].name + "' of a permuted batch differs from the batch's, permuted" +
               in);
  }
}

void check_architecture(const ArchitecturePlugin& plugin, const Params& params,
                        const ContractOptions& options, CheckList& checks) {
  auto build = [&](const TaskSpec& task, uint64_t seed) {
    torch::manual_seed(seed);
    return plugin.build(task, params);
  };
  std::vector<std::string> refusals;
  int accepted = 0;
  for (const TaskSpec& task : {image_task(options.image_shape), token_task(TargetKind::Class),
                               token_task(TargetKind::TokenPerPosition)}) {
    try {
      build(task, options.seed);
    } catch (const std::invalid_argument& refused) {
      refusals.push_back(task.name + ": " + refused.what());
      continue;
    } catch (const std::exception& error) {
      // Not a refusal of the task but a failure to build for it: one failed check says so.
      const std::string message = error.what();
      checks.run("builds for the task (" + task.name + ")", [&] { throw CheckFailure(message); });
      ++accepted;
      continue;
    }
    ++accepted;
    const std::string on = " (" + task.name + ")";
    checks.run("declares unique taps before forward" + on, [&] {
      auto net = build(task, options.seed);
      std::set<std::string> names;
      for (const auto& tap : net->taps()) {
        // The record stores each tap's activations under its name.
        std::optional<std::string> problem = record_name_problem(tap.name);
        expect(!problem, "tap '" + tap.name + "' cannot name a record's dataset: " +
                             problem.value_or(""));
        expect(names.insert(tap.name).second, "tap '" + tap.name + "' is declared twice");
      }
      expect(!names.empty(), "no taps declared: the network cannot be guided or recorded");
    });
    checks.run("forward returns logits of the task's shape and every declared tap" + on, [&] {
      auto net = build(task, options.seed);
      net->eval();
      NetworkOutput out = net->forward(random_input(task));
      expect(out.logits.sizes() == c10::IntArrayRef(logits_shape(task)),
             "logits " + text(out.logits.sizes()) + ", expected " +
                 text(c10::IntArrayRef(logits_shape(task))));
      expect(torch::isfinite(out.logits).all().item<bool>(), "logits are not all finite");
      std::vector<TapSpec> taps = net->taps();
      expect(out.taps.size() == taps.size(), "forward returned " + text(out.taps.size()) +
                                                 " taps, taps() declares " + text(taps.size()));
      for (size_t i = 0; i < taps.size(); ++i) {
        const torch::Tensor& tap = out.taps[i];
        expect(tap.dim() >= 2 && tap.size(0) == kBatch,
               "tap '" + taps[i].name + "' has shape " + text(tap.sizes()) +
                   ", expected [batch = " + text(kBatch) + ", ...]");
        if (taps[i].layout == TapLayout::Sequence) {
          expect(task.input_kind == InputKind::Tokens && tap.dim() == 3 &&
                     tap.size(1) == task.input_shape[0],
                 "sequence tap '" + taps[i].name + "' has shape " + text(tap.sizes()) +
                     ", expected [batch, length = " + text(task.input_shape[0]) + ", features]");
        }
        expect(torch::isfinite(tap).all().item<bool>(),
               "tap '" + taps[i].name + "' is not all finite");
      }
    });
    checks.run("the same seed builds the same network, another seed another" + on, [&] {
      auto first = build(task, options.seed);
      auto second = build(task, options.seed);
      auto third = build(task, options.seed + 1);
      auto a = first->named_parameters();
      auto b = second->named_parameters();
      auto other = third->named_parameters();
      expect(a.keys() == b.keys(), "the parameter names differ between two builds");
      bool any_differs = false;
      for (const auto& item : a) {
        expect(torch::equal(item.value(), b[item.key()]),
               "parameter '" + item.key() + "' differs between two builds with one seed");
        any_differs = any_differs || !torch::equal(item.value(), other[item.key()]);
      }
      expect(a.is_empty() || any_differs, "another seed gave the same parameters");
      first->eval();
      second->eval();
      NetworkInput input = random_input(task);
      expect(torch::equal(first->forward(input).logits, second->forward(input).logits),
             "two builds with one seed give other logits for the same input");
    });
    if (build(task, options.seed)->batch_invariant()) {
      checks.run("its declared batch invariance holds (frozen, permuted batch)" + on, [&] {
        auto net = build(task, options.seed);
        expect_batch_invariance(*net, task, Precision::Float32);
        if (device_has_bf16(torch::kCPU)) {
          expect_batch_invariance(*net, task, Precision::BFloat16Mixed);
        }
      });
    }
    checks.run("gradients reach every parameter" + on, [&] {
      auto net = build(task, options.seed);
      NetworkOutput out = net->forward(random_input(task));
      torch::Tensor loss = out.logits.square().mean();
      for (const auto& tap : out.taps) loss = loss + tap.square().mean();
      loss.backward();
      for (const auto& item : net->named_parameters()) {
        if (!item.value().requires_grad()) continue;
        expect(item.value().grad().defined(), "parameter '" + item.key() + "' gets no gradient");
        expect(torch::isfinite(item.value().grad()).all().item<bool>(),
               "parameter '" + item.key() + "' gets a non-finite gradient");
      }
    });
  }
  if (accepted == 0) {
    std::string why = "refused every test task:";
    for (const auto& refusal : refusals) why += " [" + refusal + "]";
    checks.run("builds for a test task (image, tokens)", [&] { throw CheckFailure(why); });
  }
}

// ---- metrics ----

/// A random [n, d] double matrix with a low-rank part shared through `latent`, an offset and
/// noise, so metrics see structure rather than pure noise.
torch::Tensor structured(int64_t d, const torch::Tensor& latent) {
  torch::Tensor mixing = torch::randn({latent.size(1), d}, torch::kDouble);
  return latent.mm(mixing) + 0.5 * torch::randn({latent.size(0), d}, torch::kDouble) +
         torch::randn({1, d}, torch::kDouble);
}

void check_metric(const MetricPlugin& plugin, const Params& params, const std::string& name,
                  CheckList& checks) {
  const MetricTraits declared = plugin.traits();
  checks.run("describes itself (formula, cost, range, min_rows)", [&] {
    expect(!declared.formula.empty() && declared.formula.find('\n') == std::string::npos,
           "the formula must be one non-empty line");
    expect(!declared.cost.empty(), "the cost is empty");
    expect(declared.lower < declared.upper,
           "range [" + text(declared.lower) + ", " + text(declared.upper) + "] is empty");
    expect(declared.min_rows >= 1, "min_rows " + text(declared.min_rows) + " is below 1");
  });
  std::shared_ptr<Metric> metric;
  checks.run("creates a metric with the plugin's sense and range", [&] {
    metric = plugin.create(params);
    expect(metric != nullptr, "create() returned no metric");
    const MetricTraits& made = metric->traits();
    expect(made.sense == declared.sense, "the created metric has another sense");
    expect(made.lower == declared.lower && made.upper == declared.upper,
           "the created metric has another range");
  });
  if (!metric) return;
  const MetricTraits& traits = metric->traits();
  const int64_t n = std::max<int64_t>(12, traits.min_rows + 4);
  checks.run("stays within its range and is symmetric", [&] {
    for (auto [d1, d2] : {std::pair<int64_t, int64_t>{5, 7}, {64, 3}, {90, 120}}) {
      torch::Tensor latent = torch::randn({n, 3}, torch::kDouble);
      torch::Tensor x = structured(d1, latent);
      torch::Tensor y = structured(d2, latent);
      double value = metric->compute(x, y).item<double>();
      const std::string shape = " on " + text(n) + "x" + text(d1) + " vs " + text(d2);
      expect(value >= traits.lower && value <= traits.upper,
             "value " + text(value) + " outside [" + text(traits.lower) + ", " +
                 text(traits.upper) + "]" + shape);
      double swapped = metric->compute(y, x).item<double>();
      expect(std::abs(swapped - value) <= 1e-9 * std::max(1.0, std::abs(value)),
             "compute(x, y) = " + text(value) + " but compute(y, x) = " + text(swapped) + shape);
    }
  });
  checks.run("identical representations are at distance 0", [&] {
    torch::Tensor x = structured(10, torch::randn({n, 4}, torch::kDouble));
    double distance = metric->distance(x, x).item<double>();
    expect(std::abs(distance) <= 1e-6, "distance(x, x) = " + text(distance));
  });
  checks.run("float32 agrees with float64", [&] {
    torch::Tensor latent = torch::randn({n + 20, 4}, torch::kDouble);
    torch::Tensor x = structured(20, latent);
    torch::Tensor y = structured(300, latent);
    torch::Tensor single = metric->compute(x.to(torch::kFloat), y.to(torch::kFloat));
    torch::Tensor precise = metric->compute(x, y);
    expect(single.scalar_type() == torch::kFloat, "float32 inputs gave " +
                                                      text(single.scalar_type()));
    expect(precise.scalar_type() == torch::kDouble, "float64 inputs gave " +
                                                        text(precise.scalar_type()));
    double gap = std::abs(single.item<double>() - precise.item<double>());
    expect(gap <= 1e-4 * std::max(1.0, std::abs(precise.item<double>())),
           "float32 " + text(single.item<double>()) + ", float64 " + text(precise.item<double>()));
  });
  checks.run("constant activations give finite values and gradients", [&] {
    torch::Tensor y = torch::randn({n, 8}, torch::kDouble);
    for (double level : {0.0, 0.1, 3.0}) {
      torch::Tensor x = torch::full({n, 12}, level, torch::kDouble).requires_grad_(traits.differentiable);
      torch::Tensor value = metric->compute(x, y);
      expect(std::isfinite(value.item<double>()), "non-finite value at level " + text(level));
      if (traits.differentiable) {
        value.backward();
        expect(torch::isfinite(x.grad()).all().item<bool>(),
               "non-finite gradient at level " + text(level));
      }
    }
  });
  if (traits.differentiable) {
    checks.run("gradients match finite differences", [&] {
      for (auto [d1, d2] : {std::pair<int64_t, int64_t>{7, 9}, {40, 30}, {100, 70}}) {
        torch::Tensor latent = torch::randn({n, 3}, torch::kDouble);
        torch::Tensor point = structured(d1, latent).requires_grad_(true);
        torch::Tensor y = structured(d2, latent);
        metric->compute(point, y).backward();
        torch::Tensor direction = torch::randn_like(point);
        double analytic = (point.grad() * direction).sum().item<double>();
        double step = 1e-6 * point.detach().norm().item<double>() / direction.norm().item<double>();
        torch::NoGradGuard no_grad;
        double plus = metric->compute(point.detach() + step * direction, y).item<double>();
        double minus = metric->compute(point.detach() - step * direction, y).item<double>();
        double numeric = (plus - minus) / (2.0 * step);
        double gap = std::abs(analytic - numeric) / std::max(1e-3, std::abs(numeric));
        expect(gap < 1e-6, "directional derivative " + text(analytic) + " vs finite difference " +
                               text(numeric) + " on " + text(n) + "x" + text(d1));
      }
    });
  } else {
    checks.run("declares itself not differentiable and builds no graph", [&] {
      torch::Tensor x = torch::randn({n, 7}, torch::kDouble).requires_grad_(true);
      expect(!metric->compute(x, torch::randn({n, 9}, torch::kDouble)).requires_grad(),
             "its value requires grad although traits say it is not differentiable");
    });
  }
  auto refuses = [&](const torch::Tensor& x, const torch::Tensor& y, const std::string& what) {
    try {
      metric->compute(x, y);
    } catch (const std::exception& error) {
      expect(std::string(error.what()).find(name) != std::string::npos,
             "the error does not name the metric '" + name + "': " + error.what());
      return;
    }
    throw CheckFailure(what + " were accepted");
  };
  checks.run("refuses mismatched row counts, naming the metric", [&] {
    refuses(torch::randn({n, 3}), torch::randn({n + 1, 3}), "different row counts");
  });
  if (traits.min_rows > 1) {
    checks.run("refuses fewer rows than min_rows, naming the metric", [&] {
      const int64_t few = traits.min_rows - 1;
      refuses(torch::randn({few, 3}), torch::randn({few, 3}), text(few) + " rows");
    });
  }
}

// ---- datasets ----

void check_batch(const TaskSpec& task, const Batch& batch, int64_t rows, const std::string& split) {
  const std::string in = " in the " + split + " split";
  expect(batch.inputs.defined() && batch.inputs.size(0) == rows,
         "inputs do not have one row per index" + in);
  if (task.input_kind == InputKind::Image) {
    std::vector<int64_t> shape{rows};
    shape.insert(shape.end(), task.input_shape.begin(), task.input_shape.end());
    expect(batch.inputs.sizes() == c10::IntArrayRef(shape) && batch.inputs.is_floating_point(),
           "image inputs " + text(batch.inputs.sizes()) + " " + text(batch.inputs.scalar_type()) +
               ", expected float " + text(c10::IntArrayRef(shape)) + in);
    expect(torch::isfinite(batch.inputs).all().item<bool>(), "inputs are not all finite" + in);
  } else {
    // A batch may be padded to its own longest example (the released formats) or to the task's.
    const int64_t length = task.input_shape.at(0);
    expect(batch.inputs.scalar_type() == torch::kLong && batch.inputs.dim() == 2 &&
               batch.inputs.size(1) >= 1 && batch.inputs.size(1) <= length,
           "token inputs " + text(batch.inputs.sizes()) + ", expected int64 [rows, 1.." +
               text(length) + "]" + in);
    expect(batch.inputs.min().item<int64_t>() >= 0 &&
               batch.inputs.max().item<int64_t>() < task.vocab_size,
           "token ids outside [0, vocab_size = " + text(task.vocab_size) + ")" + in);
    expect(batch.mask.defined() && batch.mask.scalar_type() == torch::kBool &&
               batch.mask.sizes() == batch.inputs.sizes(),
           "the mask must be bool of the inputs' shape" + in);
    expect(batch.mask.any(1).all().item<bool>(), "an example has no real token" + in);
  }
  if (task.target_kind == TargetKind::Class) {
    expect(batch.targets.scalar_type() == torch::kLong && batch.targets.sizes() ==
                                                              c10::IntArrayRef{rows},
           "class targets " + text(batch.targets.sizes()) + ", expected int64 [" + text(rows) +
               "]" + in);
  } else {
    expect(batch.targets.scalar_type() == torch::kLong &&
               batch.targets.sizes() == batch.inputs.sizes() && batch.target_mask.defined() &&
               batch.target_mask.sizes() == batch.inputs.sizes(),
           "per-position targets and target_mask must be int64 / bool of the inputs' shape" + in);
  }
  expect(batch.targets.min().item<int64_t>() >= 0 &&
             batch.targets.max().item<int64_t>() < task.num_outputs,
         "targets outside [0, num_outputs = " + text(task.num_outputs) + ")" + in);
}

void check_dataset(const DatasetPlugin& plugin, const Params& params,
                   const ContractOptions& options, CheckList& checks) {
  const DatasetContext context{options.seed, options.base_directory};
  std::shared_ptr<Dataset> data;
  checks.run("opens with these parameters and describes a sane task", [&] {
    data = plugin.open(params, context);
    const TaskSpec& task = data->task();
    expect(!task.name.empty(), "the task has no name");
    expect(task.num_outputs >= 1, "num_outputs " + text(task.num_outputs));
    expect(task.input_shape.size() == (task.input_kind == InputKind::Image ? 3u : 1u),
           "input_shape " + text(c10::IntArrayRef(task.input_shape)) +
               " (images: {channels, height, width}; tokens: {max_length})");
    for (int64_t size : task.input_shape) expect(size > 0, "a zero input dimension");
    expect(task.input_kind == InputKind::Image || task.vocab_size >= 1, "vocab_size is 0");
    expect(!task.measures.empty(), "the task names no measures");
    const std::vector<std::string>& computed = computed_measures(task.target_kind);
    for (const auto& measure : task.measures) {
      expect(std::find(computed.begin(), computed.end(), measure) != computed.end(),
             "the task names the measure '" + measure + "', which the host does not compute for " +
                 "its kind of targets (" + quoted_list(computed) + ")");
    }
    expect(data->size(Split::Train) > 0, "the train split is empty");
  });
  if (!data) return;
  for (Split split : {Split::Train, Split::Validation, Split::Test}) {
    const int64_t size = data->size(split);
    if (size == 0) continue;
    checks.run(std::string("serves well-formed batches of the ") + to_string(split) + " split",
               [&] {
                 const int64_t rows = std::min<int64_t>(8, size);
                 check_batch(data->task(), data->batch(split, torch::arange(rows)), rows,
                             to_string(split));
                 check_batch(data->task(), data->batch(split, torch::tensor({size - 1})), 1,
                             to_string(split));
               });
  }
  checks.run("batches are a pure function of the seed and the indices", [&] {
    std::shared_ptr<Dataset> again = plugin.open(params, context);
    expect(again->size(Split::Train) == data->size(Split::Train),
           "two opens with one seed give other split sizes");
    torch::Tensor indices =
        torch::randint(0, data->size(Split::Train), {std::min<int64_t>(16, data->size(Split::Train))},
                       torch::kLong);
    Batch first = data->batch(Split::Train, indices);
    Batch second = again->batch(Split::Train, indices);
    Batch repeated = data->batch(Split::Train, indices);
    for (const Batch* other : {&second, &repeated}) {
      expect(torch::equal(first.inputs, other->inputs) && torch::equal(first.targets, other->targets),
             "the same indices gave other examples");
    }
  });
  checks.run("refuses indices outside the split", [&] {
    try {
      data->batch(Split::Train, torch::tensor({data->size(Split::Train)}));
    } catch (const std::exception&) {
      return;
    }
    throw CheckFailure("index size(train) = " + text(data->size(Split::Train)) + " was accepted");
  });
}

// ---- guide-init strategies ----

/// What a strategy may ask of the host, served without a run: "training" is a few Adam steps on
/// random inputs of the network's task (enough to see the strategy use the result), weights load
/// as in a run.
class ContractGuideServices : public GuideServices {
 public:
  ContractGuideServices(TaskSpec task, const ContractOptions& options)
      : task_(std::move(task)), options_(options) {}

  bool train_cached(Network& guide, const GuideTraining& training) override {
    torch::optim::Adam optimizer(guide.parameters(), torch::optim::AdamOptions(training.learning_rate));
    guide.train();
    for (int step = 0; step < 3; ++step) {
      NetworkOutput out = guide.forward(random_input(task_));
      optimizer.zero_grad();
      out.logits.square().mean().backward();
      optimizer.step();
    }
    return false;
  }
  void load_weights(Network& guide, const std::string& path) override {
    guidance::load_weights(guide, path);
  }
  uint64_t seed() const override { return options_.seed; }
  std::string base_directory() const override { return options_.base_directory; }

 private:
  TaskSpec task_;
  const ContractOptions& options_;
};

void check_guide_init(const GuideInitPlugin& plugin, const Params& params,
                      const ContractOptions& options, CheckList& checks) {
  std::shared_ptr<GuideInitializer> initializer;
  checks.run("creates an initializer", [&] {
    initializer = plugin.create(params);
    expect(initializer != nullptr, "create() returned no initializer");
  });
  if (!initializer) return;
  if (options.architectures == nullptr) return;
  const TaskSpec task = contract_guide_task();
  const std::string on = " (" + options.guide_architecture + " on " + task.name + ")";
  auto prepared = [&] {
    auto architecture = options.architectures->architecture(options.guide_architecture);
    torch::manual_seed(options.seed);
    std::shared_ptr<Network> guide =
        architecture->build(task, defaults_of(architecture->info().params));
    ContractGuideServices services(task, options);
    torch::manual_seed(options.seed);
    initializer->initialize(*guide, services);
    return guide;
  };
  checks.run("leaves a usable guide" + on, [&] {
    auto guide = prepared();
    guide->eval();
    torch::NoGradGuard frozen;
    NetworkOutput out = guide->forward(random_input(task));
    expect(torch::isfinite(out.logits).all().item<bool>(), "the guide's logits are not finite");
    for (const auto& item : guide->named_parameters()) {
      expect(torch::isfinite(item.value()).all().item<bool>(),
             "parameter '" + item.key() + "' is not finite");
    }
  });
  checks.run("prepares the same guide under the same seed" + on, [&] {
    auto first = prepared()->named_parameters();
    auto second = prepared()->named_parameters();
    for (const auto& item : first) {
      expect(torch::equal(item.value(), second[item.key()]),
             "parameter '" + item.key() + "' differs between two runs with one seed");
    }
  });
}

}  // namespace

TaskSpec contract_guide_task() { return image_task(); }

std::vector<CheckResult> check_contract(const CatalogEntry& entry, const Params& params,
                                        const ContractOptions& options) {
  CheckList checks;
  const PluginKind kind = entry.plugin->kind();
  // A parameter named like a key the host reads from the plugin's own table could never be set.
  checks.run("leaves the config table's own keys to the host", [&] {
    for (const ParamSpec& spec : entry.info.params) {
      expect(spec.name != kPluginKey, "parameter '" + spec.name + "' is the key that names the "
                                      "plugin in its config table: rename it");
      expect(kind != PluginKind::Architecture || spec.name != kGuideInitKey,
             "parameter '" + spec.name + "' is the key of [guide] that holds the guide-init "
             "table ([guide.init]), so a guide could never set it: rename it");
    }
  });
  torch::manual_seed(options.seed);
  switch (kind) {
    case PluginKind::Architecture:
      check_architecture(*std::static_pointer_cast<ArchitecturePlugin>(entry.plugin), params,
                         options, checks);
      break;
    case PluginKind::Metric:
      check_metric(*std::static_pointer_cast<MetricPlugin>(entry.plugin), params, entry.info.name,
                   checks);
      break;
    case PluginKind::Dataset:
      check_dataset(*std::static_pointer_cast<DatasetPlugin>(entry.plugin), params, options,
                    checks);
      break;
    case PluginKind::GuideInit:
      check_guide_init(*std::static_pointer_cast<GuideInitPlugin>(entry.plugin), params, options,
                       checks);
      break;
  }
  return checks.take();
}

bool print_results(const std::string& plugin, const std::vector<CheckResult>& results,
                   std::ostream& out) {
  bool all = true;
  for (const auto& result : results) {
    out << (result.passed ? "PASS  " : "FAIL  ") << plugin << ": " << result.check;
    if (!result.passed) out << ": " << result.detail;
    out << "\n";
    all = all && result.passed;
  }
  return all;
}

}  // namespace guidance
