#include "host/training/GuidanceLoss.h"

#include <c10/util/Exception.h>

namespace guidance {

torch::Tensor tap_matrix(const torch::Tensor& tap, TapLayout layout, const torch::Tensor& mask) {
  torch::Tensor values = tap;
  if (layout == TapLayout::Sequence && mask.defined() && tap.dim() == 3 &&
      mask.size(1) == tap.size(1)) {
    values = tap * mask.unsqueeze(-1).to(tap.dtype());
  }
  return values.reshape({values.size(0), -1});
}

namespace {

torch::Tensor positionwise_distance(const Metric& metric, const torch::Tensor& target,
                                    const torch::Tensor& guide, const torch::Tensor& mask) {
  torch::Tensor total = torch::zeros({}, target.options());
  const int64_t length = std::min(target.size(1), guide.size(1));
  for (int64_t position = 0; position < length; ++position) {
    torch::Tensor x = target.select(1, position);
    torch::Tensor y = guide.select(1, position);
    if (mask.defined()) {
      torch::Tensor rows = mask.select(1, position).nonzero().squeeze(-1);
      // Late positions of short batches hold few real tokens; the metric is undefined there.
      if (rows.numel() < metric.traits().min_rows) continue;
      x = x.index_select(0, rows);
      y = y.index_select(0, rows);
    }
    total = total + metric.distance(x, y);
  }
  return total;
}

}  // namespace

GuidanceTerms guidance_terms(const Metric& metric, const std::vector<TapPair>& pairs,
                             const std::vector<TapSpec>& guide_specs,
                             const std::vector<TapSpec>& target_specs,
                             const std::vector<torch::Tensor>& guide_taps,
                             const std::vector<torch::Tensor>& target_taps,
                             const torch::Tensor& mask, SequenceComparison comparison) {
  const torch::Tensor used_mask = comparison.mask_padding ? mask : torch::Tensor();
  GuidanceTerms terms;
  for (const TapPair& pair : pairs) {
    const torch::Tensor& target = target_taps.at(pair.target_index);
    const torch::Tensor& guide = guide_taps.at(pair.guide_index);
    TapLayout target_layout = target_specs.at(pair.target_index).layout;
    TapLayout guide_layout = guide_specs.at(pair.guide_index).layout;
    torch::Tensor distance;
    if (target.size(0) < metric.traits().min_rows) {
      // A final batch too small for the metric adds no guidance term rather than end the run.
      distance = torch::zeros({}, target.options());
    } else if (comparison.tokenwise && target_layout == TapLayout::Sequence &&
               guide_layout == TapLayout::Sequence && target.dim() == 3 && guide.dim() == 3) {
      distance = positionwise_distance(metric, target, guide, used_mask);
    } else {
      distance = metric.distance(tap_matrix(target, target_layout, used_mask),
                                 tap_matrix(guide, guide_layout, used_mask));
    }
    terms.per_pair.push_back(distance.item<double>());
    terms.total = terms.total.defined() ? terms.total + distance : distance;
  }
  if (!terms.total.defined()) terms.total = torch::zeros({});
  return terms;
}

torch::Tensor distillation_loss(const torch::Tensor& target_logits,
                                const torch::Tensor& guide_logits, double temperature,
                                const torch::Tensor& mask) {
  TORCH_CHECK(target_logits.sizes() == guide_logits.sizes(),
              "distillation needs logits of one shape, got target ", target_logits.sizes(),
              " and guide ", guide_logits.sizes());
  TORCH_CHECK(temperature > 0, "distillation temperature must be > 0, got ", temperature);
  torch::Tensor log_student = (target_logits.to(torch::kFloat) / temperature).log_softmax(-1);
  torch::Tensor log_teacher =
      (guide_logits.detach().to(torch::kFloat) / temperature).log_softmax(-1);
  torch::Tensor per_unit = (log_teacher.exp() * (log_teacher - log_student)).sum(-1);
  torch::Tensor kl;
  if (per_unit.dim() >= 2 && mask.defined() && mask.sizes() == per_unit.sizes()) {
    torch::Tensor weights = mask.to(per_unit.dtype());
    kl = (per_unit * weights).sum() / weights.sum().clamp_min(1.0);
  } else {
    kl = per_unit.mean();
  }
  return kl * (temperature * temperature);
}

}  // namespace guidance
