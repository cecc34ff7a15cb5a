#pragma once

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "guidance/api/Metric.h"
#include "host/common/Errors.h"
#include "host/recording/RunRecord.h"

namespace guidance::testing {

/// @return the message of the RunError `call` throws, or "(no error)".
template <typename Call>
std::string error_of(Call call) {
  try {
    call();
  } catch (const RunError& error) {
    return error.what();
  }
  return "(no error)";
}

/// Linear CKA on centred features (Kornblith et al. 2019), the similarity check_record.py
/// recomputes with NumPy; defined here so record tests do not depend on a metric plugin.
class TestLinearCka : public Metric {
 public:
  torch::Tensor compute(const torch::Tensor& x, const torch::Tensor& y) const override {
    // The n × n Gram form: ||BᵀA||²_F = ⟨AAᵀ, BBᵀ⟩, cheap for wide activations.
    torch::Tensor a = x - x.mean(0, true);
    torch::Tensor b = y - y.mean(0, true);
    torch::Tensor k = a.mm(a.t());
    torch::Tensor l = b.mm(b.t());
    return (k * l).sum() / ((k * k).sum().sqrt() * (l * l).sum().sqrt());
  }
  const MetricTraits& traits() const override {
    static const MetricTraits traits = [] {
      MetricTraits t;
      t.differentiable = true;
      t.sense = MetricSense::Similarity;
      t.formula = "||B^T A||_F^2 / (||A^T A||_F ||B^T B||_F), centred A, B";
      return t;
    }();
    return traits;
  }
};

/// The shape of a small guided run: three guide taps, four target taps, three layer pairs.
inline RecordLayout synthetic_layout(
    ActivationDtype activation_dtype = ActivationDtype::Float32, bool guided = true) {
  RecordLayout layout;
  if (guided) {
    layout.guide_taps = {"conv1", "conv2", "fc"};
    layout.pair_names = {"guide.conv1->target.fc1", "guide.conv2->target.fc2",
                         "guide.fc->target.out"};
  }
  layout.target_taps = {"fc1", "fc2", "fc3", "out"};
  layout.measure_names = {"top1", "top5"};
  layout.metrics = {"linear-cka"};
  layout.activation_dtype = activation_dtype;
  return layout;
}

/// Provenance of a synthetic run (seed and config text are what tests look for).
inline Provenance synthetic_provenance(uint64_t seed = 7) {
  Provenance provenance;
  provenance.workbench_version = "0.1.0-test";
  provenance.torch_version = "1.13.1";
  provenance.host = "test-host";
  provenance.config_path = "configs/synthetic.toml";
  provenance.config_toml = "[run]\nname = \"synthetic\"\nseed = " + std::to_string(seed) + "\n";
  provenance.start_time = "2024-01-01T00:00:00Z";
  provenance.seed = seed;
  provenance.threads = 1;
  provenance.plugins = {{"metric", "linear-cka", "1.0.0", "lib/libguidance-linear-cka.so"}};
  return provenance;
}

/// A training row whose losses fall with the step (`quality` scales how fast).
inline TrainingRow synthetic_training_row(int64_t step, size_t pairs, double quality = 1.0) {
  TrainingRow row;
  row.step = step;
  row.epoch = step / 10;
  row.learning_rate = 0.1 / (1.0 + 0.01 * static_cast<double>(step));
  row.task_loss = 2.3 * std::exp(-0.02 * quality * static_cast<double>(step)) + 0.1;
  for (size_t i = 0; i < pairs; ++i) {
    row.pair_distances.push_back(0.9 * std::exp(-0.03 * quality * static_cast<double>(step)) +
                                 0.05 * static_cast<double>(i));
  }
  for (double distance : row.pair_distances) row.guidance_loss += distance;
  row.total_loss = row.task_loss + row.guidance_loss;
  return row;
}

/// A validation evaluation whose accuracy rises with the step.
inline EvaluationRow synthetic_evaluation_row(int64_t step, double quality = 1.0) {
  EvaluationRow row;
  row.step = step;
  row.epoch = step / 10;
  row.split = "validation";
  double accuracy = 1.0 - 0.9 * std::exp(-0.02 * quality * static_cast<double>(step));
  row.loss = 2.0 * (1.0 - accuracy) + 0.05;
  row.measures = {{"top1", accuracy}, {"top5", std::min(1.0, accuracy + 0.1)}};
  return row;
}

/// Activations of the synthetic taps on n probes at a step: guide taps are fixed random
/// features; target taps mix a linear map of the guide's with noise that fades as training goes
/// on, so guide × target similarity grows with the step.
struct SyntheticActivations {
  std::vector<torch::Tensor> guide;
  std::vector<torch::Tensor> target;
};

inline SyntheticActivations synthetic_activations(const RecordLayout& layout, int64_t n,
                                                  int64_t step, double quality = 1.0) {
  torch::manual_seed(1000);
  torch::Tensor base = torch::randn({n, 10});
  std::vector<torch::Tensor> guide = {
      torch::tanh(base.mm(torch::randn({10, 36}))).reshape({n, 4, 3, 3}),
      torch::relu(base.mm(torch::randn({10, 32}))).reshape({n, 8, 2, 2}),
      base.mm(torch::randn({10, 10}))};
  torch::manual_seed(2000 + step);
  double noise = std::exp(-0.03 * quality * static_cast<double>(step));
  const int64_t widths[] = {16, 12, 8, 10};
  SyntheticActivations activations;
  if (!layout.guide_taps.empty()) activations.guide = guide;
  for (size_t i = 0; i < layout.target_taps.size(); ++i) {
    torch::Tensor source = guide[std::min<size_t>(i, 2)].reshape({n, -1});
    torch::Tensor signal = source.mm(torch::randn({source.size(1), widths[i]}));
    activations.target.push_back(signal + 3.0 * noise * torch::randn({n, widths[i]}));
  }
  return activations;
}

/// Writes a whole synthetic run: training rows for steps 1..steps, an evaluation and a snapshot
/// every `every` steps (flushed there), then finish("completed").
inline void write_synthetic_run(const std::string& path, int64_t steps, int64_t every,
                                const RecordLayout& layout = synthetic_layout(),
                                double quality = 1.0, int64_t probes = 24,
                                const Provenance& provenance = synthetic_provenance()) {
  auto record = RunRecord::create(path, provenance, layout);
  record->write_probe(torch::arange(probes) * 3, torch::arange(probes) % 10);
  std::vector<std::shared_ptr<Metric>> metrics(layout.metrics.size(),
                                               std::make_shared<TestLinearCka>());
  for (int64_t step = 1; step <= steps; ++step) {
    record->append_training(synthetic_training_row(step, layout.pair_names.size(), quality));
    if (step % every == 0) {
      record->append_evaluation(synthetic_evaluation_row(step, quality));
      SyntheticActivations activations = synthetic_activations(layout, probes, step, quality);
      record->write_snapshot(step, activations.guide, activations.target, metrics);
    }
  }
  record->finish(RecordState::Completed, "2024-01-01T01:00:00Z");
}

}  // namespace guidance::testing
