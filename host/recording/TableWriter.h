#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "host/recording/Hdf5.h"
#include "host/recording/RecordFormat.h"
#include "host/recording/RecordSchema.h"

namespace guidance {

/// How far one table of a record is written.
struct StoredRows {
  int64_t rows = 0;                  ///< rows durable in the file
  std::optional<int64_t> last_step;  ///< step of the last row appended, buffered or not

  /// Keeps the first `keep` rows of the table `group`, whose step column holds `steps`, and
  /// shortens every dataset in the group to them.
  void keep_first(hid_t file, const std::string& group, const std::vector<int64_t>& steps,
                  int64_t keep, const std::string& path) {
    hdf5::truncate_group(file, group, keep, path);
    rows = keep;
    last_step = keep > 0 ? std::optional<int64_t>(steps[keep - 1]) : std::nullopt;
  }
};

/// One table of a record, written as its record_schema::Table says: rows are buffered by
/// append() and written to the columns by write(), the step column last, so that its length is
/// always the number of complete rows.
template <typename Row>
class TableWriter {
 public:
  explicit TableWriter(const record_schema::Table<Row>& schema) : schema_(schema) {}

  StoredRows& stored() { return stored_; }
  bool has_pending() const { return !pending_.empty(); }

  /// Creates the table's group and its empty columns.
  void create(hid_t file, const RecordLayout& layout, const std::string& path) const {
    std::string group = std::string(schema_.group) + "/";
    hdf5::create_group(file, schema_.group, path);
    hdf5::create_extendible(file, group + record_schema::kStep, H5T_STD_I64LE, {}, {kRowChunk},
                            false, path);
    for (const auto& column : schema_.columns) {
      hdf5::Handle text = record_format::split_type();
      hid_t type = text.get();
      if (std::holds_alternative<int64_t Row::*>(column.member)) type = H5T_STD_I64LE;
      if (std::holds_alternative<double Row::*>(column.member)) type = H5T_IEEE_F64LE;
      hdf5::create_extendible(file, group + column.name, type, {}, {kRowChunk}, false, path);
    }
    const std::vector<std::string>& labels = layout.*schema_.labels;
    auto width = static_cast<hsize_t>(labels.size());
    std::string labelled = group + schema_.labelled;
    hdf5::create_extendible(file, labelled, H5T_IEEE_F64LE, {width}, {kRowChunk, width}, false,
                            path);
    hdf5::write_attribute(hdf5::open_dataset(file, labelled, path).get(),
                          record_schema::kColumnLabels, labels);
  }

  /// Buffers a row (the caller has checked it).
  void append(const Row& row) {
    pending_.push_back(row);
    stored_.last_step = row.step;
  }

  /// @return about how many bytes write() adds to the file: the buffered rows, plus a chunk of
  /// each column where they start a new one.
  uint64_t pending_bytes(const RecordLayout& layout) const {
    if (pending_.empty()) return 0;
    uint64_t row_bytes = 8 * (1 + (layout.*schema_.labels).size());
    for (const auto& column : schema_.columns) {
      row_bytes += std::holds_alternative<std::string Row::*>(column.member)
                       ? record_schema::kSplitWidth
                       : 8;
    }
    auto rows = static_cast<uint64_t>(stored_.rows);
    bool new_chunk =
        rows % kRowChunk == 0 || rows / kRowChunk != (rows + pending_.size()) / kRowChunk;
    return (pending_.size() + (new_chunk ? kRowChunk : 0)) * row_bytes;
  }

  /// Writes the buffered rows after the stored ones. A failure leaves them buffered; the next
  /// write() lands on the same rows.
  void write(hid_t file, const RecordLayout& layout, const std::string& path) {
    if (pending_.empty()) return;
    std::string group = std::string(schema_.group) + "/";
    for (const auto& column : schema_.columns) {
      std::visit([&](auto member) { write_column(file, group + column.name, member, path); },
                 column.member);
    }
    const std::vector<std::string>& labels = layout.*schema_.labels;
    std::vector<double> labelled;
    for (const auto& row : pending_) {
      std::vector<double> values = schema_.labelled_values(row, labels);
      labelled.insert(labelled.end(), values.begin(), values.end());
    }
    append_rows(file, group + schema_.labelled, H5T_NATIVE_DOUBLE, labelled.data(), path);
    write_column(file, group + record_schema::kStep, &Row::step, path);
    stored_.rows += static_cast<int64_t>(pending_.size());
    pending_.clear();
  }

 private:
  // Rows per chunk of the columns: one chunk holds many flushes' worth of steps.
  static constexpr hsize_t kRowChunk = 512;

  void append_rows(hid_t file, const std::string& dataset, hid_t memory_type, const void* data,
                   const std::string& path) const {
    hdf5::write_rows(file, dataset, memory_type, stored_.rows,
                     static_cast<int64_t>(pending_.size()), data, path);
  }

  template <typename Field>
  void write_column(hid_t file, const std::string& dataset, Field Row::*member,
                    const std::string& path) const {
    if constexpr (std::is_same_v<Field, std::string>) {
      std::vector<char> text(pending_.size() * record_schema::kSplitWidth, '\0');
      for (size_t i = 0; i < pending_.size(); ++i) {
        const std::string& value = pending_[i].*member;
        std::copy_n(value.begin(), std::min<size_t>(value.size(), record_schema::kSplitWidth),
                    text.begin() + static_cast<std::ptrdiff_t>(i * record_schema::kSplitWidth));
      }
      append_rows(file, dataset, record_format::split_type().get(), text.data(), path);
    } else {
      std::vector<Field> values;
      for (const auto& row : pending_) values.push_back(row.*member);
      append_rows(file, dataset,
                  std::is_same_v<Field, double> ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64,
                  values.data(), path);
    }
  }

  const record_schema::Table<Row>& schema_;
  StoredRows stored_;
  std::vector<Row> pending_;
};

}  // namespace guidance
