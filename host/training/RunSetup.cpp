#include "host/training/RunSetup.h"

#include <algorithm>
#include <thread>

#include <torch/cuda.h>

#include "host/common/Errors.h"
#include "host/common/Fnv1a.h"
#include "host/common/Suggest.h"
#include "host/training/TaskObjective.h"

namespace guidance {

uint64_t derive_seed(uint64_t seed, const std::string& purpose) {
  // FNV-1a over the seed (8 little-endian bytes) and the purpose: stable across platforms and
  // library versions.
  unsigned char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(seed >> (8 * i));
  uint64_t hash = fnv1a(fnv1a(kFnv1aOffsetBasis, bytes, sizeof(bytes)), purpose.data(),
                        purpose.size());
  return hash & 0x7fffffffffffffffULL;  // torch seeds are taken as signed in places
}

torch::Device resolve_device(const std::string& device) {
  torch::Device parsed = torch::kCPU;
  try {
    parsed = torch::Device(device);
  } catch (const std::exception&) {
    throw RunError("device '" + device + "' is not a device name: use \"cpu\", \"cuda\" or \"cuda:N\"");
  }
  if (parsed.is_cuda()) {
    if (!torch::cuda::is_available()) {
      throw RunError("device '" + device +
                     "' requested, but this LibTorch has no CUDA support or no GPU is visible; "
                     "use device = \"cpu\"");
    }
    int64_t count = static_cast<int64_t>(torch::cuda::device_count());
    if (parsed.has_index() && parsed.index() >= count) {
      throw RunError("device '" + device + "' requested, but only " + std::to_string(count) +
                     " CUDA device(s) are visible");
    }
  }
  return parsed;
}

int apply_threads(int64_t threads) {
  int count = threads > 0 ? static_cast<int>(threads)
                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  torch::set_num_threads(count);
  return count;
}

namespace {

template <typename T>
std::shared_ptr<T> tie(std::shared_ptr<T> object, const PluginCatalog& catalog, PluginKind kind,
                       const std::string& name) {
  return keep_library_alive(std::move(object), catalog.library_of(catalog.find(kind, name)));
}

std::shared_ptr<Network> build_network(const PluginChoice& choice, const TaskSpec& task,
                                       const PluginCatalog& catalog, uint64_t seed,
                                       const char* role) {
  torch::manual_seed(seed);
  std::shared_ptr<Network> network;
  try {
    network = catalog.architecture(choice.name)->build(task, choice.params);
  } catch (const std::invalid_argument& error) {
    throw ConfigError(error_location(choice, error) + ": " + role + " architecture '" +
                      choice.name + "' cannot be built for task '" + task.name +
                      "': " + error.what());
  } catch (const c10::Error& error) {
    throw ConfigError(choice.location + ": " + role + " architecture '" + choice.name +
                      "' cannot be built for task '" + task.name +
                      "': " + error.what_without_backtrace());
  }
  if (!network) {
    throw RunError(std::string(role) + " architecture '" + choice.name + "' built nothing");
  }
  return tie(std::move(network), catalog, PluginKind::Architecture, choice.name);
}

/// @param label the metric as errors name it, e.g. "guidance metric 'rsa'"
std::shared_ptr<Metric> make_metric(const PluginChoice& choice, const PluginCatalog& catalog,
                                    const std::string& label) {
  std::shared_ptr<Metric> metric;
  try {
    metric = catalog.metric(choice.name)->create(choice.params);
  } catch (const std::invalid_argument& error) {
    throw ConfigError(error_location(choice, error) + ": " + label +
                      " cannot be made with these parameters: " + error.what());
  }
  return tie(std::move(metric), catalog, PluginKind::Metric, choice.name);
}

}  // namespace

NetworkOutput inspect_forward(Network& network, const NetworkInput& input) {
  torch::NoGradGuard no_grad;
  bool was_training = network.is_training();
  network.eval();
  NetworkOutput output = network.forward(input);
  network.train(was_training);
  return output;
}

void check_distillable(const Config& config, const RunComponents& run) {
  int64_t count = std::min<int64_t>(2, run.dataset->size(Split::Train));
  if (count == 0) return;
  Batch batch = run.dataset->batch(Split::Train, torch::arange(count, torch::kLong));
  torch::Tensor target = inspect_forward(*run.target, batch.network_input()).logits;
  torch::Tensor guide = inspect_forward(*run.guide, batch.network_input()).logits;
  if (target.sizes() != guide.sizes()) {
    auto shape = [](const torch::Tensor& tensor) {
      std::string text;
      for (int64_t size : tensor.sizes()) text += (text.empty() ? "" : ", ") + std::to_string(size);
      return "[" + text + "]";
    };
    throw ConfigError(config.guidance.distill_location +
                      ": key 'guidance.distillation': distillation needs the guide to have the "
                      "target's output size, but on a batch of " + std::to_string(count) +
                      " the guide '" + config.guide->architecture.name + "' gives logits " +
                      shape(guide) + " and the target '" + config.target.name + "' " +
                      shape(target) + "; give the guide the target's outputs or remove "
                      "guidance.distillation");
  }
}

RunComponents assemble_run(const Config& config, const PluginCatalog& catalog) {
  RunComponents run;
  run.device = resolve_device(config.run.device);
  DatasetContext context{derive_seed(config.run.seed, "data"), config.document.directory};
  try {
    run.dataset = tie(catalog.dataset(config.dataset.name)->open(config.dataset.params, context),
                      catalog, PluginKind::Dataset, config.dataset.name);
  } catch (const GuidanceError&) {
    throw;
  } catch (const std::invalid_argument& error) {
    throw ConfigError(error_location(config.dataset, error) + ": dataset '" + config.dataset.name +
                      "' cannot be opened with these parameters: " + error.what());
  } catch (const std::exception& error) {
    throw RunError("dataset '" + config.dataset.name + "' (" + config.dataset.location +
                   "): " + error.what());
  }
  run.task = run.dataset->task();
  for (const auto& measure : run.task.measures) {
    const std::vector<std::string>& computed = computed_measures(run.task.target_kind);
    if (std::find(computed.begin(), computed.end(), measure) == computed.end()) {
      throw RunError("dataset '" + config.dataset.name + "' names the measure '" + measure +
                     "', which is not computed for its task (measures of its kind: " +
                     quoted_list(computed) + "); `guidance plugins test` checks this");
    }
  }
  run.target = build_network(config.target, run.task, catalog,
                             derive_seed(config.run.seed, "target"), "target");
  for (const auto& metric : config.record.metrics) {
    run.record_metrics.push_back(make_metric(
        metric.plugin, catalog,
        "record metric '" + metric.name + "' (plugin '" + metric.plugin.name + "')"));
  }
  if (!config.guided()) return run;

  run.guide = build_network(config.guide->architecture, run.task, catalog,
                            derive_seed(config.run.seed, "guide"), "guide");
  const PluginChoice& metric = config.guidance.metric;
  run.metric = make_metric(metric, catalog, "guidance metric '" + metric.name + "'");
  if (!run.metric->traits().differentiable) {
    std::vector<std::string> usable;
    for (const auto& entry : catalog.entries()) {
      if (entry.plugin->kind() == PluginKind::Metric &&
          std::static_pointer_cast<MetricPlugin>(entry.plugin)->traits().differentiable) {
        usable.push_back(entry.info.name);
      }
    }
    std::string list;
    for (const auto& name : usable) list += (list.empty() ? "'" : ", '") + name + "'";
    throw ConfigError(metric.location + ": key 'guidance.metric.plugin': metric '" + metric.name +
                      "' (with these parameters) is not differentiable, so guidance cannot "
                      "minimise it; it can still be used in [record] metrics or analysis. "
                      "Differentiable metrics: " + list);
  }
  const PluginChoice& init = config.guide->init;
  try {
    run.guide_init = tie(catalog.guide_init(init.name)->create(init.params), catalog,
                         PluginKind::GuideInit, init.name);
  } catch (const std::invalid_argument& error) {
    throw ConfigError(error_location(init, error) + ": guide init '" + init.name +
                      "' cannot be made with these parameters: " + error.what());
  }
  run.pairs = resolve_layer_map(config.guidance, run.guide->taps(), run.target->taps());
  if (config.guidance.distilling()) check_distillable(config, run);
  if (run.pairs.empty() && !config.guidance.distilling()) {
    throw ConfigError(config.guidance.layer_map_location +
                      ": key 'guidance.layer_map': the map is empty (a network has no taps)");
  }
  return run;
}

}  // namespace guidance
