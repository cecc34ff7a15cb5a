#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "guidance/api/Metric.h"
#include "host/plugins/PluginCatalog.h"
#include "tests/support/TestSupport.h"

namespace guidance::testing {
namespace {

using ::testing::ContainerEq;

// docs/metrics.md's table: `| name | formula | sense, range | differentiable | constant side |
// cost |`, one row per shipped metric plugin.
struct DocumentedMetric {
  std::string sense_and_range;
  std::string differentiable;
};

std::map<std::string, DocumentedMetric> documented_metrics() {
  std::stringstream lines(read_file(source_directory() + "/docs/metrics.md"));
  std::map<std::string, DocumentedMetric> rows;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("| `", 0) != 0) continue;
    std::vector<std::string> cells;
    std::stringstream parts(line.substr(1));
    for (std::string cell; std::getline(parts, cell, '|');) {
      size_t begin = cell.find_first_not_of(' '), end = cell.find_last_not_of(' ');
      cells.push_back(begin == std::string::npos ? "" : cell.substr(begin, end - begin + 1));
    }
    if (cells.size() < 4) continue;
    rows[cells[0].substr(1, cells[0].size() - 2)] = {cells[2], cells[3]};
  }
  return rows;
}

// As the table writes a bound: whole numbers plain, negatives with a minus sign (U+2212).
std::string bound(double value) {
  std::ostringstream text;
  text << (value < 0 ? "−" : "") << std::abs(value);
  return text.str();
}

// The table states what each metric plugin declares (MetricPlugin::traits(), the traits of its
// default metric): its sense, its range, whether guidance can use it. A plugin added without a
// row, a row left after its plugin went, or a trait changed without the docs fails here.
TEST(MetricDocs, TheTableStatesEachPluginsDeclaredTraits) {
  std::map<std::string, DocumentedMetric> rows = documented_metrics();
  std::vector<std::string> documented;
  for (const auto& [name, row] : rows) documented.push_back(name);
  std::vector<std::string> declared = built_plugins().names(PluginKind::Metric);
  std::sort(declared.begin(), declared.end());
  ASSERT_THAT(documented, ContainerEq(declared));
  for (const std::string& name : declared) {
    SCOPED_TRACE(name);
    const MetricTraits traits = built_plugins().metric(name)->traits();
    const std::string sense = traits.sense == MetricSense::Similarity ? "similarity" : "distance";
    EXPECT_EQ(rows[name].sense_and_range,
              sense + ", [" + bound(traits.lower) + ", " + bound(traits.upper) + "]");
    // "yes", "no", or per parameter ("pearson yes, spearman no"): the default's comes first.
    const std::string& cell = rows[name].differentiable;
    const size_t yes = cell.find("yes"), no = cell.find("no");
    ASSERT_TRUE(yes != std::string::npos || no != std::string::npos) << cell;
    EXPECT_EQ(traits.differentiable, yes != std::string::npos && (no == std::string::npos || yes < no))
        << cell;
  }
}

}  // namespace
}  // namespace guidance::testing
