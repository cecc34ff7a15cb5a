// Behaviour specific to the image architectures, and the refusals of every architecture.
#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "tests/plugins/architecture/ArchitectureTestSupport.h"

namespace guidance::testing {
namespace {

namespace F = torch::nn::functional;

constexpr unsigned kModule = tap_set_bit(TapSet::Modules);
constexpr unsigned kBlock = tap_set_bit(TapSet::Blocks);
constexpr unsigned kBoth = kEveryTapSet;

// The names of the taps in `set`, in taps() order.
std::vector<std::string> names_in(const Network& net, TapSet set) {
  std::vector<std::string> names;
  for (const auto& spec : net.taps()) {
    if (spec.in(set)) names.push_back(spec.name);
  }
  return names;
}

struct ExpectedTap {
  std::string name;
  unsigned sets;
  std::vector<int64_t> shape;
};

// Checks the declared taps (names, order, sets, layout) and the shapes a forward pass returns.
void expect_taps(Network& net, const TaskSpec& task, const std::vector<ExpectedTap>& expected) {
  const auto specs = net.taps();
  const auto out = net.forward(random_input(task));
  ASSERT_EQ(specs.size(), expected.size());
  ASSERT_EQ(out.taps.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(specs[i].name, expected[i].name) << "tap " << i;
    EXPECT_EQ(specs[i].sets, expected[i].sets) << specs[i].name;
    EXPECT_EQ(specs[i].layout, TapLayout::Flat) << specs[i].name;
    EXPECT_EQ(out.taps[i].sizes(), c10::IntArrayRef(expected[i].shape)) << specs[i].name;
  }
}

// The activation of the tap `name` in `out`, a forward pass of `net`.
torch::Tensor tap(const Network& net, const NetworkOutput& out, const std::string& name) {
  const auto specs = net.taps();
  for (std::size_t i = 0; i < specs.size(); ++i) {
    if (specs[i].name == name) return out.taps.at(i);
  }
  ADD_FAILURE() << "no tap named " << name;
  return torch::Tensor();
}

int64_t parameter_count(const Network& net) {
  int64_t count = 0;
  for (const auto& parameter : net.parameters()) count += parameter.numel();
  return count;
}

// Fashion-MNIST's shape: the figures below are for one input channel and ten classes.
TaskSpec fashion_task() {
  TaskSpec task = image_task(28);
  task.input_shape = {1, 28, 28};
  task.num_outputs = 10;
  return task;
}

// BatchNorm in training mode over a batch, with the given affine parameters.
torch::Tensor batch_norm(const torch::Tensor& x, const torch::Tensor& weight,
                         const torch::Tensor& bias) {
  return F::batch_norm(x, torch::Tensor(), torch::Tensor(),
                       F::BatchNormFuncOptions().weight(weight).bias(bias).training(true));
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

TEST(Mlp, TapsEachLinearOutputAndEachActivationInCallOrder) {
  torch::manual_seed(3);
  const TaskSpec task = image_task();
  auto net = build("mlp", task,
                   {{"depth", int64_t{2}}, {"width", int64_t{8}}, {"first_width", int64_t{6}},
                    {"batch_norm", true}});
  expect_taps(*net, task,
              {{"layer1.linear", kModule, {kBatch, 6}},
               {"layer1", kBlock, {kBatch, 6}},
               {"layer2.linear", kModule, {kBatch, 8}},
               {"layer2", kBlock, {kBatch, 8}}});
  auto params = net->named_parameters();
  EXPECT_EQ(params["layer1.linear.weight"].sizes(), c10::IntArrayRef({6, 3 * 8 * 8}));
  EXPECT_EQ(params["layer2.linear.weight"].sizes(), c10::IntArrayRef({8, 6}));
  EXPECT_EQ(params["layer2.norm.weight"].sizes(), c10::IntArrayRef({8}));
  EXPECT_EQ(params["head.weight"].sizes(), c10::IntArrayRef({5, 8}));
}

// The released extractor hooks the Linear itself, so the module tap precedes batch norm and
// activation; the block tap follows them.
TEST(Mlp, ModuleTapsAreTheLinearOutputsBeforeBatchNorm) {
  torch::manual_seed(4);
  auto net = build("mlp", image_task(),
                   {{"depth", int64_t{2}}, {"width", int64_t{8}}, {"batch_norm", true}});
  auto input = random_input(image_task());
  auto out = net->forward(input);
  auto params = net->named_parameters();
  auto linear1 = torch::addmm(params["layer1.linear.bias"], input.inputs.flatten(1),
                              params["layer1.linear.weight"].t());
  EXPECT_TRUE(tensors_close(tap(*net, out, "layer1.linear"), linear1, 1e-5, 1e-6));
  auto layer1 =
      torch::relu(batch_norm(linear1, params["layer1.norm.weight"], params["layer1.norm.bias"]));
  EXPECT_TRUE(tensors_close(tap(*net, out, "layer1"), layer1, 1e-4, 1e-5));
  EXPECT_FALSE(torch::allclose(layer1, torch::relu(linear1)));
  auto linear2 = torch::addmm(params["layer2.linear.bias"], tap(*net, out, "layer1"),
                              params["layer2.linear.weight"].t());
  EXPECT_TRUE(tensors_close(tap(*net, out, "layer2.linear"), linear2, 1e-5, 1e-6));
}

// The released ImageNetNarrowMLP (Deep FCN: a 2048-unit layer, 47 of 1024, batch norm, dropout
// 0.1) and ImageNetShallowMLP (Wide FCN: 3 layers of 8192, batch norm), at small widths: one
// module tap per Linear but the head.
TEST(Mlp, BuildsTheReleasedDeepAndWideFcn) {
  torch::manual_seed(5);
  auto deep = build("mlp", image_task(),
                    {{"depth", int64_t{48}}, {"first_width", int64_t{16}}, {"width", int64_t{8}},
                     {"batch_norm", true}, {"dropout", 0.1}});
  const auto modules = names_in(*deep, TapSet::Modules);
  ASSERT_EQ(modules.size(), 48u);
  EXPECT_EQ(modules.front(), "layer1.linear");
  EXPECT_EQ(modules[1], "layer2.linear");
  EXPECT_EQ(modules.back(), "layer48.linear");
  EXPECT_EQ(names_in(*deep, TapSet::Blocks).size(), 48u);
  auto params = deep->named_parameters();
  EXPECT_EQ(params["layer1.linear.weight"].sizes(), c10::IntArrayRef({16, 3 * 8 * 8}));
  EXPECT_EQ(params["layer2.linear.weight"].sizes(), c10::IntArrayRef({8, 16}));
  EXPECT_EQ(params["layer48.norm.weight"].sizes(), c10::IntArrayRef({8}));
  EXPECT_EQ(params["head.weight"].sizes(), c10::IntArrayRef({5, 8}));

  auto wide = build("mlp", image_task(),
                    {{"depth", int64_t{3}}, {"width", int64_t{8}}, {"batch_norm", true}});
  EXPECT_EQ(names_in(*wide, TapSet::Modules),
            (std::vector<std::string>{"layer1.linear", "layer2.linear", "layer3.linear"}));
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

// Module taps: each convolution before batch norm, and the global pool (the released extractor
// hooks Conv2d and AdaptiveAvgPool2d, not the 2x2 poolings); block taps as before.
TEST(Convnet, TapsTheConvolutionsBeforeBatchNormAndTheGlobalPoolInBothSets) {
  torch::manual_seed(6);
  const TaskSpec task = image_task();
  auto net = build("convnet", task, {{"channels", std::vector<int64_t>{4, 8}}});
  expect_taps(*net, task,
              {{"block1.conv", kModule, {kBatch, 4, 8, 8}},
               {"block1", kBlock, {kBatch, 4, 8, 8}},
               {"block1.pool", kBlock, {kBatch, 4, 4, 4}},
               {"block2.conv", kModule, {kBatch, 8, 4, 4}},
               {"block2", kBlock, {kBatch, 8, 4, 4}},
               {"block2.pool", kBlock, {kBatch, 8, 2, 2}},
               {"pool", kBoth, {kBatch, 8}}});
  auto input = random_input(task);
  auto out = net->forward(input);
  auto params = net->named_parameters();
  auto conv = F::conv2d(input.inputs, params["block1.conv.weight"],
                        F::Conv2dFuncOptions().padding(1));
  EXPECT_TRUE(tensors_close(tap(*net, out, "block1.conv"), conv, 1e-4, 1e-5));
  auto block1 =
      torch::relu(batch_norm(conv, params["block1.norm.weight"], params["block1.norm.bias"]));
  EXPECT_TRUE(tensors_close(tap(*net, out, "block1"), block1, 1e-4, 1e-5));
  EXPECT_TRUE(tensors_close(tap(*net, out, "pool"), tap(*net, out, "block2.pool").mean({2, 3}),
                            1e-5, 1e-6));
}

class ResnetResidual : public SeededTest, public ::testing::WithParamInterface<std::string> {};

// Without residual connections the network has neither identity sums nor downsample projections
// and computes another function; the block taps keep their names. With every layer's default
// init the stem, built first from the same seed, keeps its values too.
TEST_P(ResnetResidual, SwitchRemovesTheSumsAndTheDownsamples) {
  const std::map<std::string, ParamValue> sizes{{"block", GetParam()},
                                                {"blocks", std::vector<int64_t>{1, 1}},
                                                {"base_width", int64_t{4}},
                                                {"weight_init", std::string("pytorch")}};
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
  EXPECT_EQ(names_in(*residual, TapSet::Blocks), names_in(*plain, TapSet::Blocks));
  auto convolutions = names_in(*residual, TapSet::Modules);
  EXPECT_EQ(convolutions[convolutions.size() - 2], "layer2.0.downsample");
  std::vector<std::string> without_downsample;
  for (const auto& name : convolutions) {
    if (name.find("downsample") == std::string::npos) without_downsample.push_back(name);
  }
  EXPECT_EQ(names_in(*plain, TapSet::Modules), without_downsample);

  auto count_downsamples = [](const Network& net) {
    int count = 0;
    for (const auto& item : net.named_parameters()) {
      count += item.key().find("downsample") != std::string::npos;
    }
    return count;
  };
  EXPECT_GT(count_downsamples(*residual), 0);
  EXPECT_EQ(count_downsamples(*plain), 0);

  auto input = random_input(image_task());
  auto a = residual->forward(input);
  auto b = plain->forward(input);
  EXPECT_TRUE(torch::equal(tap(*residual, a, "stem"), tap(*plain, b, "stem")));
  EXPECT_TRUE(torch::equal(tap(*residual, a, "layer1.0.conv2"), tap(*plain, b, "layer1.0.conv2")))
      << "the first block's main path agrees";
  EXPECT_FALSE(torch::allclose(tap(*residual, a, "layer1.block1"), tap(*plain, b, "layer1.block1")));
  EXPECT_FALSE(torch::allclose(a.logits, b.logits));
}

INSTANTIATE_TEST_SUITE_P(Architectures, ResnetResidual, ::testing::Values("basic", "bottleneck"));

// torchvision's resnet18 and resnet50 have 11,689,512 and 25,557,032 parameters for 3 input
// channels and 1000 classes. One input channel takes 64 * 2 * 7 * 7 = 6,272 from conv1; ten
// classes take 990 * (512 + 1) = 507,870 (resnet18) or 990 * (2048 + 1) = 2,028,510 (resnet50)
// from fc.
TEST(Resnet, PresetsHaveTorchvisionsParameters) {
  EXPECT_EQ(built_plugins().architecture("resnet")->info().version, "2.0.0")
      << "torchvision's names replaced those of 1.x, whose checkpoints must not load";
  torch::manual_seed(7);
  auto torchvision = [](const std::string& preset) {
    return build("resnet", fashion_task(),
                 {{"preset", preset}, {"base_width", int64_t{64}},
                  {"stem", std::string("imagenet")}});
  };
  auto expect_shapes = [](const Network& net,
                          const std::vector<std::pair<std::string, std::vector<int64_t>>>& shapes) {
    auto params = net.named_parameters();
    for (const auto& [name, shape] : shapes) {
      ASSERT_TRUE(params.contains(name)) << name;
      EXPECT_EQ(params[name].sizes(), c10::IntArrayRef(shape)) << name;
    }
  };
  auto resnet18 = torchvision("resnet18");
  EXPECT_EQ(parameter_count(*resnet18), 11'689'512 - 6'272 - 507'870);
  expect_shapes(*resnet18, {{"conv1.weight", {64, 1, 7, 7}},
                            {"bn1.weight", {64}},
                            {"layer1.0.conv1.weight", {64, 64, 3, 3}},
                            {"layer1.1.bn2.bias", {64}},
                            {"layer2.0.conv1.weight", {128, 64, 3, 3}},
                            {"layer2.0.downsample.0.weight", {128, 64, 1, 1}},
                            {"layer2.0.downsample.1.weight", {128}},
                            {"layer4.1.conv2.weight", {512, 512, 3, 3}},
                            {"fc.weight", {10, 512}},
                            {"fc.bias", {10}}});
  EXPECT_FALSE(resnet18->named_parameters().contains("layer1.0.downsample.0.weight"));
  EXPECT_FALSE(resnet18->named_parameters().contains("conv1.bias"));
  EXPECT_TRUE(resnet18->named_buffers().contains("layer2.0.downsample.1.running_mean"));

  auto resnet50 = torchvision("resnet50");
  EXPECT_EQ(parameter_count(*resnet50), 25'557'032 - 6'272 - 2'028'510);
  expect_shapes(*resnet50, {{"layer1.0.conv1.weight", {64, 64, 1, 1}},
                            {"layer1.0.conv2.weight", {64, 64, 3, 3}},
                            {"layer1.0.conv3.weight", {256, 64, 1, 1}},
                            {"layer1.0.bn3.weight", {256}},
                            {"layer1.0.downsample.0.weight", {256, 64, 1, 1}},
                            {"layer2.0.conv1.weight", {128, 256, 1, 1}},
                            {"layer3.5.conv3.weight", {1024, 256, 1, 1}},
                            {"layer4.2.bn3.weight", {2048}},
                            {"fc.weight", {10, 2048}}});
}

TEST(Resnet, Resnet18TapsTheExtractorsModulesInCallOrder) {
  torch::manual_seed(8);
  auto net = build("resnet", fashion_task(),
                   {{"preset", std::string("resnet18")}, {"base_width", int64_t{2}},
                    {"stem", std::string("imagenet")}});
  std::vector<std::pair<std::string, unsigned>> expected{{"conv1", kModule}, {"stem", kBlock}};
  for (int stage = 1; stage <= 4; ++stage) {
    for (int block = 0; block < 2; ++block) {
      const std::string prefix = "layer" + std::to_string(stage) + "." + std::to_string(block);
      expected.emplace_back(prefix + ".conv1", kModule);
      expected.emplace_back(prefix + ".conv2", kModule);
      if (stage > 1 && block == 0) expected.emplace_back(prefix + ".downsample", kModule);
      expected.emplace_back("layer" + std::to_string(stage) + ".block" + std::to_string(block + 1),
                            kBlock);
    }
  }
  expected.emplace_back("avgpool", kBoth);
  std::vector<std::pair<std::string, unsigned>> declared;
  for (const auto& spec : net->taps()) declared.emplace_back(spec.name, spec.sets);
  EXPECT_EQ(declared, expected);
  EXPECT_EQ(names_in(*net, TapSet::Modules).size(), 21u);
  EXPECT_EQ(names_in(*net, TapSet::Blocks).size(), 1u + 8 + 1);
}

TEST(Resnet, Resnet50TapsADownsamplePerStageAndThePlainOneNone) {
  torch::manual_seed(9);
  const TaskSpec task = fashion_task();
  const std::map<std::string, ParamValue> resnet50{{"preset", std::string("resnet50")},
                                                   {"base_width", int64_t{2}},
                                                   {"stem", std::string("imagenet")}};
  auto net = build("resnet", task, resnet50);
  const auto modules = names_in(*net, TapSet::Modules);
  EXPECT_EQ(modules.size(), 54u);
  EXPECT_EQ(std::vector<std::string>(modules.begin(), modules.begin() + 6),
            (std::vector<std::string>{"conv1", "layer1.0.conv1", "layer1.0.conv2",
                                      "layer1.0.conv3", "layer1.0.downsample", "layer1.1.conv1"}));
  std::vector<std::string> downsamples;
  for (const auto& name : modules) {
    if (name.find("downsample") != std::string::npos) downsamples.push_back(name);
  }
  EXPECT_EQ(downsamples, (std::vector<std::string>{"layer1.0.downsample", "layer2.0.downsample",
                                                   "layer3.0.downsample", "layer4.0.downsample"}));
  EXPECT_EQ(modules.back(), "avgpool");
  EXPECT_EQ(names_in(*net, TapSet::Blocks).size(), 1u + 3 + 4 + 6 + 3 + 1);

  // 28x28 -> 14x14 (conv1) -> 7x7 (max pool); the 3x3 convolution carries a stage's stride (v1.5).
  auto out = net->forward(random_input(task));
  EXPECT_EQ(tap(*net, out, "layer2.0.conv1").sizes(), c10::IntArrayRef({kBatch, 4, 7, 7}));
  EXPECT_EQ(tap(*net, out, "layer2.0.conv2").sizes(), c10::IntArrayRef({kBatch, 4, 4, 4}));
  EXPECT_EQ(tap(*net, out, "layer2.0.conv3").sizes(), c10::IntArrayRef({kBatch, 16, 4, 4}));
  EXPECT_EQ(tap(*net, out, "layer2.0.downsample").sizes(), c10::IntArrayRef({kBatch, 16, 4, 4}));
  EXPECT_EQ(tap(*net, out, "avgpool").sizes(), c10::IntArrayRef({kBatch, 2 * 8 * 4}));

  auto overrides = resnet50;
  overrides["residual"] = false;
  overrides["weight_init"] = std::string("pytorch");
  auto plain = build("resnet", task, overrides);
  std::vector<std::string> without_downsample;
  for (const auto& name : modules) {
    if (name.find("downsample") == std::string::npos) without_downsample.push_back(name);
  }
  EXPECT_EQ(names_in(*plain, TapSet::Modules), without_downsample);
  EXPECT_EQ(without_downsample.size(), 50u);
}

// The module taps are the convolutions' own outputs: the stem's before its batch norm, a
// projection's (computed from the block's input) before its own.
TEST(Resnet, ModuleTapsAreTheConvolutionsBeforeBatchNorm) {
  torch::manual_seed(10);
  auto net = build("resnet", image_task(),
                   {{"blocks", std::vector<int64_t>{1, 1}}, {"base_width", int64_t{4}}});
  auto input = random_input(image_task());
  auto out = net->forward(input);
  auto params = net->named_parameters();
  auto conv1 = F::conv2d(input.inputs, params["conv1.weight"], F::Conv2dFuncOptions().padding(1));
  EXPECT_TRUE(tensors_close(tap(*net, out, "conv1"), conv1, 1e-4, 1e-5));
  auto stem = torch::relu(batch_norm(conv1, params["bn1.weight"], params["bn1.bias"]));
  EXPECT_TRUE(tensors_close(tap(*net, out, "stem"), stem, 1e-4, 1e-5));
  auto projected = F::conv2d(tap(*net, out, "layer1.block1"),
                             params["layer2.0.downsample.0.weight"],
                             F::Conv2dFuncOptions().stride(2));
  EXPECT_TRUE(tensors_close(tap(*net, out, "layer2.0.downsample"), projected, 1e-4, 1e-5));
}

// torchvision: convolutions He-normal with std sqrt(2 / fan_out), batch norms weight 1 and bias
// 0. pytorch: every layer's default (convolutions uniform within 1 / sqrt(fan_in)). Both draw the
// classifier's default init at the same place, so one seed gives both the same fc.
TEST(Resnet, InitChoosesTorchvisionsOrEveryLayersDefault) {
  auto with_init = [](const std::string& init) {
    torch::manual_seed(12);
    return build("resnet", image_task(),
                 {{"blocks", std::vector<int64_t>{1, 1}}, {"base_width", int64_t{32}},
                  {"weight_init", init}});
  };
  auto torchvision = with_init("torchvision")->named_parameters();
  auto pytorch = with_init("pytorch")->named_parameters();
  const double fan = 64 * 3 * 3;  // layer2.0.conv2: 64 -> 64 channels, 3x3
  const auto& normal = torchvision["layer2.0.conv2.weight"];
  const double he_std = std::sqrt(2.0 / fan);
  EXPECT_NEAR(normal.std().item<double>(), he_std, 0.03 * he_std);
  EXPECT_NEAR(normal.mean().item<double>(), 0.0, he_std / 20);
  const auto& uniform = pytorch["layer2.0.conv2.weight"];
  const double bound = 1.0 / std::sqrt(fan);
  EXPECT_LE(uniform.abs().max().item<double>(), bound);
  EXPECT_NEAR(uniform.std().item<double>(), bound / std::sqrt(3.0), 0.03 * bound / std::sqrt(3.0));
  int norms = 0;
  for (const auto& item : torchvision) {
    const std::string& name = item.key();
    if (name.find("bn") == std::string::npos && name.find("downsample.1") == std::string::npos) {
      continue;
    }
    ++norms;
    const bool weight = name.compare(name.size() - 6, 6, "weight") == 0;
    const double value = weight ? 1.0 : 0.0;
    EXPECT_TRUE(torch::equal(item.value(), torch::full_like(item.value(), value))) << name;
  }
  EXPECT_EQ(norms, 2 * (1 + 2 + 2 + 1));
  EXPECT_TRUE(torch::equal(torchvision["fc.weight"], pytorch["fc.weight"]));
  EXPECT_TRUE(torch::equal(torchvision["fc.bias"], pytorch["fc.bias"]));
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
