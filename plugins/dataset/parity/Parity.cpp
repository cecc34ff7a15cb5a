#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "guidance/api/ParamTable.h"
#include "guidance/api/PluginApi.h"
#include "plugins/dataset/common/GeneratedDataset.h"
#include "plugins/dataset/common/TokenRows.h"

namespace guidance::datasets {
namespace {

constexpr const char* kName = "parity";
constexpr int64_t kVocabulary = 3;

// How a format writes bit strings.
struct ParityLayout {
  int64_t bit_zero;        // bit b is token bit_zero + b
  int64_t pad;
  bool pad_to_longest;     // batch width: its longest string, or max_length
  ClassLoss loss;
  LengthRange lengths;     // used where min_length / max_length are 0
};

// The authors' layout: bits are tokens 0 and 1, padding 2 up to the batch's longest string, and
// the loss a BCEWithLogits of the 2 logits against one_hot(label).
constexpr ParityLayout kReleased{0, 2, true, ClassLoss::OneHotBinaryCrossEntropy, {2, 50}};
constexpr ParityLayout kWorkbench{1, kPadToken, false, ClassLoss::CrossEntropy, {1, 20}};

class ParityDataset final : public GeneratedDataset {
 public:
  ParityDataset(const ParityLayout& layout, const GeneratedShape& shape, uint64_t seed)
      : GeneratedDataset(make_task(layout, shape.lengths.max_length), shape.sizes, seed),
        layout_(layout),
        lengths_(shape.lengths) {}

 protected:
  Batch generate(std::vector<ExampleRng>& sources) const override {
    std::vector<std::vector<int64_t>> rows;
    std::vector<int64_t> parities;
    for (ExampleRng& rng : sources) {
      const int64_t length = rng.between(lengths_.min_length, lengths_.max_length);
      std::vector<int64_t> row;
      int64_t ones = 0;
      for (int64_t t = 0; t < length; ++t) {
        const auto bit = static_cast<int64_t>(rng.below(2));
        ones += bit;
        row.push_back(layout_.bit_zero + bit);
      }
      rows.push_back(std::move(row));
      parities.push_back(ones % 2);
    }
    const int64_t width = layout_.pad_to_longest ? longest_row(rows) : lengths_.max_length;
    PackedRows packed = pack_rows(rows, width, layout_.pad);
    Batch batch;
    batch.inputs = packed.tokens;
    batch.mask = packed.mask;
    batch.targets = index_tensor(parities);
    return batch;
  }

 private:
  static TaskSpec make_task(const ParityLayout& layout, int64_t max_length) {
    TaskSpec task = token_task(kName, max_length, kVocabulary, TargetKind::Class, 2,
                               {measures::kTop1}, layout.pad);
    task.class_loss = layout.loss;
    return task;
  }

  ParityLayout layout_;
  LengthRange lengths_;
};

// The plugin's parameters (parity_params() declares each), with their defaults.
struct ParityOptions {
  bool released = true;
  GeneratedOptions generated = generated_defaults(80000, 10000, 10000);
};

const ParamTable<ParityOptions>& parity_params() {
  static const ParamTable<ParityOptions> table =
      ParamTable<ParityOptions>()
          .add_choice("format", &ParityOptions::released,
                      "released: bits 0 and 1, pad 2 to the batch's longest string, lengths 2-50 "
                      "by default, loss BCEWithLogits against one_hot(parity); workbench: pad 0, "
                      "bits 1 and 2, padded to max_length, lengths 1-20 by default, loss "
                      "cross-entropy",
                      format_choices())
          .add_all(&ParityOptions::generated, generated_params());
  return table;
}

class ParityPlugin final : public DatasetPlugin {
 public:
  PluginInfo info() const override {
    return {kName, "1.1.0",
            "parity of random bit strings of varying length; classes: even 0, odd 1",
            parity_params().specs()};
  }

  std::shared_ptr<Dataset> open(const Params& params,
                                const DatasetContext& context) const override {
    const ParityOptions options = parity_params().read(params);
    const ParityLayout& layout = options.released ? kReleased : kWorkbench;
    return std::make_shared<ParityDataset>(
        layout, generated_shape(options.generated, kName, layout.lengths), context.seed);
  }
};

}  // namespace
}  // namespace guidance::datasets

GUIDANCE_PLUGIN_LIBRARY(registry) {
  registry.add(std::make_shared<guidance::datasets::ParityPlugin>());
}
