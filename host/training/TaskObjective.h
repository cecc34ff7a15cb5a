#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <torch/types.h>

#include "guidance/api/Dataset.h"
#include "guidance/api/Task.h"

namespace guidance {

/// The task loss. Class tasks: as `task.class_loss` says, softmax cross-entropy against the class
/// index, or the sigmoid binary cross-entropy of every logit against one_hot(class) averaged over
/// batch × classes. Token tasks: cross-entropy averaged over the scored positions.
torch::Tensor task_loss(const TaskSpec& task, const torch::Tensor& logits, const Batch& batch);

/// Accumulates a task's loss and measures over batches, weighting by examples (or by scored
/// tokens for token tasks), so the result equals a single pass over the whole split.
class MeasureAccumulator {
 public:
  explicit MeasureAccumulator(const TaskSpec& task) : task_(task) {}

  /// Adds one batch's logits (no gradient needed).
  void add(const torch::Tensor& logits, const Batch& batch);

  /// @return "loss" and each of the task's measures.
  std::map<std::string, double> result() const;

  /// Replaces the accumulated sums with `sum(sums)`: their sums over the ranks of a distributed
  /// run, each of which added its share of the examples.
  void combine(const std::function<std::vector<double>(std::vector<double>)>& sum);

 private:
  const TaskSpec& task_;
  double loss_sum_ = 0;          // summed per-example (or per-token) task loss
  double units_ = 0;             // examples (Class) or scored tokens (TokenPerPosition)
  double top1_ = 0;
  double top5_ = 0;
  double sequences_ = 0;
  double sequences_right_ = 0;
};

/// Per-example predictions of a network on a batch.
struct ExamplePredictions {
  torch::Tensor predicted;  ///< int64 [B] (Class) or [B, L] (TokenPerPosition): the argmax
  torch::Tensor correct;    ///< int8, shaped as `predicted`: 1 right, 0 wrong, -1 not scored
};

/// @return the predictions in `logits` for `batch`, on the CPU.
ExamplePredictions predictions_of(const TaskSpec& task, const torch::Tensor& logits,
                                  const Batch& batch);

/// @return the measures MeasureAccumulator computes for tasks of `kind`; a dataset's
/// TaskSpec::measures must name only these (the first is a run's headline measure).
const std::vector<std::string>& computed_measures(TargetKind kind);

/// @return whether a larger value of a measure is better (false for "loss" and "perplexity").
bool higher_is_better(const std::string& measure);

}  // namespace guidance
