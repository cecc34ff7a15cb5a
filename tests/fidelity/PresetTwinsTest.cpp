// The paper's networks as the workbench builds them (plugins mlp, resnet, released-transformer,
// released-rnn) against their twins written in plain PyTorch with the authors' released
// structures (released_reference.py): with the twin's weights loaded by name, the same input
// gives the same logits and, tap by tap, the same module taps as the released extractor
// (FeatureMapExtractor) records; the parameter counts agree; and at the paper's sizes the
// module tap and parameter counts agree. make_fixtures.py (python3-torch) writes the twins'
// weights and outputs in the test run; forwards are in train mode (batch statistics), without
// dropout, without grad, in float32 (the Deep FCN in float64, see make_fixtures.py). Run: ctest --test-dir build -L fidelity.
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>

#include <torch/serialize.h>

#include "host/training/Checkpoint.h"
#include "tests/plugins/architecture/ArchitectureTestSupport.h"

namespace guidance::testing {
namespace {

/// The networks of make_fixtures.py's NETWORKS.
const std::vector<std::string> kNetworks = {
    "deep-fcn",   "wide-fcn",       "resnet18",   "resnet50",       "plain-resnet50", "cp-decoder",
    "cp-rnn",     "parity-encoder", "parity-rnn", "lm-transformer", "lm-rnn",         "lm-lstm"};

/// A plain dict saved by make_fixtures.py (N.expected.pt, N.weights.pt), read as LibTorch reads
/// a PyTorch state dict.
class SavedDict {
 public:
  explicit SavedDict(const std::string& path) : path_(path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                            std::istreambuf_iterator<char>());
    if (bytes.empty()) throw std::runtime_error("fixture '" + path + "' is missing or empty");
    value_ = torch::pickle_load(bytes);
  }

  bool has(const std::string& key) const { return dict().contains(key); }
  torch::Tensor tensor(const std::string& key) const { return at(key).toTensor(); }
  int64_t integer(const std::string& key) const { return at(key).toInt(); }
  std::string text(const std::string& key) const { return at(key).toStringRef(); }
  /// @return the words of a string entry (names separated by spaces).
  std::vector<std::string> words(const std::string& key) const {
    std::vector<std::string> words;
    std::istringstream in(text(key));
    for (std::string word; in >> word;) words.push_back(word);
    return words;
  }

  /// @return the plugin parameters stored under `key` (Python bool, int, float or str).
  std::map<std::string, ParamValue> params(const std::string& key) const {
    std::map<std::string, ParamValue> params;
    for (const auto& item : at(key).toGenericDict()) {
      const std::string name = item.key().toStringRef();
      const c10::IValue& value = item.value();
      if (value.isBool()) {
        params[name] = value.toBool();
      } else if (value.isInt()) {
        params[name] = value.toInt();
      } else if (value.isDouble()) {
        params[name] = value.toDouble();
      } else {
        params[name] = value.toStringRef();
      }
    }
    return params;
  }

  /// @return the task stored under `key`: {kind: "image", channels, side, outputs} or
  /// {kind: "tokens", name, vocab, length, outputs, target: "token" | "class", pad}.
  TaskSpec task(const std::string& key) const {
    c10::impl::GenericDict fields = at(key).toGenericDict();
    auto field = [&](const char* name) { return fields.at(name); };
    TaskSpec task;
    task.num_outputs = field("outputs").toInt();
    if (field("kind").toStringRef() == "image") {
      const int64_t side = field("side").toInt();
      task.name = "images";
      task.input_kind = InputKind::Image;
      task.input_shape = {field("channels").toInt(), side, side};
      task.target_kind = TargetKind::Class;
      return task;
    }
    task.name = field("name").toStringRef();
    task.input_kind = InputKind::Tokens;
    task.input_shape = {field("length").toInt()};
    task.vocab_size = field("vocab").toInt();
    task.pad_token = field("pad").toInt();
    const bool per_class = field("target").toStringRef() == "class";
    task.target_kind = per_class ? TargetKind::Class : TargetKind::TokenPerPosition;
    if (per_class && task.name == "parity") task.class_loss = ClassLoss::OneHotBinaryCrossEntropy;
    return task;
  }

 private:
  c10::impl::GenericDict dict() const { return value_.toGenericDict(); }
  c10::IValue at(const std::string& key) const {
    if (!has(key)) throw std::runtime_error("fixture '" + path_ + "' has no entry '" + key + "'");
    return dict().at(key);
  }

