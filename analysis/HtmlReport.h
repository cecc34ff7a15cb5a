#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "guidance/api/Metric.h"

#include "analysis/RecordReader.h"
#include "analysis/Svg.h"
#include "analysis/Table.h"

namespace guidance::analysis {

/// What a directory report needs to know about one run once its own report is written.
struct ReportedRun {
  std::string name;         ///< the run's label, e.g. "quickstart/seed=0,enabled=false"
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

/// The colour scale of a metric's similarity heatmaps.
struct SimilarityScale {
  double low = 0.0;
  double high = 1.0;
  std::string source;  ///< where the range comes from, shown under each heatmap
};

/// The similarity scales of a record's metrics, by the name the record stores them under.
using SimilarityScales = std::map<std::string, SimilarityScale>;

/// @return the range of a metric's similarity form (Metric::similarity): [lower, upper] for a
/// similarity, [0, upper − lower] for a bounded distance; nothing for an unbounded one.
/// @param plugin the metric plugin's name, for SimilarityScale::source
std::optional<SimilarityScale> similarity_scale(const MetricTraits& traits,
                                                const std::string& plugin);

/// @return the heatmap of a similarity matrix: tap labels on both axes, colours over `scale`
/// (diverging around 0 when it is signed), or, without one, over the matrix's own values with a
/// note saying so.
Heatmap heatmap_of(const SimilarityMatrix& matrix, const SimilarityScale* scale);

/// @return a similarity matrix as a table: a first column of row labels, then one column per
/// column label.
Table matrix_table(const SimilarityMatrix& matrix);

/// Writes a self-contained report of one record into `directory` (created if missing):
/// index.html showing the final measures (with the weights each row evaluates), loss, measure and
/// layer-pair distance curves over one shared step axis, similarity heatmaps of up to 8
/// snapshots as relative-linked SVG files (guided pairs outlined on guide × target; the frozen
/// guide's guide × guide once when it is the same at every snapshot), the provenance and the
/// config; plus one CSV per table shown (training.csv, evaluation.csv, final_measures.csv,
/// probe.csv, similarity-<metric>-<which>-step<N>.csv). Tables show 4 significant digits (the
/// CSV files 10) and scroll sideways when wider than the page.
/// @param name the run's label, the page's title
/// @param scales colour scales of the record's metrics (see heatmap_of for one missing)
/// @return the run's summary, with `report` = "index.html".
ReportedRun write_run_report(const RecordReader& record, const std::string& name,
                            const std::string& directory, const SimilarityScales& scales);

/// Runs that share every setting but the seed (a study's cell): a directory report draws them as
/// one mean curve with a band.
struct RunGroup {
  std::string label;         ///< e.g. "target=mlp, guide=convnet"
  std::vector<size_t> runs;  ///< indices into the runs given to write_directory_report
};

/// @return one curve for a group of runs' series (e.g. the seeds of a cell): at every x any member
/// has, the mean of the members with a finite value there and a band (Series::low, high) of
/// ± 1 sample std over them, NaN where fewer than two have one. Its group, the legend entry, is
/// `label` with n, the members averaged ("(n=3)", or "(n=2–3)" where it varies); its name, the
/// tooltip, says where n changes ("n=3 from step 1, 2 from step 41").
Series mean_curve(const std::vector<const Series*>& members, const std::string& label);

/// Writes `directory`/index.html comparing runs whose reports were written below `directory`:
/// a table of each run's final measures and the weights they evaluate, linking to its report
/// (also runs.csv), and task loss, guidance loss and measure curves over one step axis (SVG).
/// When a group has two runs or more, each chart draws one curve per group: at every step the
/// mean of the group's runs that have a value there, with a band of ± 1 sample std, the legend
/// saying n; each run is drawn in a second chart (`<chart>-runs.svg`, thin lines coloured by
/// group, each line's tooltip its run) in a collapsed <details> below. Otherwise (no groups, or
/// one run each) every chart overlays one curve per run.
/// @param groups the runs' groups (e.g. the cells of a study); runs in no group are drawn alone
/// @param sections HTML shown after the final measures (e.g. the study table and κ matrix)
void write_directory_report(const std::vector<ReportedRun>& runs,
                            const std::vector<RunGroup>& groups, const std::string& title,
                            const std::string& directory, const std::string& sections = "");

}  // namespace guidance::analysis
