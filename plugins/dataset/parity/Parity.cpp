#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "guidance/api/PluginApi.h"
#include "plugins/dataset/common/GeneratedDataset.h"
#include "plugins/dataset/common/TokenRows.h"

namespace guidance::datasets {
namespace {

constexpr const char* kName = "parity";
constexpr int64_t kBitZero = 1;  // bit b is token kBitZero + b
constexpr int64_t kVocabulary = 3;

class ParityDataset final : public GeneratedDataset {
 public:
  ParityDataset(const GeneratedShape& shape, uint64_t seed)
      : GeneratedDataset(make_task(shape.max_length), shape.sizes, seed),
        min_length_(shape.min_length),
        max_length_(shape.max_length) {}

 protected:
  Batch generate(std::vector<ExampleRng>& sources) const override {
    std::vector<std::vector<int64_t>> rows;
    std::vector<int64_t> parities;
    for (ExampleRng& rng : sources) {
      const int64_t length = rng.between(min_length_, max_length_);
      std::vector<int64_t> row;
      int64_t ones = 0;
      for (int64_t t = 0; t < length; ++t) {
        const auto bit = static_cast<int64_t>(rng.below(2));
        ones += bit;
        row.push_back(kBitZero + bit);
      }
      rows.push_back(std::move(row));
      parities.push_back(ones % 2);
    }
    PackedRows packed = pack_rows(rows, max_length_, kPadToken);
    Batch batch;
    batch.inputs = packed.tokens;
    batch.mask = packed.mask;
    batch.targets = index_tensor(parities);
    return batch;
  }

 private:
  static TaskSpec make_task(int64_t max_length) {
    return token_task(kName, max_length, kVocabulary, TargetKind::Class, 2, {measures::kTop1});
  }

  int64_t min_length_;
  int64_t max_length_;
};

class ParityPlugin final : public DatasetPlugin {
 public:
  PluginInfo info() const override {
    return {kName, "1.0.0",
            "parity of random bit strings of varying length (tokens: pad 0, bit 0 -> 1, "
            "bit 1 -> 2); classes: even 0, odd 1",
            generated_params(1, 20)};
  }

  std::shared_ptr<Dataset> open(const Params& params,
                                const DatasetContext& context) const override {
    return std::make_shared<ParityDataset>(generated_shape(params, kName), context.seed);
  }
};

}  // namespace
}  // namespace guidance::datasets

GUIDANCE_PLUGIN_LIBRARY(registry) {
  registry.add(std::make_shared<guidance::datasets::ParityPlugin>());
}
