#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "guidance/api/ParamTable.h"
#include "guidance/api/PluginApi.h"
#include "plugins/dataset/common/DatasetSupport.h"
#include "plugins/dataset/common/TokenRows.h"

namespace guidance::datasets {
namespace {

constexpr const char* kName = "text";
constexpr int64_t kUnknown = 1;
constexpr int64_t kFirstWord = 2;

// Characters are UTF-8 code points; a byte that does not start a well-formed sequence is a
// character of its own, so any file tokenises.
std::vector<std::string> characters(const std::string& text) {
  std::vector<std::string> tokens;
  size_t at = 0;
  while (at < text.size()) {
    const auto lead = static_cast<unsigned char>(text[at]);
    size_t length = lead < 0x80           ? 1
                    : (lead >> 5) == 0x6  ? 2
                    : (lead >> 4) == 0xE  ? 3
                    : (lead >> 3) == 0x1E ? 4
                                          : 1;
    if (at + length > text.size()) length = 1;
    for (size_t k = 1; k < length; ++k) {
      if ((static_cast<unsigned char>(text[at + k]) >> 6) != 0x2) length = 1;
    }
    tokens.push_back(text.substr(at, length));
    at += length;
  }
  return tokens;
}

// Word tokens as the first stage of the released tokenizer (BERT's basic tokenizer, cased) cuts
// them: whitespace separates words, each ASCII punctuation character is a token of its own, and
// every line end is a token (the released code writes [SEP] there). A whole word "<unk>",
// WikiText's own marker, is the unknown token, as the released code maps it to [UNK]. Neither
// marker can arise otherwise, since '<' and '>' are punctuation.
constexpr const char* kUnknownMarker = "<unk>";
constexpr const char* kLineEnd = "<eol>";

std::vector<std::string> words(const std::string& text) {
  std::vector<std::string> tokens;
  std::string word;
  auto end_word = [&] {
    if (word == kUnknownMarker) {
      tokens.push_back(kUnknownMarker);
    } else {
      std::string piece;
      for (char c : word) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x80 && std::ispunct(byte)) {
          if (!piece.empty()) tokens.push_back(std::move(piece));
          piece.clear();
          tokens.emplace_back(1, c);
        } else {
          piece += c;
        }
      }
      if (!piece.empty()) tokens.push_back(std::move(piece));
    }
    word.clear();
  };
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      end_word();
      if (c == '\n') tokens.push_back(kLineEnd);
    } else {
      word += c;
    }
  }
  end_word();
  return tokens;
}

// The corpus `path` names: a file's text, or a folder's files in name order, each ending a line
// so that no word runs from one into the next. A file named by several links (fortune's `.u8`
// links) is read once; a binary file (one holding a NUL byte, such as fortune's `.dat` indexes)
// is skipped.
std::string read_corpus(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code error;
  if (!fs::is_directory(path, error)) return open_param_file("path", path).read_all();
  std::vector<fs::path> files;
  for (fs::directory_iterator entry(path, error), end; !error && entry != end;
       entry.increment(error)) {
    if (entry->is_regular_file()) files.push_back(entry->path());
  }
  if (error) {
    throw ParamError("path", path + ": the folder cannot be listed (" + error.message() + ")");
  }
  std::sort(files.begin(), files.end());
  std::set<fs::path> read;
  std::string corpus;
  for (const auto& file : files) {
    if (!read.insert(fs::canonical(file)).second) continue;
    std::string text = open_param_file("path", file.string()).read_all();
    if (text.find('\0') != std::string::npos) continue;
    corpus += text;
    if (!text.empty() && text.back() != '\n') corpus += '\n';
  }
  if (corpus.empty()) {
    throw ParamError("path", path + ": the folder holds no text (binary files are skipped)");
  }
  return corpus;
}

