#include "host/study/StudyRunner.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <memory>
#include <sstream>

#include "host/common/Errors.h"
#include "host/common/StopSignal.h"
#include "host/sweep/SweepCell.h"

namespace guidance {

using Clock = std::chrono::steady_clock;

namespace {

void write_all(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t written = ::write(fd, text.data() + done, text.size() - done);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return;  // the parent went away: progress is not worth failing the run
    done += static_cast<size_t>(written);
  }
}

std::string single_line(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  return text;
}

}  // namespace

int run_study_here(const SelectedRuns& study, const PluginCatalog& catalog, RunOptions options,
                   int progress_fd, std::ostream& out, std::ostream& err) {
  if (progress_fd >= 0) {
    ::signal(SIGPIPE, SIG_IGN);
    auto last = std::make_shared<Clock::time_point>();
    options.on_step = [progress_fd, last](int64_t step, int64_t total) {
      auto now = Clock::now();
      if (step != total && step != 1 && now - *last < std::chrono::milliseconds(100)) return;
      *last = now;
      write_all(progress_fd, "step " + std::to_string(step) + " " + std::to_string(total) + "\n");
    };
  }
  install_stop_handlers();
  // The other ranks of a distributed run write nothing and print no summary.
  const bool writer = !options.collective || options.collective->rank() == 0;
  std::vector<RunSummary> summaries;
  std::vector<std::string> busy;
  for (size_t slot = 0; slot < study.runs.size(); ++slot) {
    const Config& config = study.configs[slot];
    if (writer) {
      write_sweep_cell(sweep_cell(study.runs[slot], study.sweep.size(), study.config_path),
                       config.run_directory());
    }
    try {
      summaries.push_back(run_config(config, catalog, options, err));
    } catch (const RunBusyError& error) {
      err << "guidance: skipped run " << config.run.name << ": " << error.what() << "\n";
      if (progress_fd >= 0) write_all(progress_fd, "busy " + single_line(error.what()) + "\n");
      busy.push_back(config.run.name);
      continue;
    }
    if (!summaries.back().completed) break;
  }
  if (!summaries.empty() && writer) print_comparison(summaries, out);
  if (!summaries.empty() && !summaries.back().completed) {
    err << "guidance: interrupted; a checkpoint was saved. Continue with: guidance run "
        << config_arguments(study) << " --resume\n";
    return 130;
  }
  if (!busy.empty()) {
    err << "guidance: " << busy.size() << (busy.size() == 1 ? " run was" : " runs were")
        << " skipped because another process holds " << (busy.size() == 1 ? "it" : "them")
        << "; run the same command with --resume once that process ends\n";
    return 1;
  }
  return 0;
}

void print_comparison(const std::vector<RunSummary>& summaries, std::ostream& out) {
  std::vector<std::string> measures;
  for (const auto& summary : summaries) {
    for (const auto& [name, value] : summary.test) {
      if (std::find(measures.begin(), measures.end(), name) == measures.end()) measures.push_back(name);
    }
  }
  size_t width = 4;
  for (const auto& summary : summaries) width = std::max(width, summary.name.size());
  auto column = [](const std::string& measure) { return std::max<size_t>(24, measure.size() + 13); };
  out << "\n" << std::left << std::setw(width + 2) << "run" << std::setw(11) << "best step";
  for (const auto& measure : measures) out << std::setw(column(measure)) << ("train/test " + measure);
  out << "record\n";
  for (const auto& summary : summaries) {
    out << std::setw(width + 2) << summary.name << std::setw(11)
        << (summary.completed ? std::to_string(summary.best_step) : std::string("-"));
    for (const auto& measure : measures) {
      std::ostringstream cell;
      cell << std::fixed << std::setprecision(4);
      auto train = summary.train.find(measure);
      auto test = summary.test.find(measure);
      cell << (train != summary.train.end() ? train->second : NAN) << " / "
           << (test != summary.test.end() ? test->second : NAN);
      out << std::setw(column(measure)) << cell.str();
    }
    out << summary.record_path << (summary.completed ? "" : "  (interrupted)") << "\n";
  }
}

}  // namespace guidance
