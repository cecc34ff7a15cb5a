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

constexpr const char* kName = "copy-paste";
constexpr int64_t kCopy = 1;
constexpr int64_t kEnd = 2;
constexpr int64_t kBlank = 3;
constexpr int64_t kFirstContent = 4;  // content token j is kFirstContent + j

// An example with k content tokens and b blanks is
//   c1 .. ck  BLANK x b  COPY  c1 .. ck  END  PAD ...
// Targets are the next token at every position; only the positions whose next token is part of
// the answer (COPY up to the last copied token, whose next token is END) are scored.
class CopyPasteDataset final : public GeneratedDataset {
 public:
  CopyPasteDataset(const GeneratedShape& shape, int64_t content_vocab, int64_t blanks,
                   uint64_t seed)
      : GeneratedDataset(make_task(shape.max_length, content_vocab, blanks), shape.sizes, seed),
        min_length_(shape.min_length),
        max_length_(shape.max_length),
        content_vocab_(content_vocab),
        blanks_(blanks) {}

 protected:
  Batch generate(std::vector<ExampleRng>& sources) const override {
    std::vector<std::vector<int64_t>> rows;
    std::vector<int64_t> contents;
    for (ExampleRng& rng : sources) {
      const int64_t length = rng.between(min_length_, max_length_);
      std::vector<int64_t> content;
      for (int64_t t = 0; t < length; ++t) {
        content.push_back(kFirstContent +
                          static_cast<int64_t>(rng.below(static_cast<uint64_t>(content_vocab_))));
      }
      std::vector<int64_t> row = content;
      row.insert(row.end(), static_cast<size_t>(blanks_), kBlank);
      row.push_back(kCopy);
      row.insert(row.end(), content.begin(), content.end());
      row.push_back(kEnd);
      rows.push_back(std::move(row));
      contents.push_back(length);
    }
    const int64_t width = sequence_length(max_length_, blanks_);
    PackedRows packed = pack_rows(rows, width, kPadToken);
    Batch batch;
    batch.inputs = packed.tokens;
    batch.mask = packed.mask;
    batch.targets = torch::cat({packed.tokens.slice(1, 1),
                                torch::full({packed.tokens.size(0), 1}, kPadToken, torch::kLong)},
                               1);
    batch.target_mask = torch::zeros_like(packed.mask);
    for (size_t b = 0; b < contents.size(); ++b) {
      const int64_t copy_at = contents[b] + blanks_;
      batch.target_mask[static_cast<int64_t>(b)]
          .slice(0, copy_at, copy_at + contents[b] + 1)
          .fill_(true);
    }
    return batch;
  }

 private:
  static int64_t sequence_length(int64_t max_length, int64_t blanks) {
    return 2 * max_length + blanks + 2;
  }

  static TaskSpec make_task(int64_t max_length, int64_t content_vocab, int64_t blanks) {
    const int64_t vocab_size = kFirstContent + content_vocab;
    return token_task(kName, sequence_length(max_length, blanks), vocab_size,
                      TargetKind::TokenPerPosition, vocab_size,
                      {measures::kTokenAccuracy, measures::kSequenceAccuracy});
  }

  int64_t min_length_;
  int64_t max_length_;
  int64_t content_vocab_;
  int64_t blanks_;
};

class CopyPastePlugin final : public DatasetPlugin {
 public:
  PluginInfo info() const override {
    PluginInfo info{
        kName,
        "1.0.0",
        "copy random content after a COPY token (tokens: pad 0, COPY 1, END 2, "
        "blank 3, content from 4); next-token targets scored on the answer",
        {ParamSpec::integer("content_vocab", 10, "number of distinct content tokens").between(1, 100000),
         ParamSpec::integer("blanks", 0, "blank tokens between the content and the COPY token")
             .between(0, 4096)}};
    for (auto& spec : generated_params(1, 20)) info.params.push_back(std::move(spec));
    return info;
  }

  std::shared_ptr<Dataset> open(const Params& params,
                                const DatasetContext& context) const override {
    return std::make_shared<CopyPasteDataset>(generated_shape(params, kName),
                                              params.integer("content_vocab"),
                                              params.integer("blanks"), context.seed);
  }
};

}  // namespace
}  // namespace guidance::datasets

GUIDANCE_PLUGIN_LIBRARY(registry) {
  registry.add(std::make_shared<guidance::datasets::CopyPastePlugin>());
}
