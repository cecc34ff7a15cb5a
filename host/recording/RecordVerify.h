#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include <hdf5.h>

namespace guidance {

/// Whole-record checks (docs/reliability.md): every dataset and attribute of a record is read, so
/// that HDF5 verifies each chunk's Fletcher-32 checksum and each object header's checksum, and
/// the string checksums of format version 4 (docs/record-format.md, "Checksums") are compared.
/// `guidance verify` reports with it; `run --resume` and RunRecord::finish() refuse with it.
namespace record_verify {

/// @return one message per damaged or unreadable object of an open record, each naming `path`
/// and the object (e.g. "<path>: dataset 'snapshots/activations/target/fc1' is damaged (its
/// checksum does not match its contents)"); empty when the record is intact. Datasets are read in
/// blocks of whole chunks of about 16 MiB, so memory stays bounded whatever their size.
std::vector<std::string> problems(hid_t file, const std::string& path);

/// problems() of the record at `path`, opened read-only as a SWMR reader (live and killed records
/// open too); a file that does not open as a run record gives one message.
std::vector<std::string> problems(const std::string& path);

/// Throws RunError naming `path` and every damaged object unless the open record is intact.
void require_intact(hid_t file, const std::string& path);
/// require_intact() of the record at `path`, opened read-only.
void require_intact(const std::string& path);

/// `guidance verify TARGET`: checks the record TARGET, or every run record (run.h5) below the
/// directory TARGET, printing one line per record to `out`: "<path>: ok", or one line per damaged
/// object.
/// @return 0 when every record is intact, 1 otherwise
/// @throws UsageError when TARGET does not exist; RunError when a directory holds no run record
int verify_command(const std::string& target, std::ostream& out);

}  // namespace record_verify
}  // namespace guidance
