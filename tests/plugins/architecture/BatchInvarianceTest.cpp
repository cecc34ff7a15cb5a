// A frozen network's forward pass (eval mode, no autograd, as a guide runs) gives an example the
// same logits and taps bit for bit whatever batch of the training batch size it sits in and at
// whatever row: the guide-tap cache relies on it to reproduce an uncached run exactly
// (plugins/architecture/common/Linear.h). Training batches all have one size (the remainder of an
// epoch is dropped); a batch of another size may pick another convolution kernel.
// The sizes are large enough that OpenBLAS's matmul would round a permuted batch's rows
// differently. The recurrent plugins (rnn, lstm, released-rnn) run LibTorch's fused cells on
// OpenBLAS and are not batch-invariant; docs/performance.md says what that means for a cached RNN
// guide.
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "host/training/Precision.h"
#include "tests/plugins/architecture/ArchitectureTestSupport.h"

namespace guidance::testing {
namespace {

struct InvarianceCase {
  std::string label;
  std::string plugin;
  TaskSpec task;
  std::map<std::string, ParamValue> overrides;
};

TaskSpec fashion_like_task() {
  TaskSpec task = image_task(28);
  task.input_shape = {1, 28, 28};
  task.num_outputs = 10;
  return task;
}

TaskSpec long_token_task(TargetKind kind) {
  TaskSpec task = token_task(kind);
  task.input_shape = {21};  // not a multiple of a matmul kernel's row block, so rows shift lanes
  return task;
}

constexpr int64_t kRows = 96;

NetworkInput batch_of(const TaskSpec& task) {
  if (task.input_kind == InputKind::Image) {
    std::vector<int64_t> shape{kRows};
    shape.insert(shape.end(), task.input_shape.begin(), task.input_shape.end());
    return {torch::randn(shape), {}};
  }
  const int64_t length = task.input_shape[0];
  auto lengths = torch::randint(1, length + 1, {kRows, 1}, torch::kLong);
  return {torch::randint(0, task.vocab_size, {kRows, length}, torch::kLong),
          torch::arange(length).unsqueeze(0).lt(lengths)};
}

NetworkInput rows(const NetworkInput& input, const torch::Tensor& index) {
  return {input.inputs.index_select(0, index),
          input.mask.defined() ? input.mask.index_select(0, index) : torch::Tensor()};
}

class BatchInvariance : public SeededTest, public ::testing::WithParamInterface<InvarianceCase> {};

/// Checks an example's outputs in a permuted batch and among other examples, in `precision`.
void expect_invariant(Network& net, const TaskSpec& task, Precision precision) {
  torch::NoGradGuard frozen;
  AutocastScope autocast(precision, torch::kCPU);
  const std::string in = precision == Precision::Float32 ? "float32" : "bf16 autocast";
  NetworkInput input = batch_of(task);
  auto permutation = torch::randperm(kRows, torch::kLong);
  NetworkOutput whole = net.forward(input);
  NetworkOutput permuted = net.forward(rows(input, permutation));
  NetworkInput others = batch_of(task);  // the first example among other ones
  others.inputs[0] = input.inputs[0];
  if (others.mask.defined()) others.mask[0] = input.mask[0];
  NetworkOutput among_others = net.forward(others);
  EXPECT_TRUE(torch::equal(whole.logits.index_select(0, permutation), permuted.logits)) << in;
  EXPECT_TRUE(torch::equal(whole.logits[0], among_others.logits[0])) << in;
  ASSERT_EQ(whole.taps.size(), net.taps().size());
  for (size_t i = 0; i < whole.taps.size(); ++i) {
    EXPECT_TRUE(torch::equal(whole.taps[i].index_select(0, permutation), permuted.taps[i]))
        << net.taps()[i].name << " differs for a permuted batch (" << in << ")";
    EXPECT_TRUE(torch::equal(whole.taps[i][0], among_others.taps[i][0]))
        << net.taps()[i].name << " differs for an example among other ones (" << in << ")";
  }
}

TEST_P(BatchInvariance, AFrozenForwardGivesAnExampleTheSameOutputsInAnyBatch) {
  const auto& c = GetParam();
  torch::set_num_threads(2);  // the row split between threads must not matter either
  auto net = build(c.plugin, c.task, c.overrides);
  EXPECT_TRUE(net->batch_invariant()) << c.plugin << " does not declare what it keeps";
  net->eval();
  expect_invariant(*net, c.task, Precision::Float32);
  // bf16 autocast runs oneDNN's bf16 kernels where the CPU has them (else the precision is
  // refused before a run starts, see PrecisionTest).
  if (device_has_bf16(torch::kCPU)) expect_invariant(*net, c.task, Precision::BFloat16Mixed);
}

// The recurrent plugins run LibTorch's fused cells on OpenBLAS: they must not declare it, or the
// guide-tap cache would turn itself on for them by default.
TEST(BatchInvariance, RecurrentNetworksDoNotDeclareIt) {
  for (const char* plugin : {"rnn", "lstm", "released-rnn"}) {
    auto net = build(plugin, long_token_task(TargetKind::TokenPerPosition), {});
    EXPECT_FALSE(net->batch_invariant()) << plugin;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Architectures, BatchInvariance,
    ::testing::Values(
        InvarianceCase{"mlp_batch_norm", "mlp", fashion_like_task(),
                       {{"depth", int64_t{3}}, {"width", int64_t{256}}, {"batch_norm", true}}},
        InvarianceCase{"convnet", "convnet", fashion_like_task(),
                       {{"channels", std::vector<int64_t>{16, 32}}}},
        InvarianceCase{"resnet", "resnet", fashion_like_task(),
                       {{"blocks", std::vector<int64_t>{1, 1}}, {"base_width", int64_t{16}}}},
        InvarianceCase{"vit", "vit", image_task(32), {{"width", int64_t{128}}}},
        InvarianceCase{"transformer_causal", "transformer",
                       long_token_task(TargetKind::TokenPerPosition), {{"width", int64_t{256}}}},
        InvarianceCase{"transformer_pooled", "transformer", long_token_task(TargetKind::Class),
                       {{"width", int64_t{256}}}},
        InvarianceCase{"released_decoder", "released-transformer",
                       long_token_task(TargetKind::TokenPerPosition),
                       {{"width", int64_t{128}}, {"layers", int64_t{2}}}},
        InvarianceCase{"released_encoder", "released-transformer",
                       long_token_task(TargetKind::Class),
                       {{"variant", std::string("encoder")}, {"width", int64_t{128}},
                        {"layers", int64_t{2}}}},
        InvarianceCase{"released_lm", "released-transformer",
                       long_token_task(TargetKind::TokenPerPosition),
                       {{"variant", std::string("lm")}, {"width", int64_t{128}},
                        {"layers", int64_t{2}}}}),
    [](const auto& info) { return info.param.label; });

}  // namespace
}  // namespace guidance::testing