  std::string path_;
  c10::IValue value_;
};

/// @return the indices, in taps(), of the taps in the module set (the released extractor's).
std::vector<size_t> module_taps(const Network& network) {
  std::vector<size_t> indices;
  const std::vector<TapSpec> taps = network.taps();
  for (size_t i = 0; i < taps.size(); ++i) {
    if (taps[i].in(TapSet::Modules)) indices.push_back(i);
  }
  return indices;
}

std::map<std::string, torch::Tensor> named_buffers(const Network& network) {
  std::map<std::string, torch::Tensor> buffers;
  for (const auto& item : network.named_buffers()) buffers[item.key()] = item.value();
  return buffers;
}

int64_t parameter_count(const Network& network) {
  int64_t count = 0;
  for (const auto& parameter : network.parameters()) count += parameter.numel();
  return count;
}

/// Closeness relative to the expected tensor's scale (the released LM's layer norms have
/// scales near 0.02).
::testing::AssertionResult matches(const torch::Tensor& actual, const torch::Tensor& expected) {
  const double scale = expected.numel() == 0 ? 1.0 : expected.abs().max().item<double>();
  return tensors_close(actual, expected, 1e-4, 1e-5 * scale + 1e-7);
}

/// A Flat tap is compared as the released loss uses it, flattened to [B, -1] (the released
/// extractor keeps AdaptiveAvgPool2d's [B, C, 1, 1], the workbench declares [B, C]); a
/// Sequence tap shape for shape.
::testing::AssertionResult tap_matches(const TapSpec& spec, const torch::Tensor& actual,
                                       const torch::Tensor& expected) {
  if (spec.layout == TapLayout::Sequence) return matches(actual, expected);
  if (actual.dim() == 0 || actual.size(0) != expected.size(0)) {
    return ::testing::AssertionFailure()
           << "batch axes differ: " << actual.sizes() << " vs " << expected.sizes();
  }
  return matches(actual.reshape({actual.size(0), -1}), expected.reshape({expected.size(0), -1}));
}

std::string fixture_maker() {
  return "/usr/bin/python3 '" + source_directory() + "/tests/fidelity/make_fixtures.py'";
}

/// @return the fixture `file` of `network`, made by make_fixtures.py on first use in this
/// process (ctest runs each test in its own process, so each makes only what it needs).
std::string fixture(const std::string& network, const std::string& file) {
  static std::map<std::string, std::unique_ptr<TemporaryDirectory>> made;
  auto& directory = made[network];
  if (!directory) {
    directory = std::make_unique<TemporaryDirectory>();
    CommandResult result =
        run_command(fixture_maker() + " '" + directory->path() + "' '" + network + "'");
    if (result.exit_code != 0) {
      throw std::runtime_error("make_fixtures.py failed for " + network + ":\n" + result.err);
    }
  }
  return directory->file(network + "." + file);
}

class PresetTwins : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    torch::manual_seed(1234);
    torch::set_num_threads(1);
  }
};

TEST_P(PresetTwins, MatchesItsReleasedTwinTapByTap) {
  const std::string network = GetParam();
  const SavedDict expected(fixture(network, "expected.pt"));
  auto net = build(expected.text("plugin"), expected.task("task"), expected.params("params"));
  const std::string weights = fixture(network, "weights.pt");
  const std::map<std::string, torch::Tensor> buffers = named_buffers(*net);
  for (const std::string& constant : expected.words("constants")) {
    ASSERT_TRUE(buffers.count(constant)) << network << ": no buffer '" << constant << "'";
    EXPECT_TRUE(matches(buffers.at(constant), SavedDict(weights).tensor(constant)))
        << network << ": the computed constant '" << constant << "' differs from the twin's";
  }
  load_weights(*net, weights);
  if (expected.text("dtype") == "float64") net->to(torch::kDouble);
  net->train();
  NetworkInput input{expected.tensor("input"),
                     expected.has("mask") ? expected.tensor("mask") : torch::Tensor()};
  NetworkOutput out;
  {
    torch::NoGradGuard no_grad;
    out = net->forward(input);
  }
  const std::vector<TapSpec> specs = net->taps();
  ASSERT_EQ(out.taps.size(), specs.size()) << network << ": forward() and taps() disagree";

  const std::vector<size_t> modules = module_taps(*net);
  const int64_t count = expected.integer("tap_count");
  std::ostringstream both;
  for (size_t i = 0; i < modules.size(); ++i) both << " " << specs[modules[i]].name;
  both << "\n  released:";
  for (int64_t i = 0; i < count; ++i) both << " " << expected.text("tap_name." + std::to_string(i));
  ASSERT_EQ(static_cast<int64_t>(modules.size()), count)
      << network << ": module taps differ in number\n  workbench:" << both.str();

  for (size_t i = 0; i < modules.size(); ++i) {
    const std::string index = std::to_string(i);
    EXPECT_TRUE(
        tap_matches(specs[modules[i]], out.taps[modules[i]], expected.tensor("tap." + index)))
        << network << ": module tap " << i << " '" << specs[modules[i]].name
        << "' differs from the released extractor's '" << expected.text("tap_name." + index)
        << "'";
  }
  EXPECT_TRUE(matches(out.logits, expected.tensor("logits"))) << network << ": logits differ";
  EXPECT_EQ(parameter_count(*net), expected.integer("param_count"))
      << network << ": parameter count";
}

TEST_P(PresetTwins, HasTheReleasedCountsAtPaperSizes) {
  const std::string network = GetParam();
  const SavedDict expected(fixture(network, "expected.pt"));
  const std::string note = expected.text("paper_note");
  auto net = build(expected.text("plugin"), expected.task("paper_task"),
                   expected.params("paper_params"));
  EXPECT_EQ(static_cast<int64_t>(module_taps(*net).size()), expected.integer("paper_tap_count"))
      << network << " at paper sizes: module tap count. " << note;
  EXPECT_EQ(parameter_count(*net), expected.integer("paper_param_count"))
      << network << " at paper sizes: parameter count. " << note;
}

INSTANTIATE_TEST_SUITE_P(Presets, PresetTwins, ::testing::ValuesIn(kNetworks),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

// A network added to make_fixtures.py but not to kNetworks would go unchecked.
TEST(PresetTwinsFixtures, EveryNetworkOfTheFixtureMakerIsChecked) {
  CommandResult listed = run_command(fixture_maker() + " --list");
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  std::vector<std::string> names;
  std::istringstream lines(listed.out);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) names.push_back(line);
  }
  EXPECT_EQ(names, kNetworks);
}

}  // namespace
}  // namespace guidance::testing
