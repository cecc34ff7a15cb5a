#include "host/recording/RecordVerify.h"

#include <filesystem>
#include <ostream>

#include "host/common/Errors.h"
#include "host/recording/Hdf5.h"
#include "host/recording/RecordFormat.h"

namespace guidance::record_verify {

namespace fs = std::filesystem;
using hdf5::Handle;

namespace {

// Bytes of a dataset read at once (rounded to whole chunks, at least one): the activations of a
// large run are gigabytes.
constexpr uint64_t kBlockBytes = 16 << 20;

// Checks the object `name` ("" = the root group) and, for a group, everything below it; a damaged
// object adds its message and the walk goes on with the others.
void check_object(hid_t file, const std::string& name, const std::string& path,
                  std::vector<std::string>& found) {
  std::vector<std::string> members;
  try {
    std::string shown = name.empty() ? "/" : name;
    Handle object = hdf5::checked(H5Oopen(file, name.empty() ? "/" : name.c_str(), H5P_DEFAULT),
                                  H5Oclose, path + ": cannot open '" + shown + "'");
    hdf5::check_attributes(object.get(), path);
    if (H5Iget_type(object.get()) == H5I_DATASET) {
      hdf5::check_dataset(object.get(), path, kBlockBytes);
    } else {
      members = hdf5::member_names(object.get());
    }
  } catch (const RunError& error) {
    std::string message = error.what();
    // Every message names the record, also those of HDF5 helpers that do not know its path.
    found.push_back(message.rfind(path, 0) == 0 ? message : path + ": " + message);
  }
  for (const auto& member : members) {
    check_object(file, name.empty() ? member : name + "/" + member, path, found);
  }
}

}  // namespace

std::vector<std::string> problems(hid_t file, const std::string& path) {
  hdf5::QuietErrors quiet;
  std::vector<std::string> found;
  check_object(file, "", path, found);
  return found;
}

std::vector<std::string> problems(const std::string& path) {
  Handle file;
  try {
    file = record_format::open_for_reading(path);
  } catch (const RunError& error) {
    return {error.what()};
  }
  return problems(file.get(), path);
}

namespace {

void throw_unless_intact(const std::vector<std::string>& found, const std::string& path) {
  if (found.empty()) return;
  std::string listed;
  for (const auto& problem : found) listed += "\n  " + problem;
  throw RunError(path + " is damaged, so it is not accepted as completed (restore it from a copy, "
                 "or start the run over with --restart):" + listed);
}

}  // namespace

void require_intact(hid_t file, const std::string& path) {
  throw_unless_intact(problems(file, path), path);
}

void require_intact(const std::string& path) { throw_unless_intact(problems(path), path); }

int verify_command(const std::string& target, std::ostream& out) {
  if (!fs::exists(target)) throw UsageError("no such record or directory: " + target);
  std::vector<std::string> records =
      fs::is_directory(target) ? record_format::find_records(target)
                               : std::vector<std::string>{target};
  if (records.empty()) throw RunError("verify: no run records (run.h5) below " + target);
  bool intact = true;
  for (const auto& record : records) {
    std::vector<std::string> found = problems(record);
    if (found.empty()) out << record << ": ok\n";
    for (const auto& problem : found) out << problem << "\n";
    intact = intact && found.empty();
  }
  return intact ? 0 : 1;
}

}  // namespace guidance::record_verify
