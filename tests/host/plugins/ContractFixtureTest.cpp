// The contract checks catch plugins that break their contract, naming the check and the cause.
#include <algorithm>
#include <sstream>

#include "host/contract/ContractChecks.h"
#include "tests/support/TestSupport.h"

namespace guidance::testing {
namespace {

using ::testing::HasSubstr;

std::string fixture(const std::string& folder) { return std::string(FIXTURE_DIR) + "/" + folder; }

const CheckResult& result_named(const std::vector<CheckResult>& results, const std::string& check) {
  auto found = std::find_if(results.begin(), results.end(), [&](const CheckResult& result) {
    return result.check.rfind(check, 0) == 0;
  });
  if (found == results.end()) throw std::runtime_error("no check '" + check + "' was run");
  return *found;
}

TEST(ContractChecks, FailAnArchitectureThatReturnsFewerTapsThanItDeclares) {
  PluginCatalog catalog;
  catalog.load_directory(fixture("broken"));
  std::vector<CheckResult> results =
      check_contract(catalog.find(PluginKind::Architecture, "fixture-missing-tap"), Params{}, {});
  const CheckResult& forward =
      result_named(results, "forward returns logits of the task's shape and every declared tap");
  EXPECT_FALSE(forward.passed);
  EXPECT_THAT(forward.detail, HasSubstr("forward returned 1 taps, taps() declares 2"));
  EXPECT_TRUE(result_named(results, "declares unique taps before forward").passed)
      << "the other checks still run, and the ones it keeps pass";
  EXPECT_TRUE(std::none_of(results.begin(), results.end(), [](const CheckResult& result) {
    return result.check.find("contract-tokens") != std::string::npos;
  })) << "token tasks it refuses are not checked";
}

// What the host relies on without a plugin saying so: a record stores each tap under its name,
// and a run reports the measures its dataset names.
TEST(ContractChecks, FailATapNameARecordCannotHoldAndAMeasureTheHostDoesNotCompute) {
  PluginCatalog catalog;
  catalog.load_directory(fixture("broken"));
  std::vector<CheckResult> architecture =
      check_contract(catalog.find(PluginKind::Architecture, "fixture-slash-tap"), Params{}, {});
  const CheckResult& taps = result_named(architecture, "declares unique taps before forward");
  EXPECT_FALSE(taps.passed);
  EXPECT_THAT(taps.detail, HasSubstr("tap 'block/1' cannot name a record's dataset: '/' separates "
                                     "HDF5 path components"));
  std::vector<CheckResult> dataset =
      check_contract(catalog.find(PluginKind::Dataset, "fixture-unknown-measure"), Params{}, {});
  const CheckResult& task =
      result_named(dataset, "opens with these parameters and describes a sane task");
  EXPECT_FALSE(task.passed);
  EXPECT_THAT(task.detail, HasSubstr("the task names the measure 'accuracy', which the host does "
                                     "not compute for its kind of targets ('top1', 'top5', "
                                     "'perplexity')"));
}

TEST(ContractChecks, FailAMetricWhoseValueLeavesItsRange) {
  PluginCatalog catalog;
  catalog.load_directory(fixture("broken"));
  std::vector<CheckResult> results =
      check_contract(catalog.find(PluginKind::Metric, "fixture-out-of-range"), Params{}, {});
  const CheckResult& range = result_named(results, "stays within its range");
  EXPECT_FALSE(range.passed);
  EXPECT_THAT(range.detail, HasSubstr("outside [0, 1]"));
  std::ostringstream printed;
  EXPECT_FALSE(print_results("fixture-out-of-range", results, printed));
  EXPECT_THAT(printed.str(), HasSubstr("FAIL  fixture-out-of-range: stays within its range"));
}

TEST(ContractChecks, PluginsTestExits1WithAFailLineForABrokenLibrary) {
  testing::CommandResult result =
      testing::run_cli("plugins test '" + fixture("broken") + "/libfixture-broken.so'");
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("FAIL  architecture fixture-missing-tap: forward returns "
                                    "logits of the task's shape and every declared tap"));
  EXPECT_THAT(result.out, HasSubstr("FAIL  metric fixture-out-of-range: stays within its range"));
  EXPECT_THAT(result.out, HasSubstr("PASS  metric fixture-out-of-range: float32 agrees with float64"))
      << "checks other than the broken ones still run and pass";

  testing::CommandResult unknown = testing::run_cli("plugins test linear-ckaa");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("did you mean 'linear-cka'"));

  testing::CommandResult with_table =
      testing::run_cli("plugins test '{ plugin = \"mutual-knn\", k = 3 }'");
  EXPECT_EQ(with_table.exit_code, 0) << with_table.out << with_table.err;
  EXPECT_THAT(with_table.out, HasSubstr("PASS  metric mutual-knn: refuses fewer rows than min_rows"));
}

TEST(ContractChecks, PluginsTestChecksArchitecturesOnTheInputShapeGiven) {
  // A 1×28×28 TorchScript CNN (tests/plugins/architecture/make_torchscript.py) fits no default
  // test task; --input-shape 1,28,28 gives it the images it was made for.
  TemporaryDirectory directory;
  CommandResult made = run_command("/usr/bin/python3 '" + source_directory() +
                                   "/tests/plugins/architecture/make_torchscript.py' '" +
                                   directory.path() + "'");
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const std::string subject = "'{ plugin = \"torchscript\", path = \"" + directory.file("cnn.pt") +
                              "\" }'";
  CommandResult fitted = run_cli("plugins test " + subject + " --input-shape 1,28,28");
  EXPECT_EQ(fitted.exit_code, 0) << fitted.out << fitted.err;
  EXPECT_THAT(fitted.out, HasSubstr("PASS  architecture torchscript: gradients reach every "
                                    "parameter (contract-image)"));
  CommandResult by_default = run_cli("plugins test " + subject);
  EXPECT_EQ(by_default.exit_code, 1) << by_default.out << by_default.err;
  EXPECT_THAT(by_default.out, HasSubstr("refused every test task"));
  EXPECT_THAT(by_default.out, HasSubstr("expected input[2, 3, 32, 32] to have 1 channels"));

  // Any rank reaches the plugin, which refuses a shape it cannot take.
  CommandResult flat = run_cli("plugins test mlp --input-shape 784");
  EXPECT_EQ(flat.exit_code, 1) << flat.out << flat.err;
  EXPECT_THAT(flat.out, HasSubstr("task 'contract-image' declares input_shape [784]"));

  for (const std::string& malformed : {"3,x", "0,28,28", "1,,28", ""}) {
    CommandResult refused = run_cli("plugins test mlp --input-shape '" + malformed + "'");
    EXPECT_EQ(refused.exit_code, 2) << malformed;
    EXPECT_THAT(refused.err, HasSubstr("--input-shape expects positive sizes separated by commas, "
                                       "e.g. 1,28,28 (channels, height, width); got '" +
                                       malformed + "'"));
    EXPECT_EQ(refused.out, "") << "refused before any check runs";
  }
}

}  // namespace
}  // namespace guidance::testing
