#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace guidance {

/// What a network consumes.
enum class InputKind {
  Image,   ///< float tensor [batch, channels, height, width]
  Tokens,  ///< int64 tensor [batch, length], padded; a bool mask [batch, length] marks real tokens
};

/// What a network must predict, and so the shape of its logits.
enum class TargetKind {
  Class,             ///< one class per example: logits [batch, classes], targets int64 [batch]
  TokenPerPosition,  ///< one token per position: logits [batch, length, vocab], targets [batch, length]
};

/// The loss of a Class task.
enum class ClassLoss {
  CrossEntropy,  ///< softmax cross-entropy of the logits against the class index
  /// Sigmoid binary cross-entropy of every logit against one_hot(class), averaged over
  /// batch × classes: the authors' parity loss (`BCEWithLogitsLoss` on two logits).
  OneHotBinaryCrossEntropy,
};

/// Evaluation measures the host knows how to compute; a dataset lists the ones that apply.
namespace measures {
inline constexpr const char* kTop1 = "top1";                  ///< fraction of examples right
inline constexpr const char* kTop5 = "top5";                  ///< target among the 5 best logits
inline constexpr const char* kTokenAccuracy = "token_accuracy";        ///< over scored positions
inline constexpr const char* kSequenceAccuracy = "sequence_accuracy";  ///< all scored positions right
inline constexpr const char* kPerplexity = "perplexity";      ///< exp(mean token cross-entropy)
}  // namespace measures

/// Everything an architecture needs to know about the task to size itself, and everything the
/// host needs to compute the loss and the measures. Produced by a dataset.
struct TaskSpec {
  std::string name;                   ///< e.g. "fashion-mnist", "copy-paste"
  InputKind input_kind = InputKind::Image;
  std::vector<int64_t> input_shape;   ///< Image: {channels, height, width}; Tokens: {max_length}
  int64_t vocab_size = 0;             ///< Tokens only: ids are in [0, vocab_size)
  int64_t pad_token = 0;              ///< Tokens only: the id used for padding
  TargetKind target_kind = TargetKind::Class;
  int64_t num_outputs = 0;            ///< classes (Class) or output vocabulary (TokenPerPosition)
  ClassLoss class_loss = ClassLoss::CrossEntropy;  ///< Class only: the task loss
  std::vector<std::string> measures;  ///< names from guidance::measures, in report order
};

}  // namespace guidance
