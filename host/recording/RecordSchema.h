#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "host/common/EnumNames.h"
#include "host/recording/ActivationDtype.h"

/// The run record's schema (docs/record-format.md), shared by the writer (RunRecord) and the
/// readers (analysis::RecordReader, `run --resume`, the study runner): the values a record holds,
/// the names of its objects, and each table's columns bound to the row struct they come from.
/// Every name and column is declared here once; writer and readers iterate the same lists.

namespace guidance {

/// @return why `name` cannot name an object of a record (a tap's, a metric's or a measure's
/// dataset), or nothing when it can: HDF5 reads '/' as a path and '.' as the group itself.
inline std::optional<std::string> record_name_problem(const std::string& name) {
  if (name.empty()) return "it is empty";
  if (name == ".") return "'.' names the group itself";
  if (name.find('/') != std::string::npos) return "'/' separates HDF5 path components";
  return std::nullopt;
}

/// The provenance `state` of a record.
enum class RecordState { Running, Completed, Interrupted, Failed };
/// The spelling of each RecordState in the file, in enum order.
inline constexpr std::array<const char*, 4> kRecordStateNames = {"running", "completed",
                                                                 "interrupted", "failed"};
inline const char* to_string(RecordState state) {
  return kRecordStateNames[static_cast<size_t>(state)];
}
/// @return the state spelled `name` in a record, or nothing when no state is.
inline std::optional<RecordState> record_state_named(const std::string& name) {
  return enumerator_named<RecordState>(kRecordStateNames, name);
}

/// What a record holds, fixed when it is created (HDF5 SWMR writers cannot add objects later,
/// so everything with a known shape is created up front).
struct RecordLayout {
  std::vector<std::string> pair_names;     ///< mapped layer pairs, e.g. "guide.conv1->target.fc2"
  std::vector<std::string> measure_names;  ///< evaluation measures, e.g. "top1"
  std::vector<std::string> guide_taps;     ///< empty for unguided runs
  std::vector<std::string> target_taps;
  std::vector<std::string> metrics;  ///< similarity metrics recorded at snapshots
  ActivationDtype activation_dtype = ActivationDtype::Float32;
};

/// A plugin a run used, as recorded in its provenance.
struct RecordPlugin {
  std::string kind;     ///< "architecture", "dataset", "metric" or "guide-init"
  std::string name;     ///< the lookup name configs use
  std::string version;  ///< the plugin's own version
  std::string library;  ///< path of the shared library it came from
};

/// Where a run came from: everything needed to reproduce it.
struct Provenance {
  std::string workbench_version;  ///< GUIDANCE_VERSION of the binary that ran it
  std::string torch_version;      ///< LibTorch version, e.g. "1.13.1"
  std::string host;               ///< host name of the machine
  std::string config_path;        ///< the config file the run was started from
  std::string config_toml;        ///< the resolved config (defaults filled in), as TOML text
  std::string start_time;         ///< ISO 8601, e.g. "2024-05-01T12:00:00Z"
  uint64_t seed = 0;              ///< the run's seed
  int threads = 1;                ///< torch intra-op threads
  std::vector<RecordPlugin> plugins;
};

/// One training step's losses.
struct TrainingRow {
  int64_t step = 0;
  int64_t epoch = 0;
  double learning_rate = 0.0;
  double total_loss = 0.0;  ///< task + α · guidance
  double task_loss = 0.0;
  double guidance_loss = 0.0;  ///< Σ over layer pairs of the metric's distance (before α)
  double distill_loss = 0.0;   ///< distillation KL, T²-scaled, before its weight (0 when off)
  std::vector<double> pair_distances;  ///< one per layer pair, in the order of pair_names
};

/// One evaluation of the target on a split.
struct EvaluationRow {
  int64_t step = 0;
  int64_t epoch = 0;
  std::string split;  ///< "train", "validation" or "test" (at most 16 ASCII characters)
  double loss = 0.0;
  std::map<std::string, double> measures;  ///< keys among RecordLayout::measure_names
};

/// Per-example test predictions of one network (`predictions/<network>`).
struct Predictions {
  std::vector<int64_t> indices;    ///< test example indices [N]
  std::vector<int64_t> predicted;  ///< row-major [N, width]: predicted class (or token)
  std::vector<int8_t> correct;     ///< row-major [N, width]: 1 correct, 0 wrong, −1 not scored
  /// Values per example: 1 for one label per example (datasets [N]), L for a token per position
  /// (datasets [N, L]).
  size_t width = 1;
};

namespace record_schema {

constexpr const char* kFormatName = "guidance-run-record";  ///< root attribute `format`
/// Root attribute `format_version`: 2 adds final rows and predictions, 3 the activations'
/// `example_shape`, 4 checksums: Fletcher-32 on every dataset with data (chunked), FNV-1a 64 of the
/// strings (kStringsChecksum, kStringAttributesChecksum), 5 fixed-length (null-padded UTF-8)
/// strings instead of variable-length ones, so no record has a global heap for damage to crash HDF5
/// in. Readers read every version up to this one, and verify checksums where a record has them.
constexpr int64_t kFormatVersion = 5;

constexpr const char* kFormatAttribute = "format";                 ///< root attribute: kFormatName
constexpr const char* kFormatVersionAttribute = "format_version";  ///< root attribute: the version

/// Attribute (uint64) of a string dataset: hdf5::strings_checksum() of its strings (format version
/// 4 on). Variable-length strings live in HDF5's global heap, which has no checksum of its own.
constexpr const char* kStringsChecksum = "fnv1a64";
/// Attribute (uint64) of an object with string attributes: over all of them in name order (byte
/// order), hdf5::strings_checksum() of the name continued by that of the values.
constexpr const char* kStringAttributesChecksum = "string_attributes_fnv1a64";

constexpr const char* kConfig = "config";          ///< scalar string: resolved config (TOML)
constexpr const char* kProvenance = "provenance";  ///< group of attributes
/// Group in `provenance`: one column per RecordPlugin field.
constexpr const char* kPlugins = "plugins";

constexpr const char* kLayout = "layout";  ///< group: one string list per RecordLayout list

constexpr const char* kTraining = "training";      ///< group of columns, one row per step
constexpr const char* kEvaluation = "evaluation";  ///< group of columns, one row per evaluation
constexpr const char* kProbe = "probe";            ///< group: indices, labels, source_rows
constexpr const char* kProbeIndices =
    "indices";                                  ///< `probe` dataset: int64 [n], validation examples
constexpr const char* kProbeLabels = "labels";  ///< `probe` dataset: int64 [n] or [n, L]
/// `probe` dataset: int64 [n], the probe examples' rows in the data read (Dataset::source); only
/// when the dataset says. Its string attribute kProbeSourcePart names the part the rows index.
constexpr const char* kProbeSourceRows = "source_rows";
constexpr const char* kProbeSourcePart = "part";
constexpr const char* kSnapshots = "snapshots";    ///< group: step, activations, similarity
/// `snapshots` attribute naming the ActivationDtype.
constexpr const char* kActivationDtype = "activation_dtype";
constexpr const char* kActivations = "activations";  ///< group in `snapshots`: one group per side
constexpr const char* kSimilarity = "similarity";    ///< group in `snapshots`: one group per metric
/// Attribute of each activation dataset: int64 [rank − 1], the tap's shape per example (the
/// activation without its example axis, e.g. [64, 14, 14]); the stored F is its product.
constexpr const char* kExampleShape = "example_shape";
/// String attributes of each similarity matrix: the side of its rows and of its columns.
constexpr const char* kRowsSide = "rows";
constexpr const char* kColumnsSide = "columns";
/// String-list attributes naming a matrix's rows and columns: the taps of a similarity matrix, and
/// (kColumnLabels) the layout list of a table's labelled column.
constexpr const char* kRowLabels = "row_labels";
constexpr const char* kColumnLabels = "column_labels";

/// Provenance attributes beyond the Provenance fields bound below.
constexpr const char* kHdf5Version = "hdf5_version";  ///< str: HDF5 library that wrote the file
constexpr const char* kEndTime = "end_time";          ///< str: ISO 8601, "" until the run ends
constexpr const char* kState = "state";               ///< str: a RecordState name
constexpr const char* kSeed = "seed";                 ///< uint64
constexpr const char* kThreads = "threads";           ///< int64
constexpr const char* kResumedAt = "resumed_at";      ///< str [r]: one time per resume
constexpr const char* kBestStep = "best_step";        ///< int64; -1 until the end

/// @return "provenance/plugins".
inline std::string plugins_path() { return std::string(kProvenance) + "/" + kPlugins; }

/// A field of a struct bound to the name it has in the file.
template <typename Struct, typename Field>
struct Binding {
  const char* name;
  Field Struct::*member;
};

/// `provenance` string attributes taken from Provenance, in the order readers list them.
inline const std::array<Binding<Provenance, std::string>, 5> kProvenanceTexts = {{
    {"workbench_version", &Provenance::workbench_version},
    {"torch_version", &Provenance::torch_version},
    {"host", &Provenance::host},
    {"config_path", &Provenance::config_path},
    {"start_time", &Provenance::start_time},
}};

/// Columns of `provenance/plugins`, one entry per plugin.
inline const std::array<Binding<RecordPlugin, std::string>, 4> kPluginColumns = {{
    {"kind", &RecordPlugin::kind},
    {"name", &RecordPlugin::name},
    {"version", &RecordPlugin::version},
    {"library", &RecordPlugin::library},
}};

/// String lists of the `layout` group.
inline const std::array<Binding<RecordLayout, std::vector<std::string>>, 5> kLayoutLists = {{
    {"pair_names", &RecordLayout::pair_names},
    {"measure_names", &RecordLayout::measure_names},
    {"guide_taps", &RecordLayout::guide_taps},
    {"target_taps", &RecordLayout::target_taps},
    {"metrics", &RecordLayout::metrics},
}};

/// Width in bytes of a table's text column (`evaluation/split`): fixed-length ASCII.
constexpr int kSplitWidth = 16;
constexpr const char* kStep = "step";    ///< every table's step column, and the snapshots' steps
constexpr const char* kEpoch = "epoch";  ///< the tables' epoch column
constexpr const char* kSplit = "split";  ///< the evaluated split's column
constexpr const char* kLoss = "loss";    ///< the evaluation's task loss column
constexpr const char* kPairDistance = "pair_distance";  ///< training's labelled column: P
constexpr const char* kMeasures = "measures";  ///< evaluation's labelled column: the measures

/// One value per row: an int64 member is an int64 column, a double a float64 column, a string a
/// fixed-length (kSplitWidth) ASCII column.
template <typename Row>
struct Column {
  const char* name;
  std::variant<int64_t Row::*, double Row::*, std::string Row::*> member;
};

/// A table: a group of columns that grow together, one row per Row. Its `step` column
/// (Row::step, int64) is written last, so its length is the number of complete rows. `labelled`
/// is a float64 [rows, labels] column whose attribute `column_labels` holds the layout list
/// `labels`.
template <typename Row>
struct Table {
  const char* group;
  std::vector<Column<Row>> columns;  ///< in file order, after `step`
  const char* labelled;
  std::vector<std::string> RecordLayout::*labels;
  /// @return a row's values of the labelled column, one per label (NaN where it has none).
  std::vector<double> (*labelled_values)(const Row& row, const std::vector<std::string>& labels);
};

inline const Table<TrainingRow> kTrainingTable = {
    kTraining,
    {{kEpoch, &TrainingRow::epoch},
     {"learning_rate", &TrainingRow::learning_rate},
     {"total_loss", &TrainingRow::total_loss},
     {"task_loss", &TrainingRow::task_loss},
     {"guidance_loss", &TrainingRow::guidance_loss},
     {"distill_loss", &TrainingRow::distill_loss}},
    kPairDistance,
    &RecordLayout::pair_names,
    [](const TrainingRow& row, const std::vector<std::string>&) { return row.pair_distances; },
};

inline const Table<EvaluationRow> kEvaluationTable = {
    kEvaluation,
    {{kEpoch, &EvaluationRow::epoch},
     {kSplit, &EvaluationRow::split},
     {kLoss, &EvaluationRow::loss}},
    kMeasures,
    &RecordLayout::measure_names,
    [](const EvaluationRow& row, const std::vector<std::string>& labels) {
      std::vector<double> values;
      for (const auto& label : labels) {
        auto found = row.measures.find(label);
        values.push_back(found != row.measures.end() ? found->second : std::nan(""));
      }
      return values;
    },
};

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

/// Group of per-example test predictions of the final weights (docs/record-format.md):
/// `predictions/<network>/{indices, predicted, correct}`, network "target" or "guide".
constexpr const char* kPredictions = "predictions";
constexpr const char* kPredictionIndices = "indices";  ///< int64 [N]: the test examples
constexpr const char* kPredicted = "predicted";  ///< int64 [N] or [N, L]: predicted class or token
constexpr const char* kCorrect = "correct";  ///< int8 [N] or [N, L]: 1 right, 0 wrong, −1 unscored

/// @return "predictions/<network>".
inline std::string predictions_path(const std::string& network) {
  return std::string(kPredictions) + "/" + network;
}

/// The networks whose taps a snapshot stores.
constexpr const char* kGuide = "guide";
constexpr const char* kTarget = "target";
/// The sides in the order groups are made: `snapshots/activations/<side>`, `predictions/<side>`.
inline constexpr std::array<const char*, 2> kSides = {kGuide, kTarget};

/// @return "snapshots/activations/<side>/<tap>" (side: "guide" or "target").
inline std::string activation_path(const std::string& side, const std::string& tap) {
  return std::string(kSnapshots) + "/" + kActivations + "/" + side + "/" + tap;
}

/// @return the (rows, columns) sides of the similarity matrices a snapshot holds for each metric,
/// in the order readers show them: guide × target, target × target, guide × guide; a run without
/// a guide has target × target only.
inline std::vector<std::pair<const char*, const char*>> similarity_sides(bool guided) {
  if (!guided) return {{kTarget, kTarget}};
  return {{kGuide, kTarget}, {kTarget, kTarget}, {kGuide, kGuide}};
}

/// @return "<rows>_<columns>", the name of a similarity matrix, e.g. "guide_target".
inline std::string similarity_name(const std::string& rows, const std::string& columns) {
  return rows + "_" + columns;
}

/// @return "snapshots/similarity/<metric>/<which>" (which: a similarity_name()).
inline std::string similarity_path(const std::string& metric, const std::string& which) {
  return std::string(kSnapshots) + "/" + kSimilarity + "/" + metric + "/" + which;
}

/// What kind of HDF5 object a record name names.
enum class ObjectKind { Group, Dataset, Attribute };
/// The spelling of each ObjectKind in `guidance schema`, in enum order.
inline constexpr std::array<const char*, 3> kObjectKindNames = {"group", "dataset", "attribute"};

/// One name of the record as `guidance schema` lists it, for readers in other languages
/// (python/guidance_record_schema.json): they look a name up by its `key`, never spell it.
struct NamedObject {
  const char* key;   ///< stable key of the name, e.g. "probe_indices" for kProbeIndices
  const char* name;  ///< the name in the file
  ObjectKind kind;
  /// The group a group or dataset lies in, or the object an attribute is on: a path from the root
  /// ("" = the root), with <placeholders> for names the layout gives; "*" = any object.
  std::string in;
  const char* meaning;
};

/// @return "<in>/<name>", the path of a group or dataset (just the name at the root).
inline std::string path_of(const NamedObject& object) {
  return object.in.empty() ? object.name : object.in + "/" + object.name;
}

/// Every single name declared above, where it lies and what it holds. A name added above is added
/// here too, so that `guidance schema` (and the Python reader) know it; the names of the lists and
/// tables above are listed from those.
inline const std::vector<NamedObject> kNamedObjects = {
    {"format", kFormatAttribute, ObjectKind::Attribute, "", "str: always the format name"},
    {"format_version", kFormatVersionAttribute, ObjectKind::Attribute, "",
     "int64: the record format version (1 to the format_version this lists)"},
    {"strings_checksum", kStringsChecksum, ObjectKind::Attribute, "*",
     "uint64 on each string dataset: FNV-1a 64 of its strings (format version 4 on)"},
    {"string_attributes_checksum", kStringAttributesChecksum, ObjectKind::Attribute, "*",
     "uint64 on each object with string attributes: FNV-1a 64 of their names and values, in name "
     "order (format version 4 on)"},
    {"config", kConfig, ObjectKind::Dataset, "", "str: the resolved config (TOML)"},
    {"provenance", kProvenance, ObjectKind::Group, "",
     "attributes: where the run came from (provenance_texts and the attributes here)"},
    {"hdf5_version", kHdf5Version, ObjectKind::Attribute, kProvenance,
     "str: the HDF5 library that wrote the file"},
    {"end_time", kEndTime, ObjectKind::Attribute, kProvenance,
     "str: ISO 8601; empty until the run ends"},
    {"state", kState, ObjectKind::Attribute, kProvenance, "str: one of record_states"},
    {"seed", kSeed, ObjectKind::Attribute, kProvenance, "uint64: the run's seed"},
    {"threads", kThreads, ObjectKind::Attribute, kProvenance, "int64: torch intra-op threads"},
    {"resumed_at", kResumedAt, ObjectKind::Attribute, kProvenance,
     "str [r]: one ISO 8601 time per resume; absent if never resumed"},
    {"best_step", kBestStep, ObjectKind::Attribute, kProvenance,
     "int64: the step whose weights the final rows evaluate; -1 until the end"},
    {"plugins", kPlugins, ObjectKind::Group, kProvenance,
     "str [plugins] columns, one per plugin_columns name"},
    {"layout", kLayout, ObjectKind::Group, "", "str [n] lists, one per layout_lists name"},
    {"training", kTraining, ObjectKind::Group, "", "the training table, one row per step"},
    {"evaluation", kEvaluation, ObjectKind::Group, "",
     "the evaluation table, one row per evaluation"},
    {"step", kStep, ObjectKind::Dataset, "<table>",
     "int64 [rows]: each table's step column, written last (its length counts complete rows)"},
    {"epoch", kEpoch, ObjectKind::Dataset, "<table>", "int64 [rows]: the epoch of each row"},
    {"split", kSplit, ObjectKind::Dataset, kEvaluation,
     "fixed-length ASCII [rows]: the evaluated split, final_split_prefix + split for the final "
     "rows"},
    {"loss", kLoss, ObjectKind::Dataset, kEvaluation, "float64 [rows]: the task loss"},
    {"pair_distance", kPairDistance, ObjectKind::Dataset, kTraining,
     "float64 [rows, pairs]: each layer pair's distance, columns layout pair_names"},
    {"measures", kMeasures, ObjectKind::Dataset, kEvaluation,
     "float64 [rows, measures]: each measure (NaN = not measured), columns layout measure_names"},
    {"column_labels", kColumnLabels, ObjectKind::Attribute,
     "<table>/<labelled>, " + similarity_path("<metric>", "<which>"),
     "str [columns]: what each column of the matrix is"},
    {"probe", kProbe, ObjectKind::Group, "", "the fixed probe examples snapshots hold"},
    {"probe_indices", kProbeIndices, ObjectKind::Dataset, kProbe,
     "int64 [n]: the probe examples (validation indices)"},
    {"probe_labels", kProbeLabels, ObjectKind::Dataset, kProbe, "int64 [n] or [n, L]: labels"},
    {"probe_source_rows", kProbeSourceRows, ObjectKind::Dataset, kProbe,
     "int64 [n]: the examples' rows in the data read; only when the dataset says"},
    {"probe_source_part", kProbeSourcePart, ObjectKind::Attribute,
     std::string(kProbe) + "/" + kProbeSourceRows, "str: the part of the data the rows index"},
    {"snapshots", kSnapshots, ObjectKind::Group, "",
     "snapshot steps, activations and similarity matrices"},
    {"activation_dtype", kActivationDtype, ObjectKind::Attribute, kSnapshots,
     "str: one of activation_dtypes, how activations are stored"},
    {"snapshot_steps", kStep, ObjectKind::Dataset, kSnapshots,
     "int64 [S]: the step of each snapshot, written last"},
    {"activations", kActivations, ObjectKind::Group, kSnapshots,
     "one group per side, one dataset per tap: float [S, n, F]"},
    {"example_shape", kExampleShape, ObjectKind::Attribute, activation_path("<side>", "<tap>"),
     "int64 [rank - 1]: the tap's shape per example, whose product is F (format version 3 on)"},
    {"similarity", kSimilarity, ObjectKind::Group, kSnapshots,
     "one group per metric, one dataset per similarities name: float64 [S, rows, columns]"},
    {"rows_side", kRowsSide, ObjectKind::Attribute, similarity_path("<metric>", "<which>"),
     "str: the side of the matrix's rows"},
    {"columns_side", kColumnsSide, ObjectKind::Attribute, similarity_path("<metric>", "<which>"),
     "str: the side of the matrix's columns"},
    {"row_labels", kRowLabels, ObjectKind::Attribute, similarity_path("<metric>", "<which>"),
     "str [rows]: the taps of the matrix's rows"},
    {"predictions", kPredictions, ObjectKind::Group, "",
     "per-example test predictions of the final weights, one group per side"},
    {"prediction_indices", kPredictionIndices, ObjectKind::Dataset, predictions_path("<side>"),
     "int64 [N]: the test examples"},
    {"predicted", kPredicted, ObjectKind::Dataset, predictions_path("<side>"),
     "int64 [N] or [N, L]: the predicted class or token"},
    {"correct", kCorrect, ObjectKind::Dataset, predictions_path("<side>"),
     "int8 [N] or [N, L]: 1 right, 0 wrong, -1 position not scored"},
};

/// @return the record layout as JSON, one object (`guidance schema --json`; the Python reader
/// reads its names from the committed copy, python/guidance_record_schema.json): the format name
/// and version, kNamedObjects by key, the lists and tables above, and the values readers need.
std::string layout_json();

/// @return the record layout as text (`guidance schema`): one line per name, then the lists
/// and tables.
std::string layout_text();

}  // namespace record_schema
}  // namespace guidance
