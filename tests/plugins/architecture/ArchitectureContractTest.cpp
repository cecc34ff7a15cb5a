// The contract every architecture plugin keeps, checked on small instances of each: logits and
// tap shapes, tap names known before the first forward, seeded initialisation, gradients.
#include <algorithm>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/plugins/architecture/ArchitectureTestSupport.h"

namespace guidance::testing {
namespace {

struct ExpectedTap {
  std::string name;
  std::vector<int64_t> shape;
};

struct ContractCase {
  std::string label;
  std::string plugin;
  TaskSpec task;
  std::map<std::string, ParamValue> overrides;
  std::vector<int64_t> logits_shape;
  std::vector<ExpectedTap> taps;
};

const auto kClass = TargetKind::Class;
const auto kPerPosition = TargetKind::TokenPerPosition;
const std::vector<int64_t> kSeqOf8{kBatch, kLength, 8};

/// @return the lists one after another.
std::vector<ExpectedTap> joined(std::initializer_list<std::vector<ExpectedTap>> parts) {
  std::vector<ExpectedTap> all;
  for (const auto& part : parts) all.insert(all.end(), part.begin(), part.end());
  return all;
}

/// @return the taps of a `transformer`/`vit` block over `tokens` positions.
std::vector<ExpectedTap> block_taps(const std::string& block, int64_t tokens, int64_t width,
                                    int64_t hidden) {
  const std::vector<int64_t> stream{kBatch, tokens, width};
  return {{block + ".norm1", stream},
          {block + ".attention.qkv", {kBatch, tokens, 3 * width}},
          {block + ".attention", stream},
          {block + ".norm2", stream},
          {block + ".feed_forward.0", {kBatch, tokens, hidden}},
          {block + ".feed_forward", stream}};
}

/// @return the taps of application `k` of `released-transformer`'s shared decoder layer.
std::vector<ExpectedTap> decoder_application(int k, int64_t feed_forward) {
  const std::string at = "decoder." + std::to_string(k);
  return {{at + ".self_attn", kSeqOf8},      {at + ".norm1", kSeqOf8},
          {at + ".multihead_attn", kSeqOf8}, {at + ".norm2", kSeqOf8},
          {at + ".linear1", {kBatch, kLength, feed_forward}},
          {at + ".linear2", kSeqOf8},        {at + ".norm3", kSeqOf8},
          {at, kSeqOf8}};
}

/// @return the taps of application `k` of `released-transformer`'s shared encoder layer.
std::vector<ExpectedTap> encoder_application(int k, int64_t feed_forward) {
  const std::string at = "encoder." + std::to_string(k);
  return {{at + ".self_attn", kSeqOf8}, {at + ".norm1", kSeqOf8},
          {at + ".linear1", {kBatch, kLength, feed_forward}},
          {at + ".linear2", kSeqOf8}, {at + ".norm2", kSeqOf8}};
}

/// @return the taps of layer `i` of `released-transformer`'s language model.
std::vector<ExpectedTap> lm_layer(int i, int64_t feed_forward) {
  const std::string index = std::to_string(i);
  return {{"layer_norms_1." + index, kSeqOf8}, {"attentions." + index, kSeqOf8},
          {"layer_norms_2." + index, kSeqOf8},
          {"feed_forwards." + index + ".0", {kBatch, kLength, feed_forward}},
          {"feed_forwards." + index + ".2", kSeqOf8}};
}

std::vector<ContractCase> contract_cases() {
  return {
      {"mlp", "mlp", image_task(), {{"depth", int64_t{2}}, {"width", int64_t{16}}},
       {kBatch, 5},
       {{"layer1.linear", {kBatch, 16}}, {"layer1", {kBatch, 16}},
        {"layer2.linear", {kBatch, 16}}, {"layer2", {kBatch, 16}}}},
      {"mlp_batch_norm_dropout_gelu", "mlp", image_task(),
       {{"depth", int64_t{3}}, {"width", int64_t{8}}, {"batch_norm", true}, {"dropout", 0.2},
        {"activation", std::string("gelu")}},
       {kBatch, 5},
       {{"layer1.linear", {kBatch, 8}}, {"layer1", {kBatch, 8}}, {"layer2.linear", {kBatch, 8}},
        {"layer2", {kBatch, 8}}, {"layer3.linear", {kBatch, 8}}, {"layer3", {kBatch, 8}}}},
      {"convnet", "convnet", image_task(), {{"channels", std::vector<int64_t>{4, 8}}},
       {kBatch, 5},
       {{"block1.conv", {kBatch, 4, 8, 8}}, {"block1", {kBatch, 4, 8, 8}},
        {"block1.pool", {kBatch, 4, 4, 4}}, {"block2.conv", {kBatch, 8, 4, 4}},
        {"block2", {kBatch, 8, 4, 4}}, {"block2.pool", {kBatch, 8, 2, 2}}, {"pool", {kBatch, 8}}}},
      {"convnet_avg_pool_every_2", "convnet", image_task(),
       {{"channels", std::vector<int64_t>{4, 4, 6}}, {"pool", std::string("avg")},
        {"pool_every", int64_t{2}}, {"batch_norm", false}, {"kernel_size", int64_t{5}}},
       {kBatch, 5},
       {{"block1.conv", {kBatch, 4, 8, 8}}, {"block1", {kBatch, 4, 8, 8}},
        {"block2.conv", {kBatch, 4, 8, 8}}, {"block2", {kBatch, 4, 8, 8}},
        {"block2.pool", {kBatch, 4, 4, 4}}, {"block3.conv", {kBatch, 6, 4, 4}},
        {"block3", {kBatch, 6, 4, 4}}, {"pool", {kBatch, 6}}}},
      {"resnet_basic", "resnet", image_task(),
       {{"blocks", std::vector<int64_t>{1, 2}}, {"base_width", int64_t{4}}},
       {kBatch, 5},
       {{"conv1", {kBatch, 4, 8, 8}}, {"stem", {kBatch, 4, 8, 8}},
        {"layer1.0.conv1", {kBatch, 4, 8, 8}}, {"layer1.0.conv2", {kBatch, 4, 8, 8}},
        {"layer1.block1", {kBatch, 4, 8, 8}}, {"layer2.0.conv1", {kBatch, 8, 4, 4}},
        {"layer2.0.conv2", {kBatch, 8, 4, 4}}, {"layer2.0.downsample", {kBatch, 8, 4, 4}},
        {"layer2.block1", {kBatch, 8, 4, 4}}, {"layer2.1.conv1", {kBatch, 8, 4, 4}},
        {"layer2.1.conv2", {kBatch, 8, 4, 4}}, {"layer2.block2", {kBatch, 8, 4, 4}},
        {"avgpool", {kBatch, 8}}}},
      {"resnet_bottleneck_plain", "resnet", image_task(),
       {{"block", std::string("bottleneck")}, {"blocks", std::vector<int64_t>{1, 1}},
        {"base_width", int64_t{4}}, {"residual", false}},
       {kBatch, 5},
       {{"conv1", {kBatch, 4, 8, 8}}, {"stem", {kBatch, 4, 8, 8}},
        {"layer1.0.conv1", {kBatch, 4, 8, 8}}, {"layer1.0.conv2", {kBatch, 4, 8, 8}},
        {"layer1.0.conv3", {kBatch, 16, 8, 8}}, {"layer1.block1", {kBatch, 16, 8, 8}},
        {"layer2.0.conv1", {kBatch, 8, 8, 8}}, {"layer2.0.conv2", {kBatch, 8, 4, 4}},
        {"layer2.0.conv3", {kBatch, 32, 4, 4}}, {"layer2.block1", {kBatch, 32, 4, 4}},
        {"avgpool", {kBatch, 32}}}},
      {"resnet_imagenet_stem", "resnet", image_task(32),
       {{"blocks", std::vector<int64_t>{1}}, {"base_width", int64_t{4}},
        {"stem", std::string("imagenet")}},
       {kBatch, 5},
       {{"conv1", {kBatch, 4, 16, 16}}, {"stem", {kBatch, 4, 8, 8}},
        {"layer1.0.conv1", {kBatch, 4, 8, 8}}, {"layer1.0.conv2", {kBatch, 4, 8, 8}},
        {"layer1.block1", {kBatch, 4, 8, 8}}, {"avgpool", {kBatch, 4}}}},
      {"vit_cls", "vit", image_task(),
       {{"depth", int64_t{2}}, {"width", int64_t{8}}, {"heads", int64_t{2}}},
       {kBatch, 5},
       joined({{{"patches", {kBatch, 8, 2, 2}}}, block_taps("block1", 5, 8, 16),
               block_taps("block2", 5, 8, 16), {{"norm", {kBatch, 5, 8}}, {"pool", {kBatch, 8}}}})},
      {"vit_mean_patch2", "vit", image_task(),
       {{"depth", int64_t{1}}, {"width", int64_t{6}}, {"heads", int64_t{3}},
        {"patch_size", int64_t{2}}, {"pool", std::string("mean")}},
       {kBatch, 5},
       joined({{{"patches", {kBatch, 6, 4, 4}}}, block_taps("block1", 16, 6, 12),
               {{"norm", {kBatch, 16, 6}}, {"pool", {kBatch, 6}}}})},
      {"rnn_class", "rnn", token_task(kClass),
       {{"layers", int64_t{2}}, {"hidden", int64_t{8}}, {"embedding", int64_t{4}}},
       {kBatch, 2}, {{"layer1", kSeqOf8}, {"layer2", kSeqOf8}}},
      {"rnn_per_position", "rnn", token_task(kPerPosition),
       {{"layers", int64_t{3}}, {"hidden", int64_t{8}}, {"dropout", 0.3}},
       {kBatch, kLength, kVocab},
       {{"layer1", kSeqOf8}, {"layer2", kSeqOf8}, {"layer3", kSeqOf8}}},
      {"lstm_class", "lstm", token_task(kClass), {{"hidden", int64_t{8}}},
       {kBatch, 2}, {{"layer1", kSeqOf8}, {"layer2", kSeqOf8}}},
      {"lstm_per_position", "lstm", token_task(kPerPosition),
       {{"layers", int64_t{1}}, {"hidden", int64_t{8}}},
       {kBatch, kLength, kVocab}, {{"layer1", kSeqOf8}}},
      {"transformer_decoder", "transformer", token_task(kPerPosition),
       {{"depth", int64_t{2}}, {"width", int64_t{8}}},
       {kBatch, kLength, kVocab},
       joined({block_taps("block1", kLength, 8, 16), block_taps("block2", kLength, 8, 16),
               {{"norm", kSeqOf8}}})},
      {"transformer_encoder_sinusoidal", "transformer", token_task(kClass),
       {{"depth", int64_t{1}}, {"width", int64_t{8}}, {"heads", int64_t{4}},
        {"positions", std::string("sinusoidal")}, {"dropout", 0.1}},
       {kBatch, 2}, joined({block_taps("block1", kLength, 8, 16), {{"norm", kSeqOf8}}})},
      {"released_transformer_decoder", "released-transformer", token_task(kPerPosition),
       {{"width", int64_t{8}}, {"heads", int64_t{2}}, {"layers", int64_t{2}},
        {"feed_forward", int64_t{12}}},
       {kBatch, kLength, kVocab}, joined({decoder_application(0, 12), decoder_application(1, 12)})},
      {"released_transformer_encoder", "released-transformer", token_task(kClass),
       {{"variant", std::string("encoder")}, {"width", int64_t{8}}, {"heads", int64_t{4}},
        {"layers", int64_t{2}}, {"feed_forward", int64_t{12}}},
       {kBatch, 2}, joined({encoder_application(0, 12), encoder_application(1, 12)})},
      {"released_transformer_lm", "released-transformer", token_task(kPerPosition),
       {{"variant", std::string("lm")}, {"width", int64_t{8}}, {"heads", int64_t{2}},
        {"layers", int64_t{2}}, {"feed_forward", int64_t{12}}, {"dropout", 0.0}},
       {kBatch, kLength, kVocab}, joined({lm_layer(0, 12), lm_layer(1, 12)})},
      {"released_rnn_lm", "released-rnn", token_task(kPerPosition),
       {{"embedding", int64_t{4}}, {"hidden", int64_t{8}}, {"layers", int64_t{3}}},
       {kBatch, kLength, kVocab}, {{"rnn.0", kSeqOf8}, {"rnn.1", kSeqOf8}, {"rnn.2", kSeqOf8}}},
      {"released_rnn_lm_lstm", "released-rnn", token_task(kPerPosition),
       {{"cell", std::string("lstm")}, {"embedding", int64_t{4}}, {"hidden", int64_t{8}},
        {"layers", int64_t{2}}},
       {kBatch, kLength, kVocab}, {{"rnn.0", kSeqOf8}, {"rnn.1", kSeqOf8}}},
      {"released_rnn_parity", "released-rnn", token_task(kClass),
       {{"variant", std::string("parity")}, {"hidden", int64_t{8}}, {"layers", int64_t{2}}},
       {kBatch, 2}, {{"lstm", kSeqOf8}}},
      {"released_rnn_parity_lstm", "released-rnn", token_task(kClass),
       {{"variant", std::string("parity")}, {"cell", std::string("lstm")},
        {"hidden", int64_t{8}}, {"layers", int64_t{1}}},
       {kBatch, 2}, {{"lstm", kSeqOf8}}},
  };
}

class ArchitectureContract : public SeededTest,
                             public ::testing::WithParamInterface<ContractCase> {};

TEST_P(ArchitectureContract, TapsAreDeclaredBeforeForwardWithTheTaskLayout) {
  const auto& c = GetParam();
  auto net = build(c.plugin, c.task, c.overrides);
  const TapLayout layout =
      c.task.input_kind == InputKind::Image ? TapLayout::Flat : TapLayout::Sequence;
  auto specs = net->taps();
  ASSERT_EQ(specs.size(), c.taps.size());
  for (std::size_t i = 0; i < specs.size(); ++i) {
    EXPECT_EQ(specs[i].name, c.taps[i].name) << "tap " << i;
    EXPECT_EQ(specs[i].layout, layout) << specs[i].name;
  }
}

TEST_P(ArchitectureContract, ForwardReturnsLogitsAndEveryTapInOrder) {
  const auto& c = GetParam();
  auto net = build(c.plugin, c.task, c.overrides);
  net->eval();
  auto out = net->forward(random_input(c.task));
  EXPECT_EQ(out.logits.sizes(), c10::IntArrayRef(c.logits_shape));
  EXPECT_TRUE(torch::isfinite(out.logits).all().item<bool>());
  ASSERT_EQ(out.taps.size(), c.taps.size());
  for (std::size_t i = 0; i < c.taps.size(); ++i) {
    EXPECT_EQ(out.taps[i].sizes(), c10::IntArrayRef(c.taps[i].shape)) << c.taps[i].name;
    EXPECT_TRUE(torch::isfinite(out.taps[i]).all().item<bool>()) << c.taps[i].name;
  }
}

TEST_P(ArchitectureContract, SameSeedBuildsTheSameNetwork) {
  const auto& c = GetParam();
  torch::manual_seed(7);
  auto first = build(c.plugin, c.task, c.overrides);
  torch::manual_seed(7);
  auto second = build(c.plugin, c.task, c.overrides);
  torch::manual_seed(8);
  auto third = build(c.plugin, c.task, c.overrides);

  auto a = first->named_parameters();
  auto b = second->named_parameters();
  auto other = third->named_parameters();
  ASSERT_EQ(a.keys(), b.keys());
  bool any_differs = false;
  for (const auto& item : a) {
    EXPECT_TRUE(torch::equal(item.value(), b[item.key()])) << item.key();
    any_differs = any_differs || !torch::equal(item.value(), other[item.key()]);
  }
  EXPECT_TRUE(any_differs) << "another seed should give other parameters";

  first->eval();
  second->eval();
  auto input = random_input(c.task);
  EXPECT_TRUE(torch::equal(first->forward(input).logits, second->forward(input).logits));
}

TEST_P(ArchitectureContract, GradientsReachEveryParameter) {
  const auto& c = GetParam();
  auto net = build(c.plugin, c.task, c.overrides);
  auto out = net->forward(random_input(c.task));
  auto loss = out.logits.square().mean();
  for (const auto& tap : out.taps) loss = loss + tap.square().mean();
  loss.backward();
  for (const auto& item : net->named_parameters()) {
    ASSERT_TRUE(item.value().grad().defined()) << item.key();
    EXPECT_TRUE(torch::isfinite(item.value().grad()).all().item<bool>()) << item.key();
  }
  auto first = net->parameters().front();
  EXPECT_GT(first.grad().abs().sum().item<double>(), 0.0);
}

INSTANTIATE_TEST_SUITE_P(Architectures, ArchitectureContract,
                         ::testing::ValuesIn(contract_cases()),
                         [](const auto& info) { return info.param.label; });

class ArchitectureDefaults : public SeededTest,
                             public ::testing::WithParamInterface<std::string> {};

// The defaults must stay small: they build and run a CIFAR-sized batch on a CPU quickly. Each
// plugin runs on every kind of task it accepts; a refused task is an std::invalid_argument.
TEST_P(ArchitectureDefaults, BuildAndRunOnTheirKindOfTask) {
  const std::string& plugin = GetParam();
  auto info = built_plugins().architecture(plugin)->info();
  EXPECT_EQ(info.name, plugin);
  EXPECT_TRUE(std::regex_match(info.version, std::regex(R"(\d+\.\d+\.\d+)"))) << info.version;
  int accepted = 0;
  for (const TaskSpec& task : {image_task(32), token_task(TargetKind::Class),
                               token_task(TargetKind::TokenPerPosition)}) {
    SCOPED_TRACE(task.name + (task.target_kind == TargetKind::Class ? " (class)" : " (tokens)"));
    std::shared_ptr<Network> net;
    try {
      net = build(plugin, task);
    } catch (const std::invalid_argument&) {
      continue;
    }
    ++accepted;
    auto out = net->forward(random_input(task));
    EXPECT_EQ(out.logits.size(0), kBatch);
    EXPECT_EQ(out.logits.size(-1), task.num_outputs);
    EXPECT_EQ(out.taps.size(), net->taps().size());
  }
  EXPECT_GT(accepted, 0) << plugin << " builds for none of the test tasks";
}

/// @return the built architectures that build from their defaults alone (`torchscript` needs a
/// file: tests/host/contract checks it, with a file it makes, as it checks every plugin).
std::vector<std::string> self_contained_architectures() {
  std::vector<std::string> names;
  for (const auto& name : built_plugins().names(PluginKind::Architecture)) {
    const auto params = built_plugins().architecture(name)->info().params;
    if (std::none_of(params.begin(), params.end(), [](const ParamSpec& spec) { return spec.required; })) {
      names.push_back(name);
    }
  }
  return names;
}

INSTANTIATE_TEST_SUITE_P(Architectures, ArchitectureDefaults,
                         ::testing::ValuesIn(self_contained_architectures()));

// The shapes above are checked case by case; a plugin without a case would escape them.
TEST(ArchitectureContractCases, CoverEveryBuiltArchitecture) {
  for (const auto& name : self_contained_architectures()) {
    bool covered = false;
    for (const auto& contract : contract_cases()) covered = covered || contract.plugin == name;
    EXPECT_TRUE(covered) << "architecture plugin '" << name << "' has no case in contract_cases()";
  }
}

}  // namespace
}  // namespace guidance::testing
