#pragma once

#include <torch/torch.h>

#include "guidance/api/PluginApi.h"
#include "plugins/architecture/common/Linear.h"

namespace guidance::architecture {

/// The tail of the convolutional plugins: global average pooling over height and width, tapped
/// (the plugins declare it as their last tap, in both tap sets: the released extractor hooks the
/// `AdaptiveAvgPool2d`), then the linear classifier `head`.
/// @param features [B, C, H, W]
inline void pool_and_classify(const torch::Tensor& features, torch::nn::Linear& head,
                              NetworkOutput& out) {
  torch::Tensor pooled = features.mean({2, 3});
  out.taps.push_back(pooled);
  out.logits = linear(*head, pooled);
}

}  // namespace guidance::architecture
