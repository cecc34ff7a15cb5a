#include "host/training/TaskObjective.h"

#include <cmath>

#include <torch/nn/functional/loss.h>

namespace guidance {

namespace F = torch::nn::functional;

namespace {

// Per example, so that the accumulator's sums weight every example alike for either loss.
torch::Tensor class_losses(const TaskSpec& task, const torch::Tensor& logits,
                           const torch::Tensor& targets) {
  if (task.class_loss == ClassLoss::OneHotBinaryCrossEntropy) {
    torch::Tensor one_hot = torch::one_hot(targets, logits.size(-1)).to(logits.scalar_type());
    return F::binary_cross_entropy_with_logits(
               logits, one_hot,
               F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone))
        .mean(-1);
  }
  return F::cross_entropy(logits, targets, F::CrossEntropyFuncOptions().reduction(torch::kNone));
}

}  // namespace

torch::Tensor task_loss(const TaskSpec& task, const torch::Tensor& logits, const Batch& batch) {
  if (task.target_kind == TargetKind::Class) return class_losses(task, logits, batch.targets).mean();
  torch::Tensor per_token = F::cross_entropy(
      logits.reshape({-1, logits.size(-1)}), batch.targets.reshape({-1}),
      F::CrossEntropyFuncOptions().reduction(torch::kNone));
  torch::Tensor scored = batch.target_mask.reshape({-1}).to(per_token.dtype());
  return (per_token * scored).sum() / scored.sum().clamp_min(1.0);
}

void MeasureAccumulator::add(const torch::Tensor& logits_in, const Batch& batch) {
  torch::NoGradGuard no_grad;
  torch::Tensor logits = logits_in.to(torch::kFloat);
  if (task_.target_kind == TargetKind::Class) {
    torch::Tensor targets = batch.targets;
    loss_sum_ += class_losses(task_, logits, targets).sum().item<double>();
    units_ += static_cast<double>(targets.size(0));
    int64_t k = std::min<int64_t>(5, logits.size(-1));
    torch::Tensor best = std::get<1>(logits.topk(k, -1));
    torch::Tensor hits = best.eq(targets.unsqueeze(-1));
    top1_ += hits.select(-1, 0).sum().item<double>();
    top5_ += hits.any(-1).sum().item<double>();
    return;
  }
  torch::Tensor mask = batch.target_mask;
  torch::Tensor per_token = F::cross_entropy(
      logits.reshape({-1, logits.size(-1)}), batch.targets.reshape({-1}),
      F::CrossEntropyFuncOptions().reduction(torch::kNone)).reshape(batch.targets.sizes());
  torch::Tensor scored = mask.to(torch::kFloat);
  loss_sum_ += (per_token * scored).sum().item<double>();
  units_ += scored.sum().item<double>();
  torch::Tensor right = logits.argmax(-1).eq(batch.targets);
  top1_ += (right & mask).sum().item<double>();
  // A sequence is right when every scored position is; sequences with nothing scored don't count.
  torch::Tensor has_scored = mask.any(-1);
  torch::Tensor all_right = (right | ~mask).all(-1) & has_scored;
  sequences_ += has_scored.sum().item<double>();
  sequences_right_ += all_right.sum().item<double>();
}

void MeasureAccumulator::combine(
    const std::function<std::vector<double>(std::vector<double>)>& sum) {
  std::vector<double> sums =
      sum({loss_sum_, units_, top1_, top5_, sequences_, sequences_right_});
  loss_sum_ = sums[0];
  units_ = sums[1];
  top1_ = sums[2];
  top5_ = sums[3];
  sequences_ = sums[4];
  sequences_right_ = sums[5];
}

std::map<std::string, double> MeasureAccumulator::result() const {
  std::map<std::string, double> result;
  double units = std::max(units_, 1.0);
  result["loss"] = loss_sum_ / units;
  for (const auto& measure : task_.measures) {
    if (measure == measures::kTop1 || measure == measures::kTokenAccuracy) {
      result[measure] = top1_ / units;
    } else if (measure == measures::kTop5) {
      result[measure] = top5_ / units;
    } else if (measure == measures::kSequenceAccuracy) {
      result[measure] = sequences_right_ / std::max(sequences_, 1.0);
    } else if (measure == measures::kPerplexity) {
      result[measure] = std::exp(loss_sum_ / units);
    }
  }
  return result;
}

ExamplePredictions predictions_of(const TaskSpec& task, const torch::Tensor& logits,
                                  const Batch& batch) {
  torch::NoGradGuard no_grad;
  ExamplePredictions result;
  result.predicted = logits.argmax(-1).to(torch::kCPU, torch::kLong);
  torch::Tensor targets = batch.targets.to(torch::kCPU);
  result.correct = result.predicted.eq(targets).to(torch::kChar);
  if (task.target_kind != TargetKind::Class) {
    result.correct.masked_fill_(batch.target_mask.to(torch::kCPU).logical_not(), -1);
  }
  return result;
}

const std::vector<std::string>& computed_measures(TargetKind kind) {
  static const std::vector<std::string> classes = {measures::kTop1, measures::kTop5,
                                                   measures::kPerplexity};
  static const std::vector<std::string> positions = {
      measures::kTokenAccuracy, measures::kSequenceAccuracy, measures::kPerplexity};
  return kind == TargetKind::Class ? classes : positions;
}

bool higher_is_better(const std::string& measure) {
  return measure != "loss" && measure != measures::kPerplexity;
}

}  // namespace guidance
