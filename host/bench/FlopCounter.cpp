#include "host/bench/FlopCounter.h"

#include <atomic>
#include <cstring>
#include <memory>
#include <stdexcept>

#include <ATen/core/ivalue.h>

namespace guidance {

namespace {

std::atomic<int64_t> counted{0};
std::atomic<bool> counting{false};
thread_local int depth = 0;  // counted ops open on this thread

/// Marks a counted op, so its end callback closes it.
struct Counted : at::ObserverContext {};

int64_t product(c10::IntArrayRef sizes, size_t from = 0) {
  int64_t result = 1;
  for (size_t i = from; i < sizes.size(); ++i) result *= sizes[i];
  return result;
}

/// 2 · N · C_out · C_in/groups · kernel · spatial, `spatial` the output's (or, transposed, the
/// input's) positions: the multiply-adds of one convolution pass.
int64_t convolution_flops(c10::IntArrayRef input, c10::IntArrayRef weight, c10::IntArrayRef output,
                          bool transposed) {
  // weight: [C_out, C_in/groups, k...] (transposed: [C_in, C_out/groups, k...]).
  int64_t per_position = 2 * weight[0] * product(weight, 1);
  return per_position * input[0] * product(transposed ? input : output, 2);
}

std::vector<int64_t> convolution_output(c10::IntArrayRef input, c10::IntArrayRef weight,
                                        const std::vector<int64_t>& stride,
                                        const std::vector<int64_t>& padding,
                                        const std::vector<int64_t>& dilation) {
  std::vector<int64_t> output{input[0], weight[0]};
  for (size_t i = 2; i < input.size(); ++i) {
    auto at = [&](const std::vector<int64_t>& values) {
      return values.size() == 1 ? values[0] : values.at(i - 2);
    };
    output.push_back((input[i] + 2 * at(padding) - at(dilation) * (weight[i] - 1) - 1) / at(stride) +
                     1);
  }
  return output;
}

int64_t flops_of(const at::RecordFunction& fn) {
  const char* name = fn.name();
  if (std::strncmp(name, "aten::", 6) != 0 && std::strncmp(name, "guidance::", 10) != 0) return -1;
  auto inputs = fn.inputs();
  auto sizes = [&](size_t i) { return inputs.at(i).toTensor().sizes(); };
  if (std::strcmp(name, "aten::mm") == 0) return 2 * sizes(0)[0] * sizes(0)[1] * sizes(1)[1];
  if (std::strcmp(name, "aten::addmm") == 0) return 2 * sizes(1)[0] * sizes(1)[1] * sizes(2)[1];
  if (std::strcmp(name, "aten::bmm") == 0) {
    return 2 * sizes(0)[0] * sizes(0)[1] * sizes(0)[2] * sizes(1)[2];
  }
  if (std::strcmp(name, "aten::baddbmm") == 0) {
    return 2 * sizes(1)[0] * sizes(1)[1] * sizes(1)[2] * sizes(2)[2];
  }
  if (std::strcmp(name, "guidance::syrk") == 0) {
    int64_t order = sizes(1)[0];
    return order * order * (inputs.at(0).toTensor().numel() / order);
  }
  if (std::strcmp(name, "aten::convolution") == 0) {
    bool transposed = inputs.at(6).toBool();
    auto output = convolution_output(sizes(0), sizes(1), inputs.at(3).toIntVector(),
                                     inputs.at(4).toIntVector(), inputs.at(5).toIntVector());
    return convolution_flops(sizes(0), sizes(1), output, transposed);
  }
  if (std::strcmp(name, "aten::convolution_backward") == 0) {
    // (grad_output, input, weight, bias_sizes, stride, padding, dilation, transposed, ...,
    // output_mask): each of the input and weight gradients costs one forward pass.
    bool transposed = inputs.at(7).toBool();
    int64_t pass = convolution_flops(sizes(1), sizes(2), sizes(0), transposed);
    auto mask = inputs.at(10).toBoolList();
    return pass * (static_cast<int64_t>(mask.get(0)) + static_cast<int64_t>(mask.get(1)));
  }
  return -1;
}

std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction& fn) {
  if (!counting.load(std::memory_order_relaxed) || depth > 0) return nullptr;
  int64_t flops = flops_of(fn);
  if (flops < 0) return nullptr;
  counted.fetch_add(flops, std::memory_order_relaxed);
  ++depth;
  return std::make_unique<Counted>();
}

void on_end(const at::RecordFunction& /*fn*/, at::ObserverContext* context) {
  if (dynamic_cast<Counted*>(context) != nullptr) --depth;
}

}  // namespace

FlopCounter::FlopCounter() {
  if (counting.exchange(true)) throw std::logic_error("FlopCounter: one counter at a time");
  counted = 0;
  handle_ = at::addGlobalCallback(at::RecordFunctionCallback(&on_start, &on_end)
                                      .needsInputs(true)
                                      .scopes({at::RecordScope::FUNCTION}));
}

FlopCounter::~FlopCounter() {
  at::removeCallback(handle_);
  counting = false;
}

double FlopCounter::flops() const { return static_cast<double>(counted.load()); }

}  // namespace guidance
