// Behaviour specific to the token architectures (rnn, lstm, transformer): padding never leaks into
// real positions, and decoders are causal.
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
  auto tokens = torch::randint(0, kVocab, {kBatch, kLength}, torch::kLong);
  auto mask = torch::ones({kBatch, kLength}, torch::kBool);
  auto before = net->forward({tokens, mask}).taps.front();
  auto changed = tokens.clone();
  changed.index_put_({torch::indexing::Slice(), kLength - 1},
                     (tokens.select(1, kLength - 1) + 1) % kVocab);
  auto after = net->forward({changed, mask}).taps.front();
  EXPECT_FALSE(torch::allclose(before.select(1, 0), after.select(1, 0)));
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
