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

TEST(LayerMap, UniformMatchesPythonRoundingOfThePapersRule) {
  // Guide tap i -> round(i (T-1)/(G-1)), Python's round: halves go to the even neighbour.
  // G = 5, T = 3: positions 0, 0.5, 1, 1.5, 2 -> 0, 0, 1, 2, 2.
  EXPECT_EQ(targets_of(uniform_layer_map(taps(5, "g"), taps(3, "t"))),
            (std::vector<size_t>{0, 0, 1, 2, 2}));
  // G = 3, T = 6: positions 0, 2.5, 5 -> 0, 2, 5.
  EXPECT_EQ(targets_of(uniform_layer_map(taps(3, "g"), taps(6, "t"))),
            (std::vector<size_t>{0, 2, 5}));
  // G = 1 maps to the target's last tap.
  EXPECT_EQ(targets_of(uniform_layer_map(taps(1, "g"), taps(4, "t"))), (std::vector<size_t>{3}));
  auto pairs = uniform_layer_map(taps(2, "g"), taps(2, "t"));
  EXPECT_EQ(pairs[1].label(), "guide.g1->target.t1");
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
