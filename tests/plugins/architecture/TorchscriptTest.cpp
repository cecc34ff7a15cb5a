// The `torchscript` architecture: networks written in PyTorch (scripted, and traced inside a
// scripted wrapper) give in C++ the logits and taps PyTorch computed for the same input, are
// refused with what was expected when they break the convention, and a scripted ResNet (written
// as torchvision's, with batch norm) guides the quickstart FCN. The fixtures are made in the test run by make_torchscript.py (python3-torch).
#include <filesystem>

#include <torch/script.h>

#include "guidance/api/InputFile.h"
#include "host/common/Errors.h"
#include "host/training/Checkpoint.h"
#include "tests/plugins/architecture/ArchitectureTestSupport.h"

namespace guidance::testing {
namespace {

using ::testing::HasSubstr;

class Torchscript : public SeededTest {
 protected:
  static void SetUpTestSuite() {
    directory_ = new TemporaryDirectory();
    CommandResult made = run_command("/usr/bin/python3 '" + source_directory() +
                                     "/tests/plugins/architecture/make_torchscript.py' '" +
                                     directory_->path() + "'");
    ASSERT_EQ(made.exit_code, 0) << made.err;
  }
  static void TearDownTestSuite() { delete directory_; }

  static std::string file(const std::string& name) { return directory_->file(name); }
  static torch::Tensor expected(const std::string& name) {
    static torch::jit::Module tensors = torch::jit::load(file("expected.pt"));
    return tensors.attr(name).toTensor();
  }
  static std::shared_ptr<Network> load(const std::string& name, const TaskSpec& task,
                                       const std::string& weights = "file") {
    return build("torchscript", task, {{"path", file(name)}, {"weights", weights}});
  }

