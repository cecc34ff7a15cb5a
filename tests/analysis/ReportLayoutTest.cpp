#include <cstdlib>
#include <filesystem>
#include <sstream>

#include <unistd.h>

#include "tests/analysis/StudyRecords.h"
#include "tests/host/recording/SyntheticRecord.h"
#include "tests/support/GuidanceInProcess.h"
#include "tests/support/TestSupport.h"

namespace guidance {
namespace {

namespace fs = std::filesystem;
using testing::TemporaryDirectory;

// Checks, once the page and its pictures have loaded and every collapsed section (<details>) is
// opened, that nothing is wider than the window unless it sits in a container that scrolls
// sideways, and writes the verdict into <body data-layout="...">: "fits", or the first problems
// found.
constexpr const char* kLayoutCheck = R"(<script>
window.addEventListener('load', function () {
  document.querySelectorAll('details').forEach(function (d) { d.open = true; });
  var viewport = document.documentElement.clientWidth, problems = [];
  function scrolls(element) {
    var overflow = getComputedStyle(element).overflowX;
    return overflow === 'auto' || overflow === 'scroll';
  }
  function insideScroller(element) {
    for (var e = element.parentElement; e; e = e.parentElement) if (scrolls(e)) return true;
    return false;
  }
  function name(e) { return e.tagName.toLowerCase() + (e.className ? '.' + e.className : ''); }
  if (document.documentElement.scrollWidth > viewport) {
    problems.push('the page is ' + document.documentElement.scrollWidth + ' px wide in a ' +
                  viewport + ' px window');
  }
  document.querySelectorAll('body *').forEach(function (e) {
    if (insideScroller(e)) return;
    var right = e.getBoundingClientRect().right;
    if (right > viewport + 1) {
      problems.push(name(e) + ' ends at ' + Math.round(right) + ' px');
    } else if (!scrolls(e) && e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1) {
      problems.push(name(e) + ' holds ' + e.scrollWidth + ' px in ' + e.clientWidth + ' px');
    }
  });
  document.body.setAttribute('data-layout',
                             problems.length ? problems.slice(0, 5).join('; ') : 'fits');
});
</script>
)";

// The Chromium the layout check runs in (scripts/setup.sh installs Debian's `chromium`).
std::string chromium() {
  for (const char* name : {"chromium", "chromium-browser"}) {
    std::stringstream path(std::getenv("PATH") ? std::getenv("PATH") : "");
    for (std::string folder; std::getline(path, folder, ':');) {
      fs::path candidate = fs::path(folder) / name;
      if (!folder.empty() && access(candidate.c_str(), X_OK) == 0) return candidate.string();
    }
  }
  return "";
}

// @return the layout verdict of a report page in a 1280 px wide headless Chromium: the page is
// copied beside itself (so its relative pictures load) with the check added, and the DOM Chromium
// dumps after loading it is searched for the verdict.
std::string layout_of(const std::string& page, const std::string& browser,
                      const std::string& css_removed = "") {
  std::string html = testing::read_file(page);
  if (!css_removed.empty()) html = testing::replace_first(html, css_removed, "");
  html = testing::replace_first(html, "</body>", std::string(kLayoutCheck) + "</body>");
  fs::path checked = fs::path(page).parent_path() / "layout-check.html";
  testing::write_file(checked.string(), html);
  TemporaryDirectory profile;
  testing::CommandResult result = testing::run_command(
      "'" + browser + "' --headless --no-sandbox --disable-gpu --user-data-dir='" +
      profile.path() + "' --window-size=1280,2000 --virtual-time-budget=5000 --dump-dom 'file://" +
      fs::absolute(checked).string() + "'");
  std::string marker = "data-layout=\"";
  size_t start = result.out.find(marker);
  if (result.exit_code != 0 || start == std::string::npos) {
    return "no verdict (exit " + std::to_string(result.exit_code) + "): " + result.err;
  }
  start += marker.size();
  return result.out.substr(start, result.out.find('"', start) - start);
}

TEST(ReportLayoutTest, RunAndDirectoryReportsFitTheWindowAndAWideTableWithoutScrollingIsFlagged) {
  std::string browser = chromium();
  ASSERT_FALSE(browser.empty()) << "no chromium on PATH: scripts/setup.sh installs it";
  TemporaryDirectory directory;
  RecordLayout layout = testing::synthetic_layout();
  // Enough measures with long names that the final-measures table is far wider than the window.
  for (int m = 0; m < 16; ++m) layout.measure_names.push_back("a-measure-with-a-long-name-" + std::to_string(m));
  testing::write_synthetic_run(directory.file("runs/first/run.h5"), 30, 10, layout);
  testing::write_synthetic_run(directory.file("runs/second/run.h5"), 30, 10, layout, 0.5);
  std::string out = directory.file("report");
  testing::CommandResult result =
      testing::run_guidance_here({"analyze", "report", directory.file("runs"), "--out", out});
  ASSERT_EQ(result.exit_code, 0) << result.err;

  EXPECT_EQ(layout_of(out + "/first/index.html", browser), "fits");
  EXPECT_EQ(layout_of(out + "/index.html", browser), "fits");
  // The same run report without its scrolling tables overflows, and the check says so.
  std::string broken = layout_of(out + "/first/index.html", browser, ".scroll { overflow-x: auto;");
  EXPECT_NE(broken.find(" px wide in a "), std::string::npos) << broken;
  EXPECT_NE(broken.find("div.scroll holds"), std::string::npos) << broken;
}

// The directory report of a 7-cell × 3-seed study with recorded predictions: mean curves with
// their runs' charts, κ of cells and the 21 × 21 κ of every run (collapsed), all inside the window.
TEST(ReportLayoutTest, AStudyReportOfSevenCellsOfThreeSeedsFitsWithEverySectionOpen) {
  std::string browser = chromium();
  ASSERT_FALSE(browser.empty()) << "no chromium on PATH: scripts/setup.sh installs it";
  TemporaryDirectory directory;
  std::string study =
      testing::write_synthetic_study(directory.file("results"), 7, 3, [](int, int) { return 30; });
  std::vector<int64_t> indices(40);
  for (int64_t i = 0; i < 40; ++i) indices[i] = i;
  for (int c = 1; c <= 7; ++c) {
    for (int seed = 0; seed < 3; ++seed) {
      std::vector<int8_t> correct;
      for (int64_t i : indices) correct.push_back(static_cast<int8_t>((i * (c + seed) / 7) % 2));
      testing::add_predictions(study + "/rate=0." + std::to_string(c) + ",seed=" +
                                   std::to_string(seed) + "/run.h5",
                               "target", indices, correct);
    }
  }
  std::string out = directory.file("report");
  testing::CommandResult result =
      testing::run_guidance_here({"analyze", "report", study, "--out", out});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::string html = testing::read_file(out + "/index.html");
  ASSERT_NE(html.find("consistency-cells.svg"), std::string::npos);
  ASSERT_NE(html.find("<summary>Every network (21 × 21)</summary>"), std::string::npos);
  EXPECT_EQ(layout_of(out + "/index.html", browser), "fits");
}

}  // namespace
}  // namespace guidance
