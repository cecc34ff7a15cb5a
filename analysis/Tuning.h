#pragma once

// Tuning an axis per cell, as the paper tunes the learning rate: of the cells that differ only in
// the tuned axis, the one of lowest mean validation loss stays in the study.

#include <string>

#include "analysis/Study.h"

namespace guidance::analysis {

/// Keeps, of each group of cells that differ only in `axis`, the one of lowest mean
/// kTuningMeasure over its finished runs, and records every group's choice in Study::tuning
/// (a group where no cell has a finished run keeps every cell: their runs stay visible as
/// flagged). Sets Study::tuned_axis.
/// @throws UsageError naming the study's axes when `axis` is not one of them
void tune_cells(Study& study, const std::string& axis);

}  // namespace guidance::analysis
