#include "host/plugins/ElfCheck.h"

#include <elf.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <stdexcept>
#include <utility>
#include <vector>

#include "guidance/api/InputFile.h"

namespace guidance {

namespace {

// LibTorch hosts are 64-bit: the check reads Elf64 structures only.
static_assert(sizeof(void*) == 8, "the ELF check expects a 64-bit host");

// A shared object has about ten program headers: 256 leaves room for any linker, and a count
// beyond it is a damaged one (65535 would ask for the extended numbering no library uses).
constexpr uint16_t kMaxProgramHeaders = 256;

constexpr unsigned char kHostByteOrder =
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB;

#if defined(__x86_64__)
constexpr std::optional<uint16_t> kHostMachine = EM_X86_64;
#elif defined(__aarch64__)
constexpr std::optional<uint16_t> kHostMachine = EM_AARCH64;
#else
constexpr std::optional<uint16_t> kHostMachine = std::nullopt;
#endif

std::string damaged(const std::string& what) { return what + ": the file is damaged"; }

std::string foreign(const std::string& what) {
  return what + ": it is not a shared library for this host";
}

std::string machine_name(uint16_t machine) {
  if (machine == EM_X86_64) return "x86-64";
  if (machine == EM_AARCH64) return "AArch64";
  return "machine number " + std::to_string(machine);
}

std::string hex(uint64_t value) {
  char text[19];
  std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(value));
  return text;
}

/// Whether [offset, offset + size) lies within [0, limit), without overflow.
bool fits(uint64_t offset, uint64_t size, uint64_t limit) {
  return offset <= limit && size <= limit - offset;
}

template <typename T>
std::vector<T> read_array(InputFile& file, uint64_t offset, uint64_t count) {
  if (::lseek(file.descriptor(), static_cast<off_t>(offset), SEEK_SET) < 0) {
    throw std::runtime_error(std::string("cannot seek (") + std::strerror(errno) + ")");
  }
  const std::string bytes = file.read(count * sizeof(T));
  std::vector<T> items(count);
  std::memcpy(items.data(), bytes.data(), bytes.size());
  return items;
}

std::optional<std::string> header_problem(const Elf64_Ehdr& header, uint64_t file_size) {
  const unsigned char* ident = header.e_ident;
  if (std::memcmp(ident, ELFMAG, SELFMAG) != 0) {
    return std::string("it is not a loadable library (it does not start with the ELF magic "
                       "number)");
  }
  if (ident[EI_CLASS] == ELFCLASS32) return foreign("it is a 32-bit ELF file, this host is 64-bit");
  if (ident[EI_CLASS] != ELFCLASS64) {
    return damaged("its ELF class is " + std::to_string(ident[EI_CLASS]) +
                   ", neither 32- nor 64-bit");
  }
  if (ident[EI_DATA] != kHostByteOrder) {
    return foreign("its ELF byte order is not this host's");
  }
  if (ident[EI_VERSION] != EV_CURRENT || header.e_version != EV_CURRENT) {
    return damaged("its ELF version is not 1");
  }
  if (header.e_type != ET_DYN) {
    return foreign("its ELF type is " + std::to_string(header.e_type) +
                   ", not a shared object (ET_DYN)");
  }
  if (kHostMachine && header.e_machine != *kHostMachine) {
    return foreign("it is built for " + machine_name(header.e_machine) + ", this host is " +
                   machine_name(*kHostMachine));
  }
  if (header.e_ehsize != sizeof(Elf64_Ehdr)) {
    return damaged("its ELF header size is " + std::to_string(header.e_ehsize) + " bytes, not " +
                   std::to_string(sizeof(Elf64_Ehdr)));
  }
  if (header.e_phentsize != sizeof(Elf64_Phdr)) {
    return damaged("its ELF program header entries are " + std::to_string(header.e_phentsize) +
                   " bytes, not " + std::to_string(sizeof(Elf64_Phdr)));
  }
  if (header.e_phnum < 1 || header.e_phnum > kMaxProgramHeaders) {
    return damaged("it has " + std::to_string(header.e_phnum) +
                   " ELF program headers, not between 1 and " +
                   std::to_string(kMaxProgramHeaders));
  }
  if (!fits(header.e_phoff, uint64_t{header.e_phnum} * sizeof(Elf64_Phdr), file_size)) {
    return damaged("its ELF program header table (at offset " + hex(header.e_phoff) +
                   ") reaches past the end of the file");
  }
  return std::nullopt;
}

/// Load segments are numbered from 1, in the order of the program header table.
std::optional<std::string> load_segments_problem(const std::vector<Elf64_Phdr>& loads,
                                                 uint64_t file_size) {
  if (loads.empty()) return damaged("it has no ELF load segment");
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  for (size_t i = 0; i < loads.size(); ++i) {
    const Elf64_Phdr& load = loads[i];
    const std::string name = "its ELF load segment " + std::to_string(i + 1);
    if (load.p_filesz > load.p_memsz) {
      return damaged(name + " has more bytes in the file (" + hex(load.p_filesz) +
                     ") than in memory (" + hex(load.p_memsz) + ")");
    }
    if (!fits(load.p_offset, load.p_filesz, file_size)) {
      return damaged(name + " reaches past the end of the file");
    }
    if (!fits(load.p_vaddr, load.p_memsz, UINT64_MAX)) {
      return damaged(name + " reaches past the end of the address space");
    }
    if (load.p_align > 1) {
      if ((load.p_align & (load.p_align - 1)) != 0) {
        return damaged(name + " has an alignment of " + hex(load.p_align) +
                       ", not a power of two");
      }
      if (load.p_vaddr % load.p_align != load.p_offset % load.p_align) {
        return damaged(name + "'s address and file offset disagree modulo its alignment");
      }
    }
    if (i == 0) continue;
    const Elf64_Phdr& previous = loads[i - 1];
    if (load.p_vaddr < previous.p_vaddr) {
      return damaged("its ELF load segments " + std::to_string(i) + " and " +
                     std::to_string(i + 1) + " are not in ascending address order");
    }
    // The loader maps whole pages: a segment whose last page is also the next one's first
    // would be mapped over by it. Compared in pages, so that nothing overflows.
    const uint64_t end = previous.p_vaddr + previous.p_memsz;
    if (end / page + (end % page != 0) > load.p_vaddr / page) {
      return damaged("its ELF load segments " + std::to_string(i) + " and " +
                     std::to_string(i + 1) + " overlap in memory");
    }
  }
  return std::nullopt;
}

struct DynamicTag {
  int64_t tag;
  const char* name;
};

/// The address-valued entries the loader follows, each with the entry giving its size, if any.
struct AddressEntry {
  DynamicTag address;
  std::optional<int64_t> size_tag;
};
const AddressEntry kAddressEntries[] = {
    {{DT_STRTAB, "DT_STRTAB"}, DT_STRSZ},
    {{DT_SYMTAB, "DT_SYMTAB"}, std::nullopt},
    {{DT_HASH, "DT_HASH"}, std::nullopt},
    {{DT_GNU_HASH, "DT_GNU_HASH"}, std::nullopt},
    {{DT_RELA, "DT_RELA"}, DT_RELASZ},
    {{DT_JMPREL, "DT_JMPREL"}, DT_PLTRELSZ},
    {{DT_INIT, "DT_INIT"}, std::nullopt},
    {{DT_FINI, "DT_FINI"}, std::nullopt},
    {{DT_INIT_ARRAY, "DT_INIT_ARRAY"}, DT_INIT_ARRAYSZ},
    {{DT_FINI_ARRAY, "DT_FINI_ARRAY"}, DT_FINI_ARRAYSZ},
    {{DT_VERSYM, "DT_VERSYM"}, std::nullopt},
    {{DT_VERNEED, "DT_VERNEED"}, std::nullopt},
    {{DT_VERDEF, "DT_VERDEF"}, std::nullopt},
    {{DT_PLTGOT, "DT_PLTGOT"}, std::nullopt}};

/// The entries whose value is an offset into the dynamic string table.
const DynamicTag kStringEntries[] = {
    {DT_NEEDED, "DT_NEEDED"}, {DT_SONAME, "DT_SONAME"}, {DT_RUNPATH, "DT_RUNPATH"},
    {DT_RPATH, "DT_RPATH"}};

std::optional<std::string> dynamic_entries_problem(const std::vector<Elf64_Dyn>& entries,
                                                   const std::vector<Elf64_Phdr>& loads) {
  // The last of a repeated entry counts, as in glibc's loader; string offsets count every time.
  std::map<int64_t, uint64_t> values;
  std::vector<std::pair<const char*, uint64_t>> strings;  // name, offset
  bool ended = false;
  for (const Elf64_Dyn& entry : entries) {
    if (entry.d_tag == DT_NULL) {
      ended = true;
      break;
    }
    values[entry.d_tag] = entry.d_un.d_val;
    for (const DynamicTag& string : kStringEntries) {
      if (entry.d_tag == string.tag) strings.emplace_back(string.name, entry.d_un.d_val);
    }
  }
  if (!ended) return damaged("its ELF dynamic section does not end (no DT_NULL entry)");

  for (const auto& [entry, size_tag] : kAddressEntries) {
    auto address = values.find(entry.tag);
    if (address == values.end()) continue;
    // An entry without a size is checked for its first byte.
    uint64_t size = 1;
    if (size_tag) {
      auto given = values.find(*size_tag);
      if (given != values.end()) size = given->second;
    }
    bool inside = false;
    for (const Elf64_Phdr& load : loads) {
      inside = inside || (address->second >= load.p_vaddr &&
                          fits(address->second - load.p_vaddr, size, load.p_memsz));
    }
    if (!inside) {
      return damaged(std::string("its ELF dynamic entry ") + entry.name + " (" +
                     hex(address->second) + (size_tag ? ", " + hex(size) + " bytes" : "") +
                     ") points outside every load segment");
    }
  }
  auto entry_size = [&](int64_t tag, uint64_t expected) {
    auto given = values.find(tag);
    return given == values.end() || given->second == expected;
  };
  if (!entry_size(DT_SYMENT, sizeof(Elf64_Sym))) {
    return damaged("its ELF symbol entries (DT_SYMENT) are " + std::to_string(values[DT_SYMENT]) +
                   " bytes, not " + std::to_string(sizeof(Elf64_Sym)));
  }
  if (!entry_size(DT_RELAENT, sizeof(Elf64_Rela))) {
    return damaged("its ELF relocation entries (DT_RELAENT) are " +
                   std::to_string(values[DT_RELAENT]) + " bytes, not " +
                   std::to_string(sizeof(Elf64_Rela)));
  }
  for (const auto& [name, offset] : strings) {
    auto string_table_size = values.find(DT_STRSZ);
    if (string_table_size == values.end()) {
      return damaged(std::string("its ELF dynamic entry ") + name +
                     " names a string, but there is no string table size (DT_STRSZ)");
    }
    if (offset >= string_table_size->second) {
      return damaged(std::string("its ELF dynamic entry ") + name + " names a string at " +
                     hex(offset) + ", past the end of the string table (" +
                     hex(string_table_size->second) + " bytes)");
    }
  }
  return std::nullopt;
}

std::optional<std::string> check(InputFile& file) {
  const uint64_t size = file.size();
  if (size < sizeof(Elf64_Ehdr)) {
    return "it is not a loadable library (its " + std::to_string(size) +
           " bytes are fewer than an ELF header's)";
  }
  const Elf64_Ehdr header = read_array<Elf64_Ehdr>(file, 0, 1).front();
  if (auto problem = header_problem(header, size)) return problem;

  std::vector<Elf64_Phdr> loads;
  std::vector<Elf64_Phdr> dynamics;
  for (const Elf64_Phdr& entry : read_array<Elf64_Phdr>(file, header.e_phoff, header.e_phnum)) {
    if (entry.p_type == PT_LOAD) loads.push_back(entry);
    if (entry.p_type == PT_DYNAMIC) dynamics.push_back(entry);
  }
  if (auto problem = load_segments_problem(loads, size)) return problem;

  if (dynamics.size() != 1) {
    return damaged("it has " + std::to_string(dynamics.size()) +
                   " ELF dynamic segments, not exactly one");
  }
  const Elf64_Phdr& dynamic = dynamics.front();
  if (!fits(dynamic.p_offset, dynamic.p_filesz, size)) {
    return damaged("its ELF dynamic segment reaches past the end of the file");
  }
  // The loader reads the dynamic section at its address; read here at its file offset, it is the
  // same bytes only where a load segment maps that offset to that address.
  bool mapped = false;
  for (const Elf64_Phdr& load : loads) {
    mapped = mapped ||
             (dynamic.p_offset >= load.p_offset &&
              fits(dynamic.p_offset - load.p_offset, dynamic.p_filesz, load.p_filesz) &&
              dynamic.p_vaddr - load.p_vaddr == dynamic.p_offset - load.p_offset);
  }
  if (!mapped) {
    return damaged("its ELF dynamic segment is not where a load segment maps it");
  }
  return dynamic_entries_problem(
      read_array<Elf64_Dyn>(file, dynamic.p_offset, dynamic.p_filesz / sizeof(Elf64_Dyn)), loads);
}

}  // namespace

std::optional<std::string> elf_structure_problem(const std::string& path) {
  try {
    InputFile file = InputFile::open(path);
    return check(file);
  } catch (const std::runtime_error& error) {
    // InputFile's messages start with the path, which the caller adds itself.
    std::string why = error.what();
    if (why.rfind(path + ": ", 0) == 0) why.erase(0, path.size() + 2);
    return "it cannot be read (" + why + ")";
  }
}

}  // namespace guidance
