// Behaviour specific to the image architectures, and the refusals of every architecture.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/plugins/architecture/ArchitectureTestSupport.h"

namespace guidance::testing {
namespace {

std::vector<std::string> tap_names(const Network& net) {
  std::vector<std::string> names;
  for (const auto& spec : net.taps()) names.push_back(spec.name);
  return names;
}

// The invalid_argument message of building `plugin` for `task`, or "" if it builds.
std::string build_error(const std::string& plugin, const TaskSpec& task,
                        const std::map<std::string, ParamValue>& overrides = {}) {
  try {
    build(plugin, task, overrides);
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  return "";
}

class ResnetResidual : public SeededTest, public ::testing::WithParamInterface<std::string> {};

// Without residual connections the network has no shortcut projections and computes another
// function; the taps keep their names, and the stem (built first from the same seed) its values.
TEST_P(ResnetResidual, SwitchRemovesTheShortcuts) {
  const std::map<std::string, ParamValue> sizes{{"block", GetParam()},
                                                {"blocks", std::vector<int64_t>{1, 1}},
                                                {"base_width", int64_t{4}}};
  auto with_overrides = [&](bool residual) {
    auto overrides = sizes;
    overrides["residual"] = residual;
    torch::manual_seed(11);
    auto net = build("resnet", image_task(), overrides);
    net->eval();
    return net;
  };
  auto residual = with_overrides(true);
  auto plain = with_overrides(false);
  EXPECT_EQ(tap_names(*residual), tap_names(*plain));

  auto count_shortcuts = [](const Network& net) {
    int count = 0;
    for (const auto& item : net.named_parameters()) {
      count += item.key().find("shortcut") != std::string::npos;
    }
    return count;
  };
  EXPECT_GT(count_shortcuts(*residual), 0);
  EXPECT_EQ(count_shortcuts(*plain), 0);

  auto input = random_input(image_task());
  auto a = residual->forward(input);
  auto b = plain->forward(input);
  EXPECT_TRUE(torch::equal(a.taps.front(), b.taps.front())) << "the stems agree";
  EXPECT_FALSE(torch::allclose(a.logits, b.logits));
  EXPECT_FALSE(torch::allclose(a.taps[1], b.taps[1]));
}

INSTANTIATE_TEST_SUITE_P(Architectures, ResnetResidual, ::testing::Values("basic", "bottleneck"));

TEST(Resnet, PresetsFixBlocksPerStage) {
  torch::manual_seed(5);
  auto resnet18 = build("resnet", image_task(),
                        {{"preset", std::string("resnet18")}, {"base_width", int64_t{2}}});
  std::vector<std::string> expected{"stem"};
  for (int stage = 1; stage <= 4; ++stage) {
    for (int block = 1; block <= 2; ++block) {
      expected.push_back("layer" + std::to_string(stage) + ".block" + std::to_string(block));
    }
  }
  expected.push_back("pool");
  EXPECT_EQ(tap_names(*resnet18), expected);

  auto resnet50 = build("resnet", image_task(),
                        {{"preset", std::string("resnet50")}, {"base_width", int64_t{2}}});
  EXPECT_EQ(resnet50->taps().size(), 1u + 3 + 4 + 6 + 3 + 1);
  auto out = resnet50->forward(random_input(image_task()));
  EXPECT_EQ(out.taps.back().sizes(), c10::IntArrayRef({kBatch, 2 * 8 * 4}))
      << "bottleneck blocks expand the last stage's width 4x";
}

TEST(Resnet, RefusesEmptyCustomBlocks) {
  EXPECT_EQ(build_error("resnet", image_task(), {{"blocks", std::vector<int64_t>{}}}),
            "resnet: blocks must list at least one stage for preset \"custom\"");
}

TEST(Convnet, RefusesPoolingBelowOnePixel) {
  EXPECT_EQ(build_error("convnet", image_task(), {{"channels", std::vector<int64_t>{2, 2, 2, 2}}}),
            "convnet: pooling after block 4 would shrink its 1x1 feature map of task "
            "'tiny-images' to nothing; raise pool_every, use fewer channels entries or set "
            "pool = \"none\"");
  EXPECT_EQ(build_error("convnet", image_task(),
                        {{"channels", std::vector<int64_t>{2, 2, 2, 2}},
                         {"pool", std::string("none")}}),
            "");
}

TEST(Convnet, RefusesEvenKernels) {
  EXPECT_EQ(build_error("convnet", image_task(), {{"kernel_size", int64_t{4}}}),
            "convnet: kernel_size must be odd, got 4");
}

TEST(Vit, RefusesPatchesThatDoNotTileTheImage) {
  EXPECT_EQ(build_error("vit", image_task(), {{"patch_size", int64_t{3}}}),
            "vit: patch_size 3 does not divide the 8x8 images of task 'tiny-images'");
  EXPECT_EQ(build_error("vit", image_task(), {{"width", int64_t{9}}, {"heads", int64_t{2}}}),
            "vit: width 9 is not divisible by heads 2");
}

TEST(Mlp, BatchNormAddsNormalisationPerLayer) {
  torch::manual_seed(2);
  auto net = build("mlp", image_task(), {{"depth", int64_t{2}}, {"batch_norm", true}});
  auto params = net->named_parameters();
  EXPECT_TRUE(params.contains("layer1.norm.weight"));
  EXPECT_TRUE(params.contains("layer2.norm.weight"));
  auto plain = build("mlp", image_task(), {{"depth", int64_t{2}}});
  EXPECT_FALSE(plain->named_parameters().contains("layer1.norm.weight"));
}

TEST(Architectures, RefuseTheOtherInputKindNamingPluginAndTask) {
  for (const std::string plugin : {"mlp", "convnet", "resnet", "vit"}) {
    EXPECT_EQ(build_error(plugin, token_task(TargetKind::Class)),
              plugin + " needs image inputs, but task 'parity' has token inputs");
  }
  for (const std::string plugin : {"rnn", "lstm", "transformer"}) {
    EXPECT_EQ(build_error(plugin, image_task()),
              plugin + " needs token inputs, but task 'tiny-images' has image inputs");
  }
}

TEST(Architectures, RefuseTasksWithoutOutputs) {
  TaskSpec task = image_task();
  task.num_outputs = 0;
  EXPECT_EQ(build_error("mlp", task),
            "mlp needs a positive num_outputs, but task 'tiny-images' declares 0");
}

TEST(Architectures, ImageNetworksCheckTheImageShape) {
  torch::manual_seed(1);
  auto net = build("convnet", image_task());
  EXPECT_THROW(net->forward({torch::randn({2, 3, 9, 9}), {}}), c10::Error);
}

}  // namespace
}  // namespace guidance::testing
