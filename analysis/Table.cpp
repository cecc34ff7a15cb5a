#include "analysis/Table.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <ostream>
#include <stdexcept>

#include "host/common/Errors.h"

namespace guidance::analysis {

size_t Table::rows() const {
  if (columns.empty()) return 0;
  const Column& first = columns.front();
  return first.is_text() ? first.texts.size() : first.numbers.size();
}

bool Table::has(const std::string& name) const {
  for (const auto& column : columns) {
    if (column.name == name) return true;
  }
  return false;
}

const Table::Column& Table::column(const std::string& name) const {
  std::string names;
  for (const auto& column : columns) {
    if (column.name == name) return column;
    names += (names.empty() ? "" : ", ") + column.name;
  }
  throw std::out_of_range("no column '" + name + "' (columns: " + names + ")");
}

std::string format_number(double value) {
  if (std::isnan(value)) return "";
  char text[32];
  std::snprintf(text, sizeof(text), "%.10g", value);
  return text;
}

std::string format_significant(double value, int digits) {
  if (std::isnan(value)) return "";
  char text[32];
  if (value == std::trunc(value) && std::abs(value) < 1e15) {
    std::snprintf(text, sizeof(text), "%.0f", value);
  } else {
    std::snprintf(text, sizeof(text), "%.*g", digits, value);
  }
  return text;
}

std::string Table::cell(size_t row, size_t column) const {
  const Column& source = columns.at(column);
  return source.is_text() ? source.texts.at(row) : format_number(source.numbers.at(row));
}

std::string Table::shown_cell(size_t row, size_t column) const {
  const Column& source = columns.at(column);
  return source.is_text() ? source.texts.at(row) : format_significant(source.numbers.at(row));
}

namespace {

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

}  // namespace

void write_csv(const Table& table, std::ostream& out) {
  for (size_t c = 0; c < table.columns.size(); ++c) {
    out << (c ? "," : "") << csv_field(table.columns[c].name);
  }
  out << "\n";
  for (size_t row = 0; row < table.rows(); ++row) {
    for (size_t c = 0; c < table.columns.size(); ++c) {
      out << (c ? "," : "") << csv_field(table.cell(row, c));
    }
    out << "\n";
  }
}

void write_csv_file(const Table& table, const std::string& path) {
  std::ofstream out(path, std::ios::binary);
  write_csv(table, out);
  out.flush();
  if (!out) throw RunError("cannot write the CSV file " + path);
}

}  // namespace guidance::analysis
