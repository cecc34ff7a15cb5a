#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "guidance/api/ParamTable.h"
#include "guidance/api/PluginApi.h"
#include "plugins/dataset/common/GeneratedDataset.h"
#include "plugins/dataset/common/TokenRows.h"

namespace guidance::datasets {
namespace {

constexpr const char* kName = "copy-paste";
constexpr LengthRange kReleasedLengths{20, 40};
constexpr LengthRange kWorkbenchLengths{1, 20};

// Both formats draw an example the same way: its length, then each symbol in [0, symbols).
std::vector<int64_t> draw_symbols(ExampleRng& rng, LengthRange lengths, int64_t symbols) {
  const int64_t length = rng.between(lengths.min_length, lengths.max_length);
  std::vector<int64_t> drawn;
  for (int64_t t = 0; t < length; ++t) {
    drawn.push_back(static_cast<int64_t>(rng.below(static_cast<uint64_t>(symbols))));
  }
  return drawn;
}

TaskSpec copy_task(int64_t length, int64_t vocab_size) {
  return token_task(kName, length, vocab_size, TargetKind::TokenPerPosition, vocab_size,
                    {measures::kTokenAccuracy, measures::kSequenceAccuracy});
}

// The authors' layout, with S symbols (digits 0 .. S-1), COPY = S + 1 and EOS = S + 2 (id S is
// never used):
//   inputs   s1 .. sk  COPY  0 x k      EOS
//   targets  0 x (k+1)       s1 .. sk   EOS
// Targets are aligned with the inputs (position t predicts targets[t]) and scored where they are
// not 0, as a cross-entropy that ignores class 0 does; so a 0 symbol in the answer is unscored.
// Batches are padded with 0 to their longest example.
class ReleasedCopyPaste final : public GeneratedDataset {
 public:
  ReleasedCopyPaste(const GeneratedShape& shape, int64_t symbols, uint64_t seed)
      : GeneratedDataset(copy_task(2 * shape.lengths.max_length + 2, symbols + 3), shape.sizes,
                         seed),
        lengths_(shape.lengths),
        symbols_(symbols) {}

 protected:
  Batch generate(std::vector<ExampleRng>& sources) const override {
    const int64_t copy = symbols_ + 1;
    const int64_t eos = symbols_ + 2;
    std::vector<std::vector<int64_t>> inputs;
    std::vector<std::vector<int64_t>> targets;
    for (ExampleRng& rng : sources) {
      const std::vector<int64_t> content = draw_symbols(rng, lengths_, symbols_);
      std::vector<int64_t> input = content;
      input.push_back(copy);
      input.insert(input.end(), content.size(), kPadToken);
      input.push_back(eos);
      std::vector<int64_t> target(content.size() + 1, kPadToken);
      target.insert(target.end(), content.begin(), content.end());
      target.push_back(eos);
      inputs.push_back(std::move(input));
      targets.push_back(std::move(target));
    }
    const int64_t width = longest_row(inputs);
    PackedRows packed = pack_rows(inputs, width, kPadToken);
    Batch batch;
    batch.inputs = packed.tokens;
    batch.mask = packed.mask;
    batch.targets = pack_rows(targets, width, kPadToken).tokens;
    batch.target_mask = batch.targets.ne(kPadToken);
    return batch;
  }

 private:
  LengthRange lengths_;
  int64_t symbols_;
};

constexpr int64_t kCopy = 1;
constexpr int64_t kEnd = 2;
constexpr int64_t kBlank = 3;
constexpr int64_t kFirstContent = 4;  // content token j is kFirstContent + j

// The workbench's layout: an example with k content tokens and b blanks is
//   c1 .. ck  BLANK x b  COPY  c1 .. ck  END  PAD ...
// Targets are the next token at every position; only the positions whose next token is part of
// the answer (COPY up to the last copied token, whose next token is END) are scored.
class WorkbenchCopyPaste final : public GeneratedDataset {
 public:
  WorkbenchCopyPaste(const GeneratedShape& shape, int64_t content_vocab, int64_t blanks,
                     uint64_t seed)
      : GeneratedDataset(copy_task(sequence_length(shape.lengths.max_length, blanks),
                                   kFirstContent + content_vocab),
                         shape.sizes, seed),
        lengths_(shape.lengths),
        content_vocab_(content_vocab),
        blanks_(blanks) {}

 protected:
  Batch generate(std::vector<ExampleRng>& sources) const override {
    std::vector<std::vector<int64_t>> rows;
    std::vector<int64_t> contents;
    for (ExampleRng& rng : sources) {
      std::vector<int64_t> content = draw_symbols(rng, lengths_, content_vocab_);
      for (int64_t& token : content) token += kFirstContent;
      std::vector<int64_t> row = content;
      row.insert(row.end(), static_cast<size_t>(blanks_), kBlank);
      row.push_back(kCopy);
      row.insert(row.end(), content.begin(), content.end());
      row.push_back(kEnd);
      rows.push_back(std::move(row));
      contents.push_back(static_cast<int64_t>(content.size()));
    }
    PackedRows packed = pack_rows(rows, sequence_length(lengths_.max_length, blanks_), kPadToken);
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

  LengthRange lengths_;
  int64_t content_vocab_;
  int64_t blanks_;
};

// The plugin's parameters (copy_paste_params() declares each), with their defaults.
struct CopyPasteOptions {
  bool released = true;
  int64_t content_vocab = 10;
  int64_t blanks = 0;
  GeneratedOptions generated = generated_defaults(80000, 20000, 20000);
};

const ParamTable<CopyPasteOptions>& copy_paste_params() {
  using Options = CopyPasteOptions;
  static const ParamTable<Options> table =
      ParamTable<Options>()
          .add_choice("format", &Options::released,
                      "released: symbols 0 .. S-1, COPY S+1, EOS S+2, pad 0, lengths 20-40 by "
                      "default; workbench: pad 0, COPY 1, END 2, blank 3, content from 4, "
                      "lengths 1-20 by default",
                      format_choices())
          .add("content_vocab", &Options::content_vocab, "number of distinct content symbols S")
          .between(1, 100000)
          .add("blanks", &Options::blanks,
               "blank tokens between the content and the COPY token (workbench format only)")
          .between(0, 4096)
          .add_all(&Options::generated, generated_params());
  return table;
}

class CopyPastePlugin final : public DatasetPlugin {
 public:
  PluginInfo info() const override {
    return {kName, "1.1.0",
            "copy a random sequence after a COPY token; format 'released' (the authors' layout, "
            "position-aligned targets) or 'workbench' (next-token targets on the answer)",
            copy_paste_params().specs()};
  }

  std::shared_ptr<Dataset> open(const Params& params,
                                const DatasetContext& context) const override {
    const CopyPasteOptions options = copy_paste_params().read(params);
    const int64_t content_vocab = options.content_vocab;
    const int64_t blanks = options.blanks;
    if (!options.released) {
      return std::make_shared<WorkbenchCopyPaste>(
          generated_shape(options.generated, kName, kWorkbenchLengths), content_vocab, blanks,
          context.seed);
    }
    if (blanks != 0) {
      throw std::invalid_argument("dataset 'copy-paste': blanks = " + std::to_string(blanks) +
                                  " needs format = \"workbench\"; the released format has none");
    }
    return std::make_shared<ReleasedCopyPaste>(
        generated_shape(options.generated, kName, kReleasedLengths), content_vocab, context.seed);
  }
};

}  // namespace
}  // namespace guidance::datasets

GUIDANCE_PLUGIN_LIBRARY(registry) {
  registry.add(std::make_shared<guidance::datasets::CopyPastePlugin>());
}
