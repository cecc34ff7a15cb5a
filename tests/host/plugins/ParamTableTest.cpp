// ParamTable: a plugin's parameters declared once, as members of its options struct.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "guidance/api/ParamTable.h"

namespace guidance {
namespace {

enum class Shape { Round, Square };

struct Sizes {
  int64_t depth = 2;
  double dropout = 0.5;
};

struct Options {
  int64_t width = 128;
  bool batch_norm = false;
  Shape shape = Shape::Square;
  std::vector<double> scales{0.5, 2.0};
  Sizes sizes{6, 0.0};  // differs from Sizes' own defaults, which the nested table would give
};

const ParamTable<Sizes>& size_params() {
  static const ParamTable<Sizes> table = ParamTable<Sizes>()
      .add("depth", &Sizes::depth, "blocks").at_least(1)
      .add("dropout", &Sizes::dropout, "dropout").between(0.0, 1.0);
  return table;
}

const ParamTable<Options>& option_params() {
  static const ParamTable<Options> table = ParamTable<Options>()
      .add("width", &Options::width, "units").between(1, 4096)
      .add("batch_norm", &Options::batch_norm, "normalise")
      .add_choice("shape", &Options::shape, "the shape",
                  {{"round", Shape::Round}, {"square", Shape::Square}})
      .add("scales", &Options::scales, "scales").at_least(0.0)
      .add_all(&Options::sizes, size_params());
  return table;
}

TEST(ParamTable, TheSchemaTakesTypesFromMembersAndDefaultsFromTheOptionsStruct) {
  std::vector<ParamSpec> specs = option_params().specs();
  ASSERT_EQ(specs.size(), 6u);
  std::vector<std::string> names;
  for (const auto& spec : specs) names.push_back(spec.name);
  EXPECT_THAT(names, testing::ElementsAre("width", "batch_norm", "shape", "scales", "depth",
                                          "dropout"));
  EXPECT_EQ(specs[0].type, ParamType::Int);
  EXPECT_EQ(std::get<int64_t>(specs[0].default_value), 128);
  EXPECT_EQ(specs[0].min, 1.0);
  EXPECT_EQ(specs[0].max, 4096.0);
  EXPECT_EQ(specs[1].type, ParamType::Bool);
  EXPECT_FALSE(specs[1].min.has_value());  // a bound chains onto its own entry only
  EXPECT_EQ(specs[2].type, ParamType::String);
  EXPECT_EQ(std::get<std::string>(specs[2].default_value), "square");
  EXPECT_THAT(specs[2].choices, testing::ElementsAre("round", "square"));
  EXPECT_EQ(specs[3].type, ParamType::FloatList);
  EXPECT_THAT(std::get<std::vector<double>>(specs[3].default_value),
              testing::ElementsAre(0.5, 2.0));
  // A nested group's defaults are the containing struct's, not the group's own.
  EXPECT_EQ(std::get<int64_t>(specs[4].default_value), 6);
  EXPECT_EQ(std::get<double>(specs[5].default_value), 0.0);
  EXPECT_EQ(std::get<int64_t>(size_params().specs()[0].default_value), 2);
}

TEST(ParamTable, ReadFillsEveryMemberFromTheParamsTheHostValidated) {
  Params params = defaults_of(option_params().specs());
  params.set("width", int64_t{7});
  params.set("batch_norm", true);
  params.set("shape", std::string("round"));
  params.set("scales", std::vector<double>{1.0});
  params.set("depth", int64_t{9});
  Options options = option_params().read(params);
  EXPECT_EQ(options.width, 7);
  EXPECT_TRUE(options.batch_norm);
  EXPECT_EQ(options.shape, Shape::Round);
  EXPECT_THAT(options.scales, testing::ElementsAre(1.0));
  EXPECT_EQ(options.sizes.depth, 9);
  EXPECT_EQ(options.sizes.dropout, 0.0);

  Options defaults = option_params().read(defaults_of(option_params().specs()));
  EXPECT_EQ(defaults.width, 128);
  EXPECT_EQ(defaults.shape, Shape::Square);
  EXPECT_EQ(defaults.sizes.depth, 6);
}

TEST(ParamTable, AValueOfAnotherTypeOrChoiceIsAPluginBugNamedByParameter) {
  Params params = defaults_of(option_params().specs());
  params.set("width", 7.0);
  EXPECT_THROW(option_params().read(params), ParamAccessError);
  params = defaults_of(option_params().specs());
  params.set("shape", std::string("oval"));
  try {
    option_params().read(params);
    FAIL() << "an unknown choice was read";
  } catch (const ParamAccessError& error) {
    EXPECT_THAT(error.what(), testing::HasSubstr("'shape' holds 'oval'"));
  }
}

}  // namespace
}  // namespace guidance
