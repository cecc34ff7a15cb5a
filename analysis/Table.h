#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace guidance::analysis {

/// A table of named columns of equal length, each holding numbers or text; what every analysis
/// output (CSV files, HTML tables, curves) is made from.
struct Table {
  /// One column: `numbers` for a numeric column (NaN = no value), `texts` for a text column.
  struct Column {
    std::string name;
    std::vector<double> numbers;
    std::vector<std::string> texts;
    bool is_text() const { return !texts.empty() || numbers.empty(); }
  };

  std::vector<Column> columns;

  /// @return the number of rows (0 for a table without columns).
  size_t rows() const;

  /// @return whether a column of that name exists.
  bool has(const std::string& name) const;

  /// @return the column of that name; throws std::out_of_range listing the columns there are.
  const Column& column(const std::string& name) const;

  /// @return the cell as text: numbers with up to 10 significant digits, NaN as "".
  std::string cell(size_t row, size_t column) const;

  /// @return the cell as reports show it: numbers by format_significant() (4 digits), NaN as "".
  std::string shown_cell(size_t row, size_t column) const;
};

/// Writes a table as RFC 4180 CSV: a header row, then one line per row; cells holding commas,
/// quotes or line breaks are quoted.
void write_csv(const Table& table, std::ostream& out);

/// Writes a table as CSV to `path`; throws RunError naming the path if it cannot be written.
void write_csv_file(const Table& table, const std::string& path);

/// @return a number with up to 10 significant digits ("" for NaN).
std::string format_number(double value);

/// @return a number for reading: whole numbers in full (step 12345 stays 12345), others with
/// `digits` significant digits (0.8379, 1.263e-05); "" for NaN.
std::string format_significant(double value, int digits = 4);

/// @return the widest a line printed on `out` should be: $COLUMNS when it is a number, else the
/// terminal's width when `out` is std::cout on a terminal, else 0 (no limit: pipes and files get
/// whole lines, so what scripts read does not depend on where they run).
size_t output_width(const std::ostream& out);

/// @return the columns a UTF-8 text takes on a terminal: one per code point ("±", "Δ", "…").
size_t text_width(const std::string& text);

/// @return `text` broken at spaces into lines of at most `width` columns (a word wider than that
/// keeps a line of its own), each line after the first starting with `indent` spaces; `text`
/// unchanged when it fits or `width` is 0.
std::vector<std::string> wrap_text(const std::string& text, size_t width, size_t indent = 0);

}  // namespace guidance::analysis
