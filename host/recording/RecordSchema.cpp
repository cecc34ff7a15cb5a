#include "host/recording/RecordSchema.h"

#include <cstdio>
#include <sstream>

namespace guidance::record_schema {

namespace {

std::string quoted(const std::string &text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
          out += escaped;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

template <typename Names>
std::string quoted_list(const Names &names) {
  std::string out = "[";
  for (const auto &name : names) out += (out.size() > 1 ? ", " : "") + quoted(name);
  return out + "]";
}

template <typename Bindings>
std::vector<std::string> names_of(const Bindings &bindings) {
  std::vector<std::string> names;
  for (const auto &binding : bindings) names.emplace_back(binding.name);
  return names;
}

// The layout list a table's labelled column takes its labels from.
const char *layout_list_of(std::vector<std::string> RecordLayout::*labels) {
  for (const auto &list : kLayoutLists) {
    if (list.member == labels) return list.name;
  }
  return "";
}

template <typename Row>
const char *type_of(const Column<Row> &column) {
  if (std::holds_alternative<int64_t Row::*>(column.member)) return "int64";
  if (std::holds_alternative<double Row::*>(column.member)) return "float64";
  return "ascii";
}

// A list of names that all lie in one group, or are attributes of one object.
struct NameList {
  const char *key;
  std::string in;
  ObjectKind kind;
  std::vector<std::string> names;
};

std::vector<NameList> name_lists() {
  return {{"provenance_texts", kProvenance, ObjectKind::Attribute, names_of(kProvenanceTexts)},
          {"plugin_columns", plugins_path(), ObjectKind::Dataset, names_of(kPluginColumns)},
          {"layout_lists", kLayout, ObjectKind::Dataset, names_of(kLayoutLists)}};
}

std::vector<std::string> similarity_names() {
  std::vector<std::string> names;
  for (const auto &[rows, columns] : similarity_sides(true)) {
    names.push_back(similarity_name(rows, columns));
  }
  return names;
}

template <typename Row>
void write_table(std::ostream &out, const Table<Row> &table, bool last) {
  out << "    " << quoted(table.group) << ": {\"group\": " << quoted(table.group)
      << ", \"step\": " << quoted(kStep) << ", \"columns\": [";
  for (size_t i = 0; i < table.columns.size(); ++i) {
    out << (i > 0 ? ", " : "") << "{\"name\": " << quoted(table.columns[i].name)
        << ", \"type\": " << quoted(type_of(table.columns[i])) << "}";
  }
  out << "], \"labelled\": " << quoted(table.labelled)
      << ", \"labels\": " << quoted(layout_list_of(table.labels)) << "}" << (last ? "" : ",")
      << "\n";
}

template <typename Row>
void describe_table(std::ostream &out, const Table<Row> &table) {
  out << "table " << table.group << ": " << kStep << " (int64, written last)";
  for (const auto &column : table.columns)
    out << ", " << column.name << " (" << type_of(column) << ")";
  out << ", " << table.labelled << " (float64 [rows, " << layout_list_of(table.labels) << "])\n";
}

}  // namespace

std::string layout_json() {
  std::ostringstream out;
  out << "{\n  \"format\": " << quoted(kFormatName) << ",\n  \"format_version\": " << kFormatVersion
      << ",\n  \"names\": {\n";
  for (size_t i = 0; i < kNamedObjects.size(); ++i) {
    const NamedObject &object = kNamedObjects[i];
    out << "    " << quoted(object.key) << ": {\"name\": " << quoted(object.name)
        << ", \"kind\": " << quoted(kObjectKindNames[static_cast<size_t>(object.kind)])
        << ", \"in\": " << quoted(object.in);
    if (object.kind != ObjectKind::Attribute) out << ", \"path\": " << quoted(path_of(object));
    out << ", \"meaning\": " << quoted(object.meaning) << "}"
        << (i + 1 < kNamedObjects.size() ? "," : "") << "\n";
  }
  out << "  },\n";
  for (const NameList &list : name_lists()) {
    out << "  " << quoted(list.key) << ": {\"in\": " << quoted(list.in)
        << ", \"kind\": " << quoted(kObjectKindNames[static_cast<size_t>(list.kind)])
        << ", \"names\": " << quoted_list(list.names) << "},\n";
  }
  out << "  \"tables\": {\n";
  write_table(out, kTrainingTable, false);
  write_table(out, kEvaluationTable, true);
  out << "  },\n"
      << "  \"final_split_prefix\": " << quoted(kFinalSplitPrefix) << ",\n"
      << "  \"split_width\": " << kSplitWidth << ",\n"
      << "  \"sides\": " << quoted_list(kSides) << ",\n"
      << "  \"similarities\": " << quoted_list(similarity_names()) << ",\n"
      << "  \"record_states\": " << quoted_list(kRecordStateNames) << ",\n"
      << "  \"activation_dtypes\": " << quoted_list(kActivationDtypeNames) << "\n"
      << "}\n";
  return out.str();
}

std::string layout_text() {
  std::ostringstream out;
  out << kFormatName << ", format version " << kFormatVersion << " (docs/record-format.md)\n\n";
  for (const NamedObject &object : kNamedObjects) {
    std::string where = object.kind == ObjectKind::Attribute
                            ? (object.in == "*" ? "*" : "/" + object.in) + " @" + object.name
                            : "/" + path_of(object);
    out << where << "  (" << kObjectKindNames[static_cast<size_t>(object.kind)] << ")\n    "
        << object.meaning << "\n";
  }
  out << "\n";
  for (const NameList &list : name_lists()) {
    out << list.key << " (" << kObjectKindNames[static_cast<size_t>(list.kind)] << "s in /"
        << list.in << "):";
    for (const auto &name : list.names) out << " " << name;
    out << "\n";
  }
  describe_table(out, kTrainingTable);
  describe_table(out, kEvaluationTable);
  out << "final rows: split " << kFinalSplitPrefix << "<split>; sides:";
  for (const char *side : kSides) out << " " << side;
  out << "; similarities:";
  for (const auto &name : similarity_names()) out << " " << name;
  out << "\n";
  return out.str();
}

}  // namespace guidance::record_schema
