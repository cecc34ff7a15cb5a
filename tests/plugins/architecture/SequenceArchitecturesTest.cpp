// Behaviour specific to the token architectures (rnn, lstm, transformer): padding never leaks into
// real positions, decoders are causal, and which taps are in which tap set.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/plugins/architecture/ArchitectureTestSupport.h"

namespace guidance::testing {
namespace {

struct SequenceCase {
  std::string plugin;
  TargetKind target_kind;
};

std::string label(const SequenceCase& c) {
  return c.plugin + (c.target_kind == TargetKind::Class ? "_class" : "_per_position");
}

class SequenceArchitecture : public SeededTest,
                             public ::testing::WithParamInterface<SequenceCase> {
 protected:
  std::shared_ptr<Network> small_network() {
    const auto& c = GetParam();
    const bool transformer = c.plugin == "transformer";
    auto net = build(c.plugin, token_task(c.target_kind),
                     transformer ? std::map<std::string, ParamValue>{{"width", int64_t{8}}}
                                 : std::map<std::string, ParamValue>{{"hidden", int64_t{8}}});
    net->eval();
    return net;
  }
};

// Real positions of every tap, and the logits (all of them for Class, real positions for
// TokenPerPosition), are unchanged when the tokens under padding change.
TEST_P(SequenceArchitecture, PaddedTokensDoNotChangeRealPositions) {
  auto net = small_network();
  const TaskSpec task = token_task(GetParam().target_kind);
  auto input = random_input(task);
  auto changed = with_padding_changed(input, task.vocab_size);
  ASSERT_FALSE(torch::equal(input.inputs, changed.inputs));

  auto before = net->forward(input);
  auto after = net->forward(changed);
  auto real = input.mask;
  if (task.target_kind == TargetKind::Class) {
    EXPECT_TRUE(tensors_close(after.logits, before.logits, 1e-5, 1e-6));
  } else {
    EXPECT_TRUE(tensors_close(after.logits.index({real}), before.logits.index({real}), 1e-5,
                              1e-6));
  }
  for (std::size_t i = 0; i < before.taps.size(); ++i) {
    EXPECT_TRUE(tensors_close(after.taps[i].index({real}), before.taps[i].index({real}), 1e-5,
                              1e-6))
        << net->taps()[i].name;
  }
}

// The counterpart that shows the previous test can fail: a real token does change the logits.
TEST_P(SequenceArchitecture, RealTokensChangeTheLogits) {
  auto net = small_network();
  const TaskSpec task = token_task(GetParam().target_kind);
  auto input = random_input(task);
  auto changed = input.inputs.clone();
  changed.index_put_({torch::indexing::Slice(), 0}, (input.inputs.select(1, 0) + 1) % kVocab);
  auto before = net->forward(input).logits;
  auto after = net->forward({changed, input.mask}).logits;
  EXPECT_FALSE(torch::allclose(before, after));
}

INSTANTIATE_TEST_SUITE_P(Architectures, SequenceArchitecture,
                         ::testing::Values(SequenceCase{"rnn", TargetKind::Class},
                                           SequenceCase{"rnn", TargetKind::TokenPerPosition},
                                           SequenceCase{"lstm", TargetKind::Class},
                                           SequenceCase{"lstm", TargetKind::TokenPerPosition},
                                           SequenceCase{"transformer", TargetKind::Class},
                                           SequenceCase{"transformer",
                                                        TargetKind::TokenPerPosition}),
                         [](const auto& info) { return label(info.param); });

class Decoder : public SeededTest, public ::testing::WithParamInterface<std::string> {};

// Per-position outputs at t depend on tokens up to t only.
TEST_P(Decoder, OutputsAtEachPositionIgnoreLaterTokens) {
  const TaskSpec task = token_task(TargetKind::TokenPerPosition);
  auto net = build(GetParam(), task);
  net->eval();
  auto tokens = torch::randint(0, kVocab, {kBatch, kLength}, torch::kLong);
  auto mask = torch::ones({kBatch, kLength}, torch::kBool);
  auto before = net->forward({tokens, mask});
  const int64_t t = 2;
  auto changed = tokens.clone();
  auto later = torch::indexing::Slice(t + 1);
  changed.index_put_({torch::indexing::Slice(), later},
                     (tokens.index({torch::indexing::Slice(), later}) + 1) % kVocab);
  auto after = net->forward({changed, mask});

  auto upto = torch::indexing::Slice(0, t + 1);
  EXPECT_TRUE(tensors_close(after.logits.index({torch::indexing::Slice(), upto}),
                            before.logits.index({torch::indexing::Slice(), upto}), 1e-5, 1e-6));
  for (std::size_t i = 0; i < before.taps.size(); ++i) {
    EXPECT_TRUE(tensors_close(after.taps[i].index({torch::indexing::Slice(), upto}),
                              before.taps[i].index({torch::indexing::Slice(), upto}), 1e-5, 1e-6))
        << net->taps()[i].name;
  }
  EXPECT_FALSE(torch::allclose(after.logits.index({torch::indexing::Slice(), later}),
                               before.logits.index({torch::indexing::Slice(), later})));
}

INSTANTIATE_TEST_SUITE_P(Architectures, Decoder,
                         ::testing::Values("rnn", "lstm", "transformer"));

// For Class targets the transformer is an encoder: an early position sees later tokens.
TEST(TransformerEncoder, AttendsToLaterPositions) {
  torch::manual_seed(3);
  const TaskSpec task = token_task(TargetKind::Class);
  auto net = build("transformer", task);
  net->eval();
  ASSERT_EQ(net->taps()[2].name, "block1.attention");
  auto tokens = torch::randint(0, kVocab, {kBatch, kLength}, torch::kLong);
  auto mask = torch::ones({kBatch, kLength}, torch::kBool);
  auto before = net->forward({tokens, mask}).taps[2];
  auto changed = tokens.clone();
  changed.index_put_({torch::indexing::Slice(), kLength - 1},
                     (tokens.select(1, kLength - 1) + 1) % kVocab);
  auto after = net->forward({changed, mask}).taps[2];
  EXPECT_FALSE(torch::allclose(before.select(1, 0), after.select(1, 0)));
}

std::vector<std::string> taps_in(const Network& net, TapSet set) {
  std::vector<std::string> names;
  for (const auto& spec : net.taps()) {
    if (spec.in(set)) names.push_back(spec.name);
  }
  return names;
}

// Each recurrent layer's output sequence is both the RNN/LSTM module's output and the block's.
TEST(SequenceTapSets, RecurrentLayersAreInBothSets) {
  torch::manual_seed(1);
  for (const std::string plugin : {"rnn", "lstm"}) {
    auto net = build(plugin, token_task(TargetKind::Class), {{"layers", int64_t{3}}});
    const std::vector<std::string> layers{"layer1", "layer2", "layer3"};
    EXPECT_EQ(taps_in(*net, TapSet::Modules), layers) << plugin;
    EXPECT_EQ(taps_in(*net, TapSet::Blocks), layers) << plugin;
  }
}

// The block set is the sublayer outputs, as before tap sets; the module set is every LayerNorm
// and Linear output but the head's, in call order, the sublayer outputs (the attention's and the
// feed-forward's last Linear) named as their block taps.
TEST(SequenceTapSets, TransformerBlocksAndModules) {
  torch::manual_seed(1);
  auto net = build("transformer", token_task(TargetKind::TokenPerPosition));
  EXPECT_EQ(taps_in(*net, TapSet::Blocks),
            (std::vector<std::string>{"block1.attention", "block1.feed_forward",
                                      "block2.attention", "block2.feed_forward"}));
  std::vector<std::string> modules;
  for (const std::string block : {"block1", "block2"}) {
    for (const std::string tap : {".norm1", ".attention.qkv", ".attention", ".norm2",
                                  ".feed_forward.0", ".feed_forward"}) {
      modules.push_back(block + tap);
    }
  }
  modules.push_back("norm");
  EXPECT_EQ(taps_in(*net, TapSet::Modules), modules);
}

// The module taps are what the named modules compute.
TEST(SequenceTapSets, TransformerModuleTapsAreTheModulesOutputs) {
  torch::manual_seed(1);
  const TaskSpec task = token_task(TargetKind::TokenPerPosition);
  auto net = build("transformer", task, {{"depth", int64_t{1}}});
  net->eval();
  auto out = net->forward(random_input(task));
  auto modules = net->named_modules();
  auto tap = [&](const std::string& name) {
    const auto specs = net->taps();
    for (std::size_t i = 0; i < specs.size(); ++i) {
      if (specs[i].name == name) return out.taps[i];
    }
    ADD_FAILURE() << "no tap " << name;
    return torch::Tensor();
  };
  auto qkv = modules["block1.attention.qkv"]->as<torch::nn::LinearImpl>();
  auto hidden = modules["block1.feed_forward.0"]->as<torch::nn::LinearImpl>();
  EXPECT_TRUE(tensors_close(tap("block1.attention.qkv"), qkv->forward(tap("block1.norm1")),
                            1e-5, 1e-6));
  EXPECT_TRUE(tensors_close(tap("block1.feed_forward.0"), hidden->forward(tap("block1.norm2")),
                            1e-5, 1e-6));
  // The LayerNorms still have their initial unit scale and zero shift: zero-mean features.
  for (const std::string norm : {"block1.norm1", "block1.norm2", "norm"}) {
    EXPECT_LT(tap(norm).mean(-1).abs().max().item<double>(), 1e-5) << norm;
  }
}

TEST(Transformer, RefusesWidthNotDivisibleByHeads) {
  try {
    build("transformer", token_task(TargetKind::Class),
          {{"width", int64_t{10}}, {"heads", int64_t{4}}});
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& error) {
    EXPECT_STREQ(error.what(), "transformer: width 10 is not divisible by heads 4");
  }
}

TEST(Transformer, RefusesSequencesLongerThanTheTask) {
  torch::manual_seed(1);
  auto net = build("transformer", token_task(TargetKind::TokenPerPosition));
  auto tokens = torch::zeros({1, kLength + 1}, torch::kLong);
  auto mask = torch::ones({1, kLength + 1}, torch::kBool);
  EXPECT_THROW(net->forward({tokens, mask}), c10::Error);
}

TEST(RecurrentNetworks, RequireAMask) {
  torch::manual_seed(1);
  auto net = build("lstm", token_task(TargetKind::Class));
  EXPECT_THROW(net->forward({torch::zeros({1, kLength}, torch::kLong), {}}), c10::Error);
}

}  // namespace
}  // namespace guidance::testing
