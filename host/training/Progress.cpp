#include "host/training/Progress.h"

#include <unistd.h>

#include <cstdio>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "host/common/TextFormat.h"

namespace guidance {

bool is_terminal(const std::ostream& stream) {
  if (&stream == &std::cerr) return isatty(fileno(stderr)) != 0;
  if (&stream == &std::cout) return isatty(fileno(stdout)) != 0;
  return false;
}

ProgressPrinter::ProgressPrinter(std::ostream& out, std::string label, bool terminal, bool quiet,
                                 int64_t log_every)
    : out_(out), label_(std::move(label)), terminal_(terminal), quiet_(quiet),
      log_every_(std::max<int64_t>(1, log_every)) {}

void ProgressPrinter::on_step(const StepReport& report) {
  if (quiet_) return;
  auto now = std::chrono::steady_clock::now();
  if (first_step_ < 0) {
    first_step_ = report.step - 1;
    started_ = now;
  }
  bool last = report.step == report.total_steps;
  if (terminal_) {
    if (!last && now - last_draw_ < std::chrono::milliseconds(100)) return;
  } else if (report.step % log_every_ != 0 && !last) {
    return;
  }
  last_draw_ = now;
  double elapsed = std::chrono::duration<double>(now - started_).count();
  double rate = elapsed > 0 ? static_cast<double>(report.step - first_step_) / elapsed : 0.0;
  double eta = rate > 0 ? static_cast<double>(report.total_steps - report.step) / rate : 0.0;
  std::ostringstream line;
  line << std::fixed << label_ << " epoch " << report.epoch + 1 << " step " << report.step << "/"
       << report.total_steps << "  loss " << std::setprecision(4) << report.total_loss << " (task "
       << report.task_loss;
  if (report.guidance_loss != 0) line << ", guidance " << report.guidance_loss;
  line << ")  lr " << std::setprecision(2) << std::scientific << report.learning_rate << std::fixed
       << "  " << std::setprecision(1) << rate << " steps/s  ETA " << duration_text(eta);
  if (terminal_) {
    out_ << "\r\033[K" << line.str() << std::flush;
    line_open_ = true;
  } else {
    out_ << line.str() << std::endl;
  }
}

void ProgressPrinter::on_evaluation(const EvaluationReport& report) {
  if (quiet_) return;
  finish_line();
  out_ << label_ << " epoch " << report.epoch + 1 << " step " << report.step << "  "
       << to_string(report.split) << ":";
  for (const auto& [name, value] : report.measures) {
    out_ << " " << name << " " << std::fixed << std::setprecision(4) << value;
  }
  out_ << std::endl;
}

void ProgressPrinter::finish_line() {
  if (line_open_) out_ << "\n";
  line_open_ = false;
}

}  // namespace guidance
