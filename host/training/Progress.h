#pragma once

#include <chrono>
#include <ostream>
#include <string>

#include "host/training/Trainer.h"

namespace guidance {

/// Prints training progress: on a terminal one live line (epoch, step, loss parts, steps/s,
/// ETA) redrawn in place; otherwise a plain line every `log_every` steps. Evaluations always get
/// a line of their own. Quiet mode prints nothing.
class ProgressPrinter : public TrainingObserver {
 public:
  ProgressPrinter(std::ostream& out, std::string label, bool terminal, bool quiet,
                  int64_t log_every);

  void on_step(const StepReport& report) override;
  void on_evaluation(const EvaluationReport& report) override;

  /// Ends a live line so that the next output starts on a fresh line.
  void finish_line();

 private:
  std::ostream& out_;
  std::string label_;
  bool terminal_;
  bool quiet_;
  int64_t log_every_;
  bool line_open_ = false;
  int64_t first_step_ = -1;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point last_draw_;
};

/// @return whether a stream writes to a terminal (only std::cerr/std::cout can).
bool is_terminal(const std::ostream& stream);

}  // namespace guidance
