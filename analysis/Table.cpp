#include "analysis/Table.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
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

size_t output_width(const std::ostream& out) {
  if (const char* columns = std::getenv("COLUMNS")) {
    std::string text = columns;
    // More than 6 digits is no terminal: treat it as a word, not a number that overflows.
    if (!text.empty() && text.size() <= 6 &&
        std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); }))
      return std::stoul(text);
  }
  winsize size{};
  if (&out == &std::cout && isatty(STDOUT_FILENO) &&
      ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0)
    return size.ws_col;
  return 0;
}

size_t text_width(const std::string& text) {
  // UTF-8 continuation bytes (10xxxxxx) add no column.
  return std::count_if(text.begin(), text.end(),
                       [](unsigned char c) { return (c & 0xC0) != 0x80; });
}

std::vector<std::string> wrap_text(const std::string& text, size_t width, size_t indent) {
  if (width == 0 || text_width(text) <= width) return {text};
  std::vector<std::string> lines;
  std::string line;
  size_t used = 0;
  bool has_word = false;
  std::istringstream words(text);
  for (std::string word; words >> word;) {
    size_t word_width = text_width(word);
    if (has_word && used + 1 + word_width > width) {
      lines.push_back(line);
      line.assign(indent, ' ');
      used = indent;
      has_word = false;
    }
    if (has_word) {
      line += ' ';
      ++used;
    }
    line += word;
    used += word_width;
    has_word = true;
  }
  lines.push_back(line);
  return lines;
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