// Ids by decreasing frequency in the training portion, ties in byte order, so the vocabulary
// does not depend on where in the file a token first appears.
std::unordered_map<std::string, int64_t> build_vocabulary(const std::vector<std::string>& train,
                                                          int64_t min_count, int64_t limit) {
  std::map<std::string, int64_t> counts;
  for (const auto& token : train) ++counts[token];
  counts.erase(kUnknownMarker);
  std::vector<std::pair<std::string, int64_t>> kept;
  for (const auto& [token, count] : counts) {
    if (count >= min_count) kept.emplace_back(token, count);
  }
  std::stable_sort(kept.begin(), kept.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  if (limit > 0 && static_cast<int64_t>(kept.size()) > limit) kept.resize(static_cast<size_t>(limit));
  std::unordered_map<std::string, int64_t> ids;
  for (const auto& entry : kept) {
    ids.emplace(entry.first, kFirstWord + static_cast<int64_t>(ids.size()));
  }
  return ids;
}

// Example w of a portion is the window of tokens starting at w * stride. Released format: only
// whole windows of `context` tokens, whose position t predicts token t + 1 of the same window
// (the last position predicts nothing), as the released code cuts its token stream. Workbench
// format: `context` inputs each predicting the token after it, windows continuing until one
// reaches the portion's last token, the last possibly shorter and padded.
class TextDataset final : public Dataset {
 public:
  TextDataset(TaskSpec task, std::array<std::vector<int64_t>, 3> portions, int64_t context,
              int64_t stride, bool whole_windows)
      : task_(std::move(task)),
        portions_(std::move(portions)),
        context_(context),
        stride_(stride),
        whole_windows_(whole_windows) {}

  const TaskSpec& task() const override { return task_; }

  int64_t size(Split split) const override {
    const auto tokens = static_cast<int64_t>(of(split).size());
    if (whole_windows_) return tokens < context_ ? 0 : 1 + (tokens - context_) / stride_;
    if (tokens < 2) return 0;
    if (tokens - 1 <= context_) return 1;
    return 1 + (tokens - 1 - context_ + stride_ - 1) / stride_;
  }

  Batch batch(Split split, const torch::Tensor& indices) const override {
    const std::vector<int64_t>& ids = of(split);
    std::vector<std::vector<int64_t>> inputs;
    std::vector<std::vector<int64_t>> targets;
    for (int64_t window : checked_indices(indices, size(split), split, task_.name)) {
      const int64_t start = window * stride_;
      const int64_t length =
          whole_windows_ ? context_
                         : std::min(context_, static_cast<int64_t>(ids.size()) - 1 - start);
      const int64_t predicted = whole_windows_ ? context_ - 1 : length;
      const auto first = ids.begin() + start;
      inputs.emplace_back(first, first + length);
      targets.emplace_back(first + 1, first + 1 + predicted);
    }
    PackedRows packed_inputs = pack_rows(inputs, context_, kPadToken);
    PackedRows packed_targets = pack_rows(targets, context_, kPadToken);
    Batch batch;
    batch.inputs = packed_inputs.tokens;
    batch.mask = packed_inputs.mask;
    batch.targets = packed_targets.tokens;
    batch.target_mask = packed_targets.mask;
    return batch;
  }

 private:
  const std::vector<int64_t>& of(Split split) const {
    return portions_[static_cast<size_t>(split)];
  }

  TaskSpec task_;
  std::array<std::vector<int64_t>, 3> portions_;
  int64_t context_;
  int64_t stride_;
  bool whole_windows_;
};

// The plugin's parameters (text_params() declares each), with their defaults.
struct TextOptions {
  std::string path;
  bool words = true;
  bool released = true;
  int64_t context = 256;
  int64_t stride = 0;  // 0: context
  int64_t vocab_size = 0;
  int64_t min_count = 1;
  double validation_fraction = 0.1;
  double test_fraction = 0.1;
};

const ParamTable<TextOptions>& text_params() {
  static const ParamTable<TextOptions> table =
      ParamTable<TextOptions>()
          .add("path", &TextOptions::path,
               "the UTF-8 text file, or a folder whose files, in name order, make the text "
               "(each read once however many links name it; binary files skipped)")
          .mandatory()
          .add_choice("unit", &TextOptions::words,
                      "word: whitespace-separated words, ASCII punctuation and line ends as "
                      "tokens of their own; character: UTF-8 code points",
                      {{"word", true}, {"character", false}})
          .add_choice("format", &TextOptions::released,
                      "released: whole windows of `context` tokens, position t predicting token "
                      "t + 1 of the window; workbench: every window position predicts the token "
                      "after it, the last window padded",
                      format_choices())
          .add("context", &TextOptions::context, "tokens per example window")
          .between(2, 65536)
          .add("stride", &TextOptions::stride, "tokens between window starts; 0 = context")
          .at_least(0)
          .add("vocab_size", &TextOptions::vocab_size,
               "keep the vocab_size most frequent training tokens, the rest become <unk>; 0 = "
               "all (pad and <unk> come on top)")
          .at_least(0)
          .add("min_count", &TextOptions::min_count,
               "tokens seen fewer times in the training portion become <unk>")
          .at_least(1)
          .add("validation_fraction", &TextOptions::validation_fraction,
               "share of the tokens, after the training portion, for validation")
          .between(0, 1)
          .add("test_fraction", &TextOptions::test_fraction,
               "share of the tokens, at the end, for test")
          .between(0, 1);
  return table;
}

class TextPlugin final : public DatasetPlugin {
 public:
  PluginInfo info() const override {
    return {kName, "1.2.0",
            "next-token language modelling over a local text file, by words or characters",
            text_params().specs()};
  }

  std::shared_ptr<Dataset> open(const Params& params,
                                const DatasetContext& context) const override {
    const TextOptions options = text_params().read(params);
    const std::string path = resolve_path(context, options.path);
    const double validation_fraction = options.validation_fraction;
    const double test_fraction = options.test_fraction;
    if (validation_fraction + test_fraction >= 1) {
      throw std::invalid_argument(
          "dataset 'text': validation_fraction + test_fraction must be "
          "below 1 so that some text is left for training");
    }
    const std::string content = read_corpus(path);
    if (content.empty()) throw std::runtime_error(path + ": the file is empty");
    const std::vector<std::string> tokens =
        options.words ? words(content) : characters(content);
    const auto total = static_cast<int64_t>(tokens.size());
    const auto validation_count = static_cast<int64_t>(std::floor(total * validation_fraction));
    const auto test_count = static_cast<int64_t>(std::floor(total * test_fraction));
    const int64_t train_count = total - validation_count - test_count;
    const int64_t window = options.context;
    const bool whole_windows = options.released;
    const int64_t needed = whole_windows ? window : 2;
    if (train_count < needed) {
      throw std::runtime_error(path + ": too short: " + std::to_string(total) + " tokens leave " +
                               std::to_string(train_count) + " for training, at least " +
                               std::to_string(needed) + " are needed" +
                               (whole_windows ? " (one window of `context` tokens)" : ""));
    }
    const std::vector<std::string> train(tokens.begin(), tokens.begin() + train_count);
    const auto vocabulary =
        build_vocabulary(train, options.min_count, options.vocab_size);
    std::array<std::vector<int64_t>, 3> portions;
    for (int64_t t = 0; t < total; ++t) {
      const size_t portion = t < train_count ? 0 : t < train_count + validation_count ? 1 : 2;
      auto found = vocabulary.find(tokens[static_cast<size_t>(t)]);
      portions[portion].push_back(found == vocabulary.end() ? kUnknown : found->second);
    }
    const int64_t stride = options.stride == 0 ? window : options.stride;
    const int64_t vocab_size = kFirstWord + static_cast<int64_t>(vocabulary.size());
    return std::make_shared<TextDataset>(
        token_task(kName, window, vocab_size, TargetKind::TokenPerPosition, vocab_size,
                   {measures::kPerplexity, measures::kTokenAccuracy}),
        std::move(portions), window, stride, whole_windows);
  }
};

}  // namespace
}  // namespace guidance::datasets

GUIDANCE_PLUGIN_LIBRARY(registry) {
  registry.add(std::make_shared<guidance::datasets::TextPlugin>());
}
