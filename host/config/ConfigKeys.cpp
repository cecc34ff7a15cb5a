#include "host/config/ConfigKeys.h"

#include "host/config/TomlWriter.h"

namespace guidance {

namespace {

constexpr double kMaxBatch = 1 << 20;

template <typename Section>
std::vector<KeyReference> references(const std::vector<KeySpec<Section>>& keys) {
  std::vector<KeyReference> rows;
  for (const auto& key : keys) rows.push_back(key.reference());
  return rows;
}

}  // namespace

const std::vector<KeySpec<RunSection>>& run_keys() {
  using Key = KeySpec<RunSection>;
  static const std::vector<Key> keys = {
      Key("name", &RunSection::name,
          "the run's folder under `output`; may contain `/` (sweeps append "
          "`/<axis>=<value>,...`)")
          .required()
          .allowing("non-empty, no `..`"),
      Key("seed", &RunSection::seed,
          "every random stream of the run is derived from it (see "
          "[design.md](design.md#determinism-and-resume))")
          .at_least(0)
          .trains_guide(),
      Key("device", &RunSection::device,
          "where training runs; a CUDA device that this LibTorch or machine lacks is a runtime "
          "error (exit 1)")
          .allowing("`\"cpu\"`, `\"cuda\"`, `\"cuda:N\"`")
          .trains_guide(),
      Key("threads", &RunSection::threads,
          "LibTorch intra-op threads; 0 = every core. `run --threads N` overrides it")
          .between(0, 4096)
          .leaves_results(),
      Key("output", &RunSection::output,
          "records go to `<output>/<name>/`, trained guides to `<output>/guide-cache/`")
          .allowing("path")
          .leaves_results(),
      Key("plugin_dirs", &RunSection::plugin_dirs,
          "extra plugin folders, searched after `--plugin-dir` and `$GUIDANCE_PLUGIN_PATH`")
          .allowing("existing folders")
          .leaves_results(),
      Key("checkpoint_every", &RunSection::checkpoint_every,
          "steps between checkpoints; 0 = only at epoch ends (and at the end and on stop)")
          .at_least(0)
          .leaves_results(),
      Key("log_every", &RunSection::log_every,
          "steps between plain progress lines when stderr is not a terminal")
          .at_least(1)
          .leaves_results(),
      Key::by_hand("distributed", "table", "`{}`", "the keys of `[run.distributed]`",
                   "how a run launched as several processes joins its process group (below)"),
  };
  return keys;
}

const std::vector<KeySpec<DistributedSection>>& distributed_keys() {
  using Key = KeySpec<DistributedSection>;
  static const std::vector<Key> keys = {
      Key("backend", &DistributedSection::backend, kDistributedBackendNames,
          "the c10d backend; `auto` = Gloo for `run.device = \"cpu\"`, NCCL for CUDA")
          .leaves_results(),
      Key("timeout", &DistributedSection::timeout,
          "seconds to wait for the rendezvous (every rank reaching `MASTER_ADDR:MASTER_PORT`) "
          "and for each collective before the run fails")
          .between(1, 86400)
          .leaves_results(),
  };
  return keys;
}

const std::vector<KeySpec<GuidanceSection>>& guidance_keys() {
  using Key = KeySpec<GuidanceSection>;
  static const std::vector<Key> keys = {
      Key("enabled", &GuidanceSection::enabled,
          "`false`: an unguided run (the guide is not even built)"),
      Key("alpha", &GuidanceSection::alpha,
          "weight α of the guidance term: loss = task + α · Σ_pairs distance")
          .at_least(0),
      Key::by_hand("layer_map", "string or list", std::string("`\"") + kUniformLayerMap + "\"`",
                   std::string("`\"") + kUniformLayerMap +
                       "\"` or `[[\"<guide tap>\", \"<target tap>\"], ...]`",
                   "which guide tap each target tap is pulled toward"),
      Key("guided_steps", &GuidanceSection::guided_steps,
          "guide only the first N optimiser steps, then the task loss alone; 0 = the whole run")
          .at_least(0),
      Key("guide_input", &GuidanceSection::guide_input, kGuideInputNames,
          "what the guide sees: the target's batch; `noise` as released (images: randn + "
          "0.1·randn clamped to [0, 1]; tokens: uniform in [0, the batch's largest id], padding "
          "included); `normal`, the workbench's earlier noise (images: randn clamped to "
          "±`noise_clamp`; tokens: uniform over the vocabulary at real positions)"),
      Key("noise_clamp", &GuidanceSection::noise_clamp,
          "`guide_input = \"normal\"` on image tasks: the clamp ±this; 0 = no clamp")
          .at_least(0),
      Key("tap_set", &GuidanceSection::tap_set, kTapSetNames,
          "the taps the uniform map runs over: `modules`, the released extractor's hook points "
          "(every Linear, Conv2d, pool, RNN, LayerNorm, attention output, before normalisation "
          "and activation; the head dropped), or `blocks`, one tap per block after its "
          "activation (the workbench's earlier taps)"),
      Key("uniform_map", &GuidanceSection::uniform_map, kUniformMapRuleNames,
          "`released`: guide tap i → target tap min(round(i·(T−1)/(G−1)), T−1), and where "
          "several guide taps land on one target tap only the last counts (a single guide tap "
          "→ the first target tap); `all-pairs`: every pair summed (a single guide tap → the "
          "last target tap)"),
      Key("guide_mode", &GuidanceSection::guide_mode, kGuideModeNames,
          "the guide's module mode: `released` = eval for image tasks, train for token tasks "
          "(the released sequence scripts never call eval(): dropout stays active); or always "
          "`eval` / `train`"),
      Key("single_target_forward", &GuidanceSection::single_target_forward,
          "`true`: the target's taps come from the forward pass that gives the task loss; "
          "`false` (released): a second forward pass gives them, so batch norm statistics "
          "update twice and dropout masks differ"),
      Key("tokenwise", &GuidanceSection::tokenwise,
          "`true`: sequence taps compared position by position and summed over positions "
          "(below); `false` (released): one comparison per pair on the taps flattened to "
          "[B, L·D]"),
      Key("mask_padding", &GuidanceSection::mask_padding,
          "`true`: padding positions of sequence taps are zeroed (flattened) or left out "
          "(token-wise) before comparing; `false` (released): they count like any position"),
      Key("guide_cache", &GuidanceSection::guide_cache, kGuideCacheModeNames,
          "keep the frozen guide's outputs for the whole train split, so its forward pass is "
          "skipped from the second epoch on: `auto` when the guide declares batch-invariant "
          "outputs (bit-for-bit the same results) and they fit `guide_cache_mb`; `on` whenever "
          "they fit (other guides: equal to float rounding); `off`. Needs `guide_input = "
          "\"batch\"` and the guide in eval mode; the run's log says on or off and why"),
      Key("guide_cache_mb", &GuidanceSection::guide_cache_mb,
          "the guide-tap cache's memory budget in MiB; 0 = half the memory available when the "
          "run starts, shared among the runs a study starts together (`--jobs`)")
          .at_least(0),
      Key("guide_cache_bf16", &GuidanceSection::guide_cache_bf16,
          "store the cached guide outputs in bfloat16: half the memory, and a float32 run's "
          "guide taps rounded to bf16 from the second epoch on (under `train.precision = "
          "\"bf16-mixed\"` they are bf16 already)"),
      Key("guide_taps", &GuidanceSection::guide_taps,
          "uniform map over these guide taps only (network order, any tap set); `[]` = the "
          "guide's taps in `tap_set`")
          .allowing("guide tap names"),
      Key("target_taps", &GuidanceSection::target_taps,
          "uniform map over these target taps only; `[]` = the target's taps in `tap_set`")
          .allowing("target tap names"),
      Key::by_hand("distillation", "table", "absent (off)", "`{ weight = 1.0, temperature = 4.0 }`",
                   "knowledge distillation from the guide's logits (below)"),
      Key::by_hand("metric", "table", std::string("`{ plugin = \"") + kDefaultMetric + "\" }`",
                   "a differentiable metric plugin table",
                   "the representational distance guidance minimises (below)"),
  };
  return keys;
}

const std::vector<KeySpec<TrainSection>>& train_keys() {
  using Key = KeySpec<TrainSection>;
  static const std::vector<Key> keys = {
      Key("optimizer", &TrainSection::optimizer, kOptimizerNames, "LibTorch's Adam, AdamW, SGD"),
      Key("learning_rate", &TrainSection::learning_rate, "peak learning rate").at_least(0),
      Key("momentum", &TrainSection::momentum, "SGD only").between(0, 1),
      Key("nesterov", &TrainSection::nesterov,
          "SGD only (LibTorch refuses it with `momentum = 0`)"),
      Key("weight_decay", &TrainSection::weight_decay,
          "the optimiser's weight decay (L2 for adam/sgd, decoupled for adamw)")
          .at_least(0),
      Key("schedule", &TrainSection::schedule, kScheduleNames, "learning-rate schedule"),
      Key("step_epochs", &TrainSection::step_epochs,
          "`step`: multiply by `gamma` every this many epochs")
          .at_least(1),
      Key("gamma", &TrainSection::gamma, "`step`: factor per decay").between(0, 1),
      Key("min_learning_rate", &TrainSection::min_learning_rate,
          "`cosine`: the final learning rate")
          .at_least(0),
      Key("warmup_steps", &TrainSection::warmup_steps,
          "linear warm-up: step k (0-based) < warmup_steps is scaled by (k+1)/warmup_steps")
          .at_least(0),
      Key("grad_clip", &TrainSection::grad_clip, "maximum global gradient norm; 0 = off")
          .at_least(0),
      Key("accumulate", &TrainSection::accumulate, "micro-batches per optimiser step")
          .between(1, kMaxBatch),
      Key("batch_size", &TrainSection::batch_size, "examples per micro-batch")
          .between(1, kMaxBatch),
      Key("eval_batch_size", &TrainSection::eval_batch_size,
          "examples per evaluation batch (no effect on results)")
          .between(1, kMaxBatch)
          .leaves_results(),
      Key("epochs", &TrainSection::epochs, "passes over the train split, when `max_steps = 0`")
          .between(1, 1e6),
      Key("max_steps", &TrainSection::max_steps,
          "optimiser steps; > 0 **replaces** `epochs` (it may end mid-epoch or run past "
          "`epochs`)")
          .between(0, 1e9),
      Key("train_eval_size", &TrainSection::train_eval_size,
          "train examples evaluated at each epoch end; 0 = none")
          .at_least(0),
      Key("precision", &TrainSection::precision, kPrecisionNames,
          "`\"32\"`: float32 throughout; `\"bf16-mixed\"`: the target's and the guide's "
          "forward passes (training and evaluation) under bfloat16 autocast, with master "
          "weights, optimiser, task loss and distances in float32 (docs/performance.md). Needs "
          "a device with bf16 arithmetic (on a CPU: AVX512-BF16)"),
  };
  return keys;
}

const std::vector<KeySpec<RecordSection>>& record_keys() {
  using Key = KeySpec<RecordSection>;
  static const std::vector<Key> keys = {
      Key("every", &RecordSection::every, "a snapshot every N steps; 0 = off")
          .at_least(0)
          .leaves_results(),
      Key("at_steps", &RecordSection::at_steps,
          "and at these steps (steps beyond the budget never come)")
          .at_least(1)
          .leaves_results(),
      Key("at_end", &RecordSection::at_end, "and after the last step")
          .leaves_results(),
      Key("probe_size", &RecordSection::probe_size,
          "probe examples: the first `probe_size` of the validation split (test if there is "
          "none)")
          .between(2, 1e6)
          .leaves_results(),
      Key("activation_dtype", &RecordSection::activation_dtype, kActivationDtypeNames,
          "how probe activations are stored")
          .leaves_results(),
      Key::by_hand("metrics", "list", std::string("`[\"") + kDefaultMetric + "\"]`",
                   "metric plugin names, or tables `{ plugin = \"...\", name = \"...\", "
                   "<parameters> }`",
                   "similarity matrices per snapshot (guide×target, target×target, "
                   "guide×guide), stored under each entry's `name` (default: the plugin name; "
                   "names must differ)")
          .leaves_results(),
      Key("similarity_memory_mb", &RecordSection::similarity_memory_mb,
          "MiB of stored taps kept in memory while a snapshot's similarity matrices are "
          "computed; taps beyond it are read from the record again")
          .at_least(1)
          .leaves_results(),
  };
  return keys;
}

namespace {

// Calls visit(keys, prefix, section_of) for each key table of the config sections: its
// declarations, the dotted prefix of its keys and a function giving its section of a Config.
template <typename Visit>
void for_each_key_table(Visit&& visit) {
  visit(run_keys(), "run.", [](const Config& config) -> const auto& { return config.run; });
  visit(distributed_keys(), "run.distributed.",
        [](const Config& config) -> const auto& { return config.run.distributed; });
  visit(guidance_keys(), "guidance.",
        [](const Config& config) -> const auto& { return config.guidance; });
  visit(train_keys(), "train.", [](const Config& config) -> const auto& { return config.train; });
  visit(record_keys(), "record.",
        [](const Config& config) -> const auto& { return config.record; });
}

}  // namespace

std::vector<SectionReference> config_reference() {
  std::vector<SectionReference> sections;
  for_each_key_table([&](const auto& keys, const std::string& prefix, auto) {
    // The section's table name is its keys' prefix without the last dot.
    sections.push_back({"[" + prefix.substr(0, prefix.size() - 1) + "]", references(keys)});
  });
  return sections;
}

namespace {

template <typename Section>
bool declared_leaving_results(const std::vector<KeySpec<Section>>& keys, const std::string& prefix,
                              const std::string& key_path) {
  for (const auto& key : keys) {
    if (key.affects_results()) continue;
    const std::string path = prefix + key.name();
    // A by-hand key's value may be a table or a list, flattened below it ("record.metrics.0").
    if (key_path == path || (key.read_by_hand() && key_path.rfind(path + ".", 0) == 0)) return true;
  }
  return false;
}

}  // namespace

std::string guide_training_settings(const Config& config) {
  // `prefix.name=value;` for each key declared trains_guide(), its value as in the resolved TOML.
  std::string text;
  for_each_key_table([&](const auto& keys, const std::string& prefix, auto section_of) {
    for (const auto& key : keys) {
      if (!key.read_by_guide_training()) continue;
      toml::table table;
      key.write(section_of(config), table);
      text += prefix + key.name() + "=" + inline_toml(*table.get(key.name())) + ";";
    }
  });
  return text;
}

bool leaves_results(const std::string& key_path) {
  bool leaves = false;
  for_each_key_table([&](const auto& keys, const std::string& prefix, auto) {
    leaves = leaves || declared_leaving_results(keys, prefix, key_path);
  });
  return leaves;
}

bool unguided_run_ignores(const std::string& key_path) {
  for (const char* section : {"guide", "guidance"}) {
    const size_t length = std::char_traits<char>::length(section);
    if (key_path.compare(0, length, section) == 0 &&
        (key_path.size() == length || key_path[length] == '.')) {
      return true;
    }
  }
  return false;
}

}  // namespace guidance
