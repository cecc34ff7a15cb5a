#pragma once

// Cell identity: which settings of a run's config make a study axis, how runs group into cells
// (runs that share every axis but the seed) and how reports name a cell.

#include <map>
#include <string>
#include <vector>

#include "analysis/Study.h"

namespace guidance::analysis {

/// @return a resolved config (TOML text) as dotted keys → values (strings unquoted, other values
/// and arrays as TOML writes them), without run.name, run.seed and the keys declared
/// leaves_results() (where a run runs from, what it logs and records: ConfigKeys.h), so runs that
/// differ only in those are one cell. For an unguided
/// run (no [guide], or guidance.enabled = false) every guide.* and guidance.* key is dropped but
/// guidance.enabled = false, so unguided runs form one cell whatever their guide tables say.
/// @throws RunError when the text is not TOML
std::map<std::string, std::string> settings_of(const std::string& config_toml);

/// Sets Study::axes and Study::cells from Study::runs: an axis is a setting that takes two values
/// or more among the readable runs that have it (a key only some runs have, such as guide.* of
/// guided runs, follows from another axis), in the order a config reads (dataset, target, guide,
/// guidance, train, record, run); a cell holds the readable runs of one value on every axis
/// (kNoValue where a run has no such key), cells in the order of their first run.
void group_into_cells(Study& study);

/// @return the position of `axis` in Study::axes.
/// @param option the option that named it, for the message
/// @throws UsageError naming the option, the study's directory and its axes when it is not one
size_t axis_position(const Study& study, const std::string& axis, const std::string& option);

/// @return whether a run ran unguided: its settings say guidance.enabled = false (settings_of
/// says so for every unguided run).
bool ran_unguided(const StudyRun& run);

/// @return how reports show a cell's value of an axis: the value itself, but a TorchScript network
/// (`X.plugin = "torchscript"`) by the file name of its `X.path` (e.g. "cnn.pt").
/// @param axis an index into Study::axes
std::string shown_value(const Study& study, const StudyCell& cell, size_t axis);

/// @return a label per cell (in Study::cells order) for legends and matrices, naming only what
/// tells the cells apart: `name=value` for each axis, the name being the key's last part
/// without ".plugin" (`guide.plugin` → guide, `train.learning_rate` → learning_rate; the whole
/// key when two axes would share a name), the value as shown_value() gives it. Axes a cell has no
/// value on (`-`) are left out, `guidance.enabled` shows as "unguided" (or "guided" when no guide
/// setting says so), and a plugin's parameter that only follows from its plugin (`X.k` where
/// `X.plugin` is an axis and every cell of one plugin, as shown_value() shows it, has one value
/// of it: a TorchScript network's `X.path`) is left out.
/// E.g. "target=mlp, guide=convnet", "target=mlp, unguided".
std::vector<std::string> cell_labels(const Study& study);

}  // namespace guidance::analysis
