#pragma once

#include <string>
#include <vector>

#include "analysis/RecordReader.h"
#include "analysis/Svg.h"
#include "analysis/Table.h"

namespace guidance::analysis {

/// What a directory report needs to know about one run once its own report is written.
struct RunSummary {
  std::string name;         ///< the run's name: its record's folder relative to the directory
  std::string report;       ///< its report, relative to the directory report
  std::string state;        ///< completion state
  Table training;           ///< its training time series
  Table evaluation;         ///< its evaluations
  Table final_measures;     ///< see final_measures()
};

/// @return the final measures: the last training row ("training", the last weights), then a
/// completed run's final rows ("best/train", "best/validation", "best/test", the weights of
/// `best_step`), or, for a record without them (live, killed, format version 1), each split's
/// last evaluation. Column "weights" says which weights each row evaluates.
Table final_measures(const Table& training, const Table& evaluation, int64_t best_step);

/// @return the heatmap of a similarity matrix: tap labels on both axes, a colour scale over [0, 1]
/// widened to include any value outside it.
Heatmap heatmap_of(const SimilarityMatrix& matrix);

/// @return a similarity matrix as a table: a first column of row labels, then one column per
/// column label.
Table matrix_table(const SimilarityMatrix& matrix);

/// Writes a self-contained report of one record into `directory` (created if missing):
/// index.html showing loss, measure and layer-pair distance curves and the last snapshot's
/// similarity heatmaps as relative-linked SVG files, the final measures, the provenance and the
/// config; plus one CSV per table shown (training.csv, evaluation.csv, final_measures.csv,
/// probe.csv, similarity-<metric>-<which>-step<N>.csv).
/// @return the run's summary, with `report` = "index.html".
RunSummary write_run_report(const RecordReader& record, const std::string& name,
                            const std::string& directory);

/// Writes `directory`/index.html comparing runs whose reports were written below `directory`:
/// a table of each run's final measures linking to its report (also runs.csv), and task loss,
/// guidance loss and measure curves of all runs overlaid (SVG).
/// @param sections HTML shown after the final measures (e.g. the study table and κ matrix)
void write_directory_report(const std::vector<RunSummary>& runs, const std::string& title,
                            const std::string& directory, const std::string& sections = "");

}  // namespace guidance::analysis
