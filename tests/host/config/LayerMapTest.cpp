#include "host/common/Errors.h"
#include "host/training/LayerMap.h"
#include "tests/support/TestSupport.h"

namespace guidance {
namespace {

using ::testing::HasSubstr;

std::vector<TapSpec> taps(size_t count, const std::string& prefix) {
  std::vector<TapSpec> result;
  for (size_t i = 0; i < count; ++i) result.push_back({prefix + std::to_string(i), TapLayout::Flat});
  return result;
}

std::vector<size_t> targets_of(const std::vector<TapPair>& pairs) {
  std::vector<size_t> result;
  for (const auto& pair : pairs) result.push_back(pair.target_index);
  return result;
}

std::vector<size_t> guides_of(const std::vector<TapPair>& pairs) {
  std::vector<size_t> result;
  for (const auto& pair : pairs) result.push_back(pair.guide_index);
  return result;
}

TEST(LayerMap, AllPairsRuleKeepsEveryGuideTapWithPythonRounding) {
  // Guide tap i -> round(i (T-1)/(G-1)), Python's round: halves go to the even neighbour.
  // G = 5, T = 3: positions 0, 0.5, 1, 1.5, 2 -> 0, 0, 1, 2, 2.
  EXPECT_EQ(targets_of(uniform_layer_map(taps(5, "g"), taps(3, "t"), UniformMapRule::AllPairs)),
            (std::vector<size_t>{0, 0, 1, 2, 2}));
  // G = 3, T = 6: positions 0, 2.5, 5 -> 0, 2, 5.
  EXPECT_EQ(targets_of(uniform_layer_map(taps(3, "g"), taps(6, "t"), UniformMapRule::AllPairs)),
            (std::vector<size_t>{0, 2, 5}));
  // G = 1 maps to the target's last tap.
  EXPECT_EQ(targets_of(uniform_layer_map(taps(1, "g"), taps(4, "t"), UniformMapRule::AllPairs)),
            (std::vector<size_t>{3}));
  auto pairs = uniform_layer_map(taps(2, "g"), taps(2, "t"), UniformMapRule::AllPairs);
  EXPECT_EQ(pairs[1].label(), "guide.g1->target.t1");
}

TEST(LayerMap, ReleasedRuleKeepsOnlyTheLastGuideTapOfEachTargetTap) {
  // The released scores are a dict keyed by the target layer: G = 5, T = 3 lands guide taps
  // 0, 1 on target 0 and 3, 4 on target 2; guide taps 1 and 4 overwrite 0 and 3.
  auto pairs = uniform_layer_map(taps(5, "g"), taps(3, "t"));
  EXPECT_EQ(guides_of(pairs), (std::vector<size_t>{1, 2, 4}));
  EXPECT_EQ(targets_of(pairs), (std::vector<size_t>{0, 1, 2}));
  // The copy-paste pair (a 32-tap Transformer guiding a 4-layer RNN): i·3/31 rounds to the
  // target taps; the last guide tap of each is 5, 15, 25 and 31.
  pairs = uniform_layer_map(taps(32, "g"), taps(4, "t"));
  EXPECT_EQ(guides_of(pairs), (std::vector<size_t>{5, 15, 25, 31}));
  EXPECT_EQ(targets_of(pairs), (std::vector<size_t>{0, 1, 2, 3}));
  // G = 3, T = 6: 2.5 rounds to 2 (half to even), no target tap shared.
  EXPECT_EQ(targets_of(uniform_layer_map(taps(3, "g"), taps(6, "t"))),
            (std::vector<size_t>{0, 2, 5}));
  // A single guide tap goes to the FIRST target tap (the released step of 1 for G = 1).
  pairs = uniform_layer_map(taps(1, "g"), taps(4, "t"));
  EXPECT_EQ(targets_of(pairs), (std::vector<size_t>{0}));
  EXPECT_EQ(pairs[0].label(), "guide.g0->target.t0");
}

TEST(LayerMap, TheUniformMapRunsOverTheChosenTapSet) {
  // Module taps m0..m2 and block taps b0, b1 interleaved; "both" belongs to each set.
  std::vector<TapSpec> net = {module_tap("m0"), block_tap("b0"), module_tap("m1"),
                              block_tap("b1"), {"both", TapLayout::Flat}};
  GuidanceSection guidance;
  auto pairs = resolve_layer_map(guidance, net, net);
  EXPECT_EQ(guides_of(pairs), (std::vector<size_t>{0, 2, 4}));
  EXPECT_EQ(targets_of(pairs), (std::vector<size_t>{0, 2, 4}));
  guidance.tap_set = TapSet::Blocks;
  pairs = resolve_layer_map(guidance, net, net);
  EXPECT_EQ(guides_of(pairs), (std::vector<size_t>{1, 3, 4}));
  // Named taps replace the set, whatever set they belong to.
  guidance.guide_taps = {"m1", "b1"};
  pairs = resolve_layer_map(guidance, net, net);
  EXPECT_EQ(guides_of(pairs), (std::vector<size_t>{2, 3}));

  // A network without a tap in the set is refused at tap_set's location, not left unguided.
  GuidanceSection blocks;
  blocks.tap_set = TapSet::Blocks;
  blocks.tap_set_location = "c.toml:9:11";
  try {
    resolve_layer_map(blocks, net, {module_tap("only")});
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& error) {
    EXPECT_THAT(error.what(), HasSubstr("c.toml:9:11"));
    EXPECT_THAT(error.what(), HasSubstr("the target has no tap in the set 'blocks'"));
  }
}

TEST(LayerMap, ExplicitPairsResolveByNameAndUnknownNamesListTheTaps) {
  GuidanceSection guidance;
  guidance.layer_map = LayerMapKind::Explicit;
  guidance.layer_map_location = "c.toml:7:13";
  guidance.pairs = {{"g1", "t0"}};
  auto pairs = resolve_layer_map(guidance, taps(2, "g"), taps(2, "t"));
  ASSERT_EQ(pairs.size(), 1u);
  EXPECT_EQ(pairs[0].guide_index, 1u);
  EXPECT_EQ(pairs[0].target_index, 0u);

  guidance.pairs = {{"g1", "t7"}};
  try {
    resolve_layer_map(guidance, taps(2, "g"), taps(2, "t"));
    FAIL();
  } catch (const ConfigError& error) {
    EXPECT_THAT(error.what(), HasSubstr("c.toml:7:13"));
    EXPECT_THAT(error.what(), HasSubstr("the target has no tap 't7'"));
    EXPECT_THAT(error.what(), HasSubstr("its taps are 't0', 't1'"));
  }
}

}  // namespace
}  // namespace guidance
