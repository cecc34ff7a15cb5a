#pragma once

// The `guidance summarize` command: a study's tables (SummaryTables.h) and, with --rows/--cols,
// its atlas (Pivot.h), printed and written below the study directory.

#include <iosfwd>

namespace CLI {
class App;
}  // namespace CLI

namespace guidance::analysis {

/// Declares `guidance summarize DIR` and its options on `parent`; run_command_line() runs it.
void add_summarize_command(CLI::App& parent, std::ostream& out);

}  // namespace guidance::analysis
