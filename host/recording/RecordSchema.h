#pragma once

#include <cstdint>
#include <string>

namespace guidance::record_schema {

/// Names of the objects in a run record, shared by the writer (RunRecord) and the readers
/// (analysis). docs/record-format.md describes each one.

constexpr const char* kFormatName = "guidance-run-record";  ///< root attribute `format`
constexpr int64_t kFormatVersion = 2;  ///< root attribute `format_version`: 2 adds final rows, predictions

constexpr const char* kConfig = "config";            ///< scalar string: resolved config (TOML)
constexpr const char* kProvenance = "provenance";    ///< group of attributes
constexpr const char* kPlugins = "provenance/plugins";  ///< group: kind, name, version, library

constexpr const char* kLayout = "layout";  ///< group: pair_names, measure_names, *_taps, metrics

constexpr const char* kTraining = "training";      ///< group of columns, one row per step
constexpr const char* kEvaluation = "evaluation";  ///< group of columns, one row per evaluation
constexpr const char* kProbe = "probe";            ///< group: indices, labels
constexpr const char* kSnapshots = "snapshots";    ///< group: step, activations, similarity

/// Training columns of one value per row, in file order; `step` is always written last.
constexpr const char* kTrainingIntColumns[] = {"epoch"};
constexpr const char* kTrainingRealColumns[] = {"learning_rate", "total_loss", "task_loss",
                                                "guidance_loss", "distill_loss"};
/// Width in bytes of the fixed-length ASCII `evaluation/split` column.
constexpr int kSplitWidth = 16;

/// Prefix of the `evaluation/split` of the rows that evaluate the weights reloaded after training
/// (the best validation step's, or the last step's without selection): "best/train",
/// "best/validation", "best/test". Their `step` is the last training step (rows never go back in
/// step); the provenance attribute `best_step` names the step whose weights they evaluate. These
/// rows are a run's final measures, written last, before the state becomes "completed".
constexpr const char* kFinalSplitPrefix = "best/";
/// @return whether an `evaluation/split` value is one of the final rows ("best/...").
inline bool is_final_split(const std::string& split) {
  return split.rfind(kFinalSplitPrefix, 0) == 0;
}
constexpr const char* kBestStep = "best_step";  ///< provenance attribute, int64; -1 until the end

/// Group of per-example test predictions of the final weights (docs/record-format.md):
/// `predictions/<network>/{indices, predicted, correct}`, network "target" or "guide".
constexpr const char* kPredictions = "predictions";

/// @return "snapshots/activations/<side>/<tap>" (side: "guide" or "target").
inline std::string activation_path(const std::string& side, const std::string& tap) {
  return std::string(kSnapshots) + "/activations/" + side + "/" + tap;
}

/// @return "snapshots/similarity/<metric>/<which>" (which: "guide_target", "target_target",
/// "guide_guide").
inline std::string similarity_path(const std::string& metric, const std::string& which) {
  return std::string(kSnapshots) + "/similarity/" + metric + "/" + which;
}

}  // namespace guidance::record_schema