  static TemporaryDirectory* directory_;
};
TemporaryDirectory* Torchscript::directory_ = nullptr;

TaskSpec fashion_task() {
  TaskSpec task = image_task(28);
  task.input_shape = {1, 28, 28};
  task.num_outputs = 10;
  return task;
}

TEST_F(Torchscript, ScriptedAndTracedNetworksMatchPytorch) {
  for (const auto& [file_name, prefix, taps] :
       {std::tuple{"cnn.pt", "cnn", std::vector<std::string>{"conv1", "conv2", "pool"}},
        std::tuple{"resnet.pt", "resnet", std::vector<std::string>{"layer1", "layer2", "pool"}},
        std::tuple{"traced_mlp.pt", "traced", std::vector<std::string>{"fc1"}}}) {
    SCOPED_TRACE(file_name);
    auto net = load(file_name, fashion_task());
    net->eval();
    ASSERT_EQ(net->taps().size(), taps.size());
    NetworkOutput out = net->forward({expected("image"), {}});
    EXPECT_TRUE(tensors_close(out.logits, expected(std::string(prefix) + "_logits"), 1e-5, 1e-6));
    for (size_t i = 0; i < taps.size(); ++i) {
      EXPECT_EQ(net->taps()[i].name, taps[i]);
      EXPECT_EQ(net->taps()[i].layout, TapLayout::Flat);
      EXPECT_TRUE(tensors_close(out.taps[i], expected(std::string(prefix) + "_" + taps[i]), 1e-5,
                                1e-6))
          << taps[i];
    }
  }
}

TEST_F(Torchscript, TokenNetworksTakeTheMaskAndDeclareSequenceAndFlatTaps) {
  TaskSpec task = token_task(TargetKind::Class);
  task.input_shape = {6};
  task.vocab_size = 4;
  auto net = load("tokens.pt", task);
  net->eval();
  std::vector<TapSpec> taps = net->taps();
  ASSERT_EQ(taps.size(), 3u);
  EXPECT_EQ(taps[0].layout, TapLayout::Sequence);
  EXPECT_EQ(taps[1].layout, TapLayout::Sequence);
  EXPECT_EQ(taps[2].layout, TapLayout::Flat) << "listed in guidance_flat_taps";
  NetworkOutput out = net->forward({expected("tokens"), expected("mask")});
  EXPECT_TRUE(tensors_close(out.logits, expected("tokens_logits"), 1e-5, 1e-6));
  EXPECT_TRUE(tensors_close(out.taps[1], expected("tokens_hidden"), 1e-5, 1e-6));
  EXPECT_THROW(load("tokens.pt", fashion_task()), std::invalid_argument)
      << "guidance_inputs = \"tokens\" refuses an image task";
}

TEST_F(Torchscript, SeededWeightsFollowTheSeedAndTrainFromCpp) {
  torch::manual_seed(1);
  auto first = load("cnn.pt", fashion_task(), "seeded");
  torch::manual_seed(1);
  auto again = load("cnn.pt", fashion_task(), "seeded");
  torch::manual_seed(2);
  auto other = load("cnn.pt", fashion_task(), "seeded");
  auto file_weights = load("cnn.pt", fashion_task(), "file");
  const std::string name = "conv1.weight";
  auto weight = [&](const std::shared_ptr<Network>& net) { return net->named_parameters()[name]; };
  EXPECT_TRUE(torch::equal(weight(first), weight(again)));
  EXPECT_FALSE(torch::equal(weight(first), weight(other)));
  EXPECT_FALSE(torch::equal(weight(first), weight(file_weights)));

  // An optimiser step on the registered parameters changes what the scripted code computes.
  torch::Tensor image = expected("image");
  torch::Tensor before = first->forward({image, {}}).logits.detach();
  torch::optim::SGD optimizer(first->parameters(), torch::optim::SGDOptions(0.1));
  first->forward({image, {}}).logits.square().mean().backward();
  optimizer.step();
  EXPECT_FALSE(torch::allclose(first->forward({image, {}}).logits, before));
}

TEST_F(Torchscript, AFileBreakingTheConventionIsRefusedWithWhatWasExpected) {
  try {
    load("expected.pt", fashion_task());
    FAIL() << "a module without guidance_taps was accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_THAT(error.what(), HasSubstr("guidance_taps: List[str]"));
    EXPECT_THAT(error.what(), HasSubstr("expected.pt"));
  }
  // A missing file is a problem of the `path` key, which the host reports at its location.
  try {
    load("missing.pt", fashion_task());
    FAIL() << "a missing file was accepted";
  } catch (const ParamError& error) {
    EXPECT_EQ(error.param(), "path");
    EXPECT_THAT(error.what(), HasSubstr("missing.pt: no such file"));
  }
  // So is a file LibTorch cannot load: not TorchScript at all.
  write_file(file("garbage.pt"), "not a TorchScript archive");
  try {
    load("garbage.pt", fashion_task());
    FAIL() << "a file that is not TorchScript was accepted";
  } catch (const ParamError& error) {
    EXPECT_EQ(error.param(), "path");
    EXPECT_THAT(error.what(), HasSubstr("cannot load TorchScript file"));
    EXPECT_THAT(error.what(), HasSubstr("garbage.pt"));
  }
}

// Weights trained in PyTorch come as `torch.save(model.state_dict())`: loaded by name (what the
// `checkpoint` guide-init does), with every mismatch listed.
TEST_F(Torchscript, PytorchStateDictsLoadByNameAndMismatchesAreListed) {
  auto net = load("cnn.pt", fashion_task(), "seeded");
  ASSERT_FALSE(torch::equal(net->named_parameters()["conv1.weight"], expected("state_conv1_weight")));
  load_weights(*net, file("cnn_state.pt"));
  EXPECT_TRUE(torch::equal(net->named_parameters()["conv1.weight"], expected("state_conv1_weight")));
  try {
    load_weights(*net, file("cnn3_state.pt"));
    FAIL() << "a state_dict of another shape was loaded";
  } catch (const RunError& error) {
    EXPECT_THAT(error.what(), HasSubstr("does not match the network"));
    EXPECT_THAT(error.what(), HasSubstr("tensor 'conv1.weight' has shape [8, 3, 3, 3], the network "
                                        "expects [8, 1, 3, 3]"));
  }
  try {
    load_weights(*net, file("cnn_ordered_state.pt"));
    FAIL() << "an OrderedDict state_dict, which LibTorch cannot read, was loaded";
  } catch (const RunError& error) {
    EXPECT_THAT(error.what(), HasSubstr("torch.save(dict(model.state_dict()), path)"));
  }
}

TEST_F(Torchscript, AScriptedResnetGuidesTheQuickstartFcn) {
  TemporaryDirectory run;
  const std::string config = run.file("scripted-guide.toml");
  write_file(config, R"([run]
name = "scripted-guide"
threads = 1
output = ")" + run.file("out") + R"("

[dataset]
plugin = "fashion-mnist"
train_subset = 512
validation_size = 128

[target]
plugin = "mlp"
depth = 3
width = 64

[guide]
plugin = "torchscript"
path = ")" + file("resnet.pt") + R"("

[train]
batch_size = 64
max_steps = 8

[record]
at_end = false
)");
  CommandResult result = run_cli("run '" + config + "'");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  // The run's header names the guide by its file, its weights drawn from the seed.
  EXPECT_THAT(result.err, HasSubstr("guide torchscript (resnet.pt) [untrained]"));
  CommandResult read = run_command(
      "/usr/bin/python3 -c \"import h5py; f = h5py.File('" + run.file("out") +
      "/scripted-guide/run.h5', 'r'); g = f['training/guidance_loss'][()]; "
      "assert len(g) == 8 and (g > 0).all(), g; print(list(f['training/pair_distance'].attrs['column_labels']))\"");
  EXPECT_EQ(read.exit_code, 0) << read.err;
  EXPECT_THAT(read.out, HasSubstr("guide.pool->target."));
}

// A guide whose weights come from its file says so where a user checks what will run, and a file
// the plugin cannot load is reported at the config's `path` key, where the user fixes it.
TEST_F(Torchscript, CheckNamesTheGuidesFileAndWhereItsWeightsComeFrom) {
  TemporaryDirectory run;
  auto config_with = [&](const std::string& path) {
    const std::string config = run.file("file-guide.toml");
    write_file(config, R"([run]
name = "file-guide"
output = ")" + run.file("out") + R"("

[dataset]
plugin = "fashion-mnist"
train_subset = 256
validation_size = 64

[target]
plugin = "mlp"

[guide]
plugin = "torchscript"
path = ")" + path + R"("
weights = "file"
)");
    return config;
  };
  CommandResult checked = run_cli("check '" + config_with(file("resnet.pt")) + "'");
  ASSERT_EQ(checked.exit_code, 0) << checked.err;
  EXPECT_THAT(checked.out, HasSubstr("guide torchscript (resnet.pt) [weights from the file]"));

  write_file(run.file("garbage.pt"), "not a TorchScript archive");
  CommandResult refused = run_cli("check '" + config_with(run.file("garbage.pt")) + "'");
  EXPECT_EQ(refused.exit_code, 2) << refused.err;
  EXPECT_THAT(refused.err, HasSubstr("file-guide.toml:15:8: key 'guide.path'"));
  EXPECT_THAT(refused.err, HasSubstr("cannot load TorchScript file"));
}

}  // namespace
}  // namespace guidance::testing
