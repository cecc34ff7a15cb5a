#include "host/plugins/ElfCheck.h"

#include <elf.h>
#include <unistd.h>

#include <algorithm>
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

/// What the loader reads through addresses: the load segments' memory ranges, of which the file
/// fills the first p_filesz bytes. Load segments are checked before: ascending, not overlapping.
class Image {
 public:
  Image(InputFile& file, const std::vector<Elf64_Phdr>& loads) : file_(file), loads_(loads) {}

  /// How many items of T fit from `address` to the end of the file part of its load segment.
  template <typename T>
  uint64_t room(uint64_t address) const {
    for (const Elf64_Phdr& load : loads_) {
      if (address >= load.p_vaddr && address - load.p_vaddr <= load.p_filesz) {
        return (load.p_filesz - (address - load.p_vaddr)) / sizeof(T);
      }
    }
    return 0;
  }

  /// Reads `count` items of T at `address`: std::nullopt unless the file part of one load segment
  /// holds them all.
  template <typename T>
  std::optional<std::vector<T>> read(uint64_t address, uint64_t count) {
    for (const Elf64_Phdr& load : loads_) {
      if (address < load.p_vaddr || address - load.p_vaddr > load.p_filesz) continue;
      if (count > room<T>(address)) return std::nullopt;
      return read_array<T>(file_, load.p_offset + (address - load.p_vaddr), count);
    }
    return std::nullopt;
  }

  /// Whether the memory range of one load segment with all of `flags` holds [address, + size).
  bool holds(uint64_t address, uint64_t size, uint32_t flags = 0) const {
    for (const Elf64_Phdr& load : loads_) {
      if ((load.p_flags & flags) == flags && address >= load.p_vaddr &&
          fits(address - load.p_vaddr, size, load.p_memsz)) {
        return true;
      }
    }
    return false;
  }

  /// The end of the highest load segment in memory: the size of the library's address range.
  uint64_t end() const { return loads_.back().p_vaddr + loads_.back().p_memsz; }

 private:
  InputFile& file_;
  const std::vector<Elf64_Phdr>& loads_;
};

// A count of version entries or of their auxiliary entries beyond this is a damaged one.
constexpr uint64_t kMaxVersionEntries = 65535;

/// A relocation type the host's loader applies, with the bytes it writes.
struct RelocationType {
  uint32_t type;
  uint64_t width;
};
#if defined(__x86_64__)
constexpr uint32_t kNoRelocation = R_X86_64_NONE;
constexpr uint32_t kRelativeRelocation = R_X86_64_RELATIVE;
constexpr uint32_t kIndirectRelocation = R_X86_64_IRELATIVE;
// glibc's elf_machine_rela for x86-64; R_X86_64_SIZE32 is x32's only. Every type of the system's
// libraries is here (RELATIVE, 64, JUMP_SLOT, GLOB_DAT, DTPMOD64, DTPOFF64, TPOFF64, TLSDESC,
// IRELATIVE).
const RelocationType kRelocationTypes[] = {
    {R_X86_64_NONE, 0},     {R_X86_64_64, 8},        {R_X86_64_PC32, 4},
    {R_X86_64_COPY, 8},     {R_X86_64_GLOB_DAT, 8},  {R_X86_64_JUMP_SLOT, 8},
    {R_X86_64_RELATIVE, 8}, {R_X86_64_32, 4},        {R_X86_64_DTPMOD64, 8},
    {R_X86_64_DTPOFF64, 8}, {R_X86_64_TPOFF64, 8},   {R_X86_64_SIZE64, 8},
    {R_X86_64_TLSDESC, 16}, {R_X86_64_IRELATIVE, 8}};
#elif defined(__aarch64__)
constexpr uint32_t kNoRelocation = R_AARCH64_NONE;
constexpr uint32_t kRelativeRelocation = R_AARCH64_RELATIVE;
constexpr uint32_t kIndirectRelocation = R_AARCH64_IRELATIVE;
// glibc's elf_machine_rela for AArch64 (LP64).
const RelocationType kRelocationTypes[] = {
    {R_AARCH64_NONE, 0},       {R_AARCH64_ABS64, 8},      {R_AARCH64_COPY, 8},
    {R_AARCH64_GLOB_DAT, 8},   {R_AARCH64_JUMP_SLOT, 8},  {R_AARCH64_RELATIVE, 8},
    {R_AARCH64_TLS_DTPMOD, 8}, {R_AARCH64_TLS_DTPREL, 8}, {R_AARCH64_TLS_TPREL, 8},
    {R_AARCH64_TLSDESC, 16},   {R_AARCH64_IRELATIVE, 8}};
#endif

/// The tables glibc's loader reads while it relocates the library and looks up its symbols: the
/// string table, the hash tables, the symbol table and its versions, the relocations. Each is
/// read where a load segment's file part holds it, and each index and offset in it is checked
/// against what it points into, so that the loader reads nothing outside the mapped file.
class LoaderTables {
 public:
  LoaderTables(Image& image, const std::vector<Elf64_Dyn>& entries) : image_(image) {
    for (const Elf64_Dyn& entry : entries) {
      if (entry.d_tag == DT_NULL) break;
      values_[entry.d_tag] = entry.d_un.d_val;
      if (entry.d_tag == DT_NEEDED) needed_.push_back(entry.d_un.d_val);
    }
  }

  std::optional<std::string> problem() {
    if (auto problem = entries_problem()) return problem;
    if (auto problem = string_table_problem()) return problem;
    if (auto problem = hash_tables_problem()) return problem;
    if (auto problem = needed_versions_problem()) return problem;
    if (auto problem = defined_versions_problem()) return problem;
    if (auto problem = symbols_problem()) return problem;
#if defined(__x86_64__) || defined(__aarch64__)
    if (auto rela = value(DT_RELA)) {
      if (auto problem = relocations_problem("DT_RELA", *rela, *value(DT_RELASZ),
                                             value(DT_RELACOUNT).value_or(0))) {
        return problem;
      }
    }
    if (auto jmprel = value(DT_JMPREL)) {
      if (auto problem = relocations_problem("DT_JMPREL", *jmprel, *value(DT_PLTRELSZ), 0)) {
        return problem;
      }
    }
    if (auto problem = relative_relocations_problem()) return problem;
#endif
    return std::nullopt;
  }

 private:
  std::optional<uint64_t> value(int64_t tag) const {
    auto found = values_.find(tag);
    if (found == values_.end()) return std::nullopt;
    return found->second;
  }

  static std::string outside(const std::string& what, uint64_t address) {
    return damaged(what + " at " + hex(address) +
                   " lies outside the file part of every load segment");
  }

  /// glibc asserts on these, or follows an absent entry.
  std::optional<std::string> entries_problem() const {
    auto needs = [&](int64_t tag, const char* name, int64_t other,
                     const char* other_name) -> std::optional<std::string> {
      if (value(tag) && !value(other)) {
        return damaged(std::string("its ELF dynamic section has ") + name + " but no " +
                       other_name);
      }
      return std::nullopt;
    };
    if (auto problem = needs(DT_STRTAB, "DT_STRTAB", DT_STRSZ, "DT_STRSZ")) return problem;
    if (auto problem = needs(DT_RELA, "DT_RELA", DT_RELASZ, "DT_RELASZ")) return problem;
    if (auto problem = needs(DT_RELA, "DT_RELA", DT_RELAENT, "DT_RELAENT")) return problem;
    if (auto problem = needs(DT_JMPREL, "DT_JMPREL", DT_PLTRELSZ, "DT_PLTRELSZ")) return problem;
    if (auto problem = needs(DT_JMPREL, "DT_JMPREL", DT_PLTREL, "DT_PLTREL")) return problem;
    if (auto problem = needs(DT_RELR, "DT_RELR", DT_RELRSZ, "DT_RELRSZ")) return problem;
    if (auto problem = needs(DT_RELR, "DT_RELR", DT_RELRENT, "DT_RELRENT")) return problem;
    for (const auto& [tag, name] :
         {std::pair<int64_t, const char*>{DT_INIT, "DT_INIT"}, {DT_FINI, "DT_FINI"}}) {
      if (auto function = value(tag); function && !image_.holds(*function, 1, PF_X)) {
        return damaged(std::string("its ELF dynamic entry ") + name + " (" + hex(*function) +
                       ") points outside every executable load segment");
      }
    }
    if (auto entry = value(DT_RELRENT); entry && *entry != sizeof(Elf64_Relr)) {
      return damaged("its ELF relative relocation entries (DT_RELRENT) are " +
                     std::to_string(*entry) + " bytes, not " +
                     std::to_string(sizeof(Elf64_Relr)));
    }
#if defined(__x86_64__) || defined(__aarch64__)
    // These machines use RELA relocations only: glibc asserts DT_PLTREL is DT_RELA.
    if (value(DT_REL) || value(DT_RELSZ)) {
      return damaged("its ELF dynamic section has DT_REL relocations, which " +
                     machine_name(*kHostMachine) + " libraries do not use");
    }
    if (auto kind = value(DT_PLTREL); kind && *kind != DT_RELA) {
      return damaged("its ELF dynamic entry DT_PLTREL is " + std::to_string(*kind) +
                     ", not DT_RELA (" + std::to_string(DT_RELA) + ")");
    }
#endif
    for (const auto& [tag, name] : {std::pair<int64_t, const char*>{DT_RELASZ, "DT_RELASZ"},
                                    {DT_PLTRELSZ, "DT_PLTRELSZ"}}) {
      if (auto size = value(tag); size && *size % sizeof(Elf64_Rela) != 0) {
        return damaged(std::string("its ELF dynamic entry ") + name + " (" + hex(*size) +
                       ") is not a whole number of relocation entries");
      }
    }
    if (auto size = value(DT_RELRSZ); size && *size % sizeof(Elf64_Relr) != 0) {
      return damaged("its ELF dynamic entry DT_RELRSZ (" + hex(*size) +
                     ") is not a whole number of relocation entries");
    }
    for (const auto& [tag, name] : {std::pair<int64_t, const char*>{DT_VERNEEDNUM, "DT_VERNEEDNUM"},
                                    {DT_VERDEFNUM, "DT_VERDEFNUM"}}) {
      if (auto count = value(tag); count && *count > kMaxVersionEntries) {
        return damaged(std::string("its ELF dynamic entry ") + name + " is " +
                       std::to_string(*count) + ", more than " +
                       std::to_string(kMaxVersionEntries));
      }
    }
    return std::nullopt;
  }

  /// A string table's last byte is NUL (the ELF specification): every string in it ends in it.
  std::optional<std::string> string_table_problem() {
    auto address = value(DT_STRTAB);
    if (!address) return std::nullopt;
    std::optional<std::vector<char>> strings = image_.read<char>(*address, *value(DT_STRSZ));
    if (!strings) {
      return outside("its ELF string table (DT_STRTAB, " + hex(*value(DT_STRSZ)) + " bytes)",
                     *address);
    }
    if (strings->empty() || strings->back() != '\0') {
      return damaged("its ELF string table (DT_STRTAB) does not end in a NUL byte");
    }
    strings_ = std::move(*strings);
    has_strings_ = true;
    return std::nullopt;
  }

  std::optional<std::string> string_problem(const std::string& what, uint64_t offset) const {
    if (!has_strings_) {
      return damaged(what + " names a string, but there is no string table (DT_STRTAB)");
    }
    if (offset >= strings_.size()) {
      return damaged(what + " names a string at " + hex(offset) +
                     ", past the end of the string table (" + hex(strings_.size()) + " bytes)");
    }
    return std::nullopt;
  }

  /// The number of symbols: DT_HASH's chain count, else the end of DT_GNU_HASH's last chain, else
  /// as many as the symbol table's load segment holds (then only the relocations' are checked).
  std::optional<std::string> hash_tables_problem() {
    auto symtab = value(DT_SYMTAB);
    const uint64_t room = symtab ? image_.room<Elf64_Sym>(*symtab) : 0;
    std::optional<uint64_t> hash_count;
    if (auto hash = value(DT_HASH)) {
      std::optional<std::vector<uint32_t>> header = image_.read<uint32_t>(*hash, 2);
      if (!header) return outside("its ELF hash table (DT_HASH)", *hash);
      const uint64_t buckets = (*header)[0];
      const uint64_t chains = (*header)[1];
      if (buckets == 0) return damaged("its ELF hash table (DT_HASH) has no buckets");
      if (chains > room) {
        return damaged("its ELF hash table (DT_HASH) counts " + std::to_string(chains) +
                       " symbols, more than the symbol table's load segment holds (" +
                       std::to_string(room) + ")");
      }
      std::optional<std::vector<uint32_t>> table =
          image_.read<uint32_t>(*hash + 8, buckets + chains);
      if (!table) return outside("its ELF hash table (DT_HASH)", *hash);
      for (uint32_t index : *table) {
        if (index >= chains) {
          return damaged("its ELF hash table (DT_HASH) names symbol " + std::to_string(index) +
                         ", past its " + std::to_string(chains) + " symbols");
        }
      }
      hash_count = chains;
    }
    std::optional<uint64_t> gnu_count;
    if (auto gnu_hash = value(DT_GNU_HASH)) {
      if (auto problem = gnu_hash_problem(*gnu_hash, room, gnu_count)) return problem;
    }
    if (hash_count && gnu_count && *gnu_count > *hash_count) {
      return damaged("its ELF GNU hash table (DT_GNU_HASH) covers " + std::to_string(*gnu_count) +
                     " symbols, more than its hash table (DT_HASH) counts (" +
                     std::to_string(*hash_count) + ")");
    }
    symbols_counted_ = hash_count || gnu_count;
    symbol_count_ = hash_count ? *hash_count : gnu_count ? *gnu_count : room;
    if (!symtab) symbol_count_ = 0;
    return std::nullopt;
  }

  /// glibc reads the bloom filter, the buckets and the chains from a bucket's first symbol to
  /// the one whose hash has bit 0 set: the highest bucket's chain ends the symbol table. Without
  /// a hashed symbol, the count stays unknown (ld.bfd then writes 1 as the first hashed symbol,
  /// whatever the undefined symbols).
  std::optional<std::string> gnu_hash_problem(uint64_t address, uint64_t room,
                                              std::optional<uint64_t>& count) {
    const std::string what = "its ELF GNU hash table (DT_GNU_HASH)";
    std::optional<std::vector<uint32_t>> header = image_.read<uint32_t>(address, 4);
    if (!header) return outside(what, address);
    const uint64_t buckets = (*header)[0];
    const uint64_t first = (*header)[1];
    const uint64_t bloom_words = (*header)[2];
    if (buckets == 0) return damaged(what + " has no buckets");
    if (bloom_words == 0 || (bloom_words & (bloom_words - 1)) != 0) {
      return damaged(what + " has a bloom filter of " + std::to_string(bloom_words) +
                     " words, not a power of two");
    }
    if (first > room) {
      return damaged(what + " starts at symbol " + std::to_string(first) +
                     ", past what the symbol table's load segment holds (" +
                     std::to_string(room) + " symbols)");
    }
    const uint64_t bloom = address + 16;
    if (bloom_words > image_.room<uint64_t>(bloom)) {
      return outside(what + "'s bloom filter", bloom);
    }
    const uint64_t bucket_address = bloom + bloom_words * 8;
    std::optional<std::vector<uint32_t>> bucket = image_.read<uint32_t>(bucket_address, buckets);
    if (!bucket) return outside(what + "'s buckets", bucket_address);
    uint64_t highest = 0;
    for (size_t i = 0; i < bucket->size(); ++i) {
      const uint64_t start = (*bucket)[i];
      if (start != 0 && start < first) {
        return damaged(what + "'s bucket " + std::to_string(i) + " starts at symbol " +
                       std::to_string(start) + ", before its first hashed symbol (" +
                       std::to_string(first) + ")");
      }
      highest = std::max(highest, start);
    }
    if (highest == 0) return std::nullopt;
    const uint64_t chains = bucket_address + buckets * 4;
    // Read in pieces: the chain ends where the symbols end, not known before.
    const uint64_t chain_room = std::min(image_.room<uint32_t>(chains), room - first);
    uint64_t index = highest;
    while (true) {
      if (index - first >= chain_room) {
        return damaged(what + "'s chain from symbol " + std::to_string(highest) +
                       " does not end inside the load segments of its chains and symbols");
      }
      const uint64_t piece = std::min<uint64_t>(4096, chain_room - (index - first));
      std::optional<std::vector<uint32_t>> hashes =
          image_.read<uint32_t>(chains + (index - first) * 4, piece);
      if (!hashes) return outside(what + "'s chains", chains);
      for (uint32_t hash : *hashes) {
        if (hash & 1) {
          count = index + 1;
          return std::nullopt;
        }
        ++index;
      }
    }
  }

  /// glibc follows vn_next and vna_next to 0 (ignoring the counts), finds each needed library by
  /// vn_file among its dependencies (asserting it is there), and sizes its version array by the
  /// highest vna_other.
  std::optional<std::string> needed_versions_problem() {
    auto address = value(DT_VERNEED);
    if (!address) return std::nullopt;
    uint64_t entry = *address;
    for (uint64_t number = 1;; ++number) {
      const std::string what = "its ELF version need entry " + std::to_string(number);
      if (number > kMaxVersionEntries) {
        return damaged("its ELF version need chain (DT_VERNEED) has more than " +
                       std::to_string(kMaxVersionEntries) + " entries");
      }
      std::optional<std::vector<Elf64_Verneed>> need = image_.read<Elf64_Verneed>(entry, 1);
      if (!need) return outside(what + " (DT_VERNEED)", entry);
      const Elf64_Verneed& needs = need->front();
      if (auto problem = string_problem(what, needs.vn_file)) return problem;
      bool listed = false;
      for (uint64_t library : needed_) {
        listed = listed || (library < strings_.size() &&
                            std::strcmp(&strings_[library], &strings_[needs.vn_file]) == 0);
      }
      if (!listed) {
        return damaged(what + " names a library (at string " + hex(needs.vn_file) +
                       ") that no DT_NEEDED entry names");
      }
      uint64_t aux = entry + needs.vn_aux;
      for (uint64_t version = 1;; ++version) {
        const std::string aux_what = what + "'s version " + std::to_string(version);
        if (version > kMaxVersionEntries || version > needs.vn_cnt) {
          return damaged(what + " has more versions than its count (" +
                         std::to_string(needs.vn_cnt) + ")");
        }
        std::optional<std::vector<Elf64_Vernaux>> read = image_.read<Elf64_Vernaux>(aux, 1);
        if (!read) return outside(aux_what, aux);
        const Elf64_Vernaux& auxiliary = read->front();
        if (auto problem = string_problem(aux_what, auxiliary.vna_name)) return problem;
        highest_version_ = std::max<uint64_t>(highest_version_, auxiliary.vna_other & 0x7fff);
        if (auxiliary.vna_next == 0) {
          if (version != needs.vn_cnt) {
            return damaged(what + " has " + std::to_string(version) +
                           " versions, but its count is " + std::to_string(needs.vn_cnt));
          }
          break;
        }
        aux += auxiliary.vna_next;
      }
      if (needs.vn_next == 0) {
        if (auto count = value(DT_VERNEEDNUM); count && *count != number) {
          return damaged("its ELF version need chain (DT_VERNEED) has " + std::to_string(number) +
                         " entries, but DT_VERNEEDNUM says " + std::to_string(*count));
        }
        return std::nullopt;
      }
      entry += needs.vn_next;
    }
  }

  /// glibc follows vd_next to 0, reads each entry's first name, and sizes its version array by the
  /// highest vd_ndx.
  std::optional<std::string> defined_versions_problem() {
    auto address = value(DT_VERDEF);
    if (!address) return std::nullopt;
    uint64_t entry = *address;
    for (uint64_t number = 1;; ++number) {
      const std::string what = "its ELF version definition " + std::to_string(number);
      if (number > kMaxVersionEntries) {
        return damaged("its ELF version definition chain (DT_VERDEF) has more than " +
                       std::to_string(kMaxVersionEntries) + " entries");
      }
      std::optional<std::vector<Elf64_Verdef>> read = image_.read<Elf64_Verdef>(entry, 1);
      if (!read) return outside(what + " (DT_VERDEF)", entry);
      const Elf64_Verdef& definition = read->front();
      highest_version_ = std::max<uint64_t>(highest_version_, definition.vd_ndx & 0x7fff);
      uint64_t aux = entry + definition.vd_aux;
      for (uint64_t name = 1;; ++name) {
        const std::string aux_what = what + "'s name " + std::to_string(name);
        if (name > definition.vd_cnt) {
          return damaged(what + " has more names than its count (" +
                         std::to_string(definition.vd_cnt) + ")");
        }
        std::optional<std::vector<Elf64_Verdaux>> names = image_.read<Elf64_Verdaux>(aux, 1);
        if (!names) return outside(aux_what, aux);
        if (auto problem = string_problem(aux_what, names->front().vda_name)) return problem;
        if (names->front().vda_next == 0) {
          if (name != definition.vd_cnt) {
            return damaged(what + " has " + std::to_string(name) + " names, but its count is " +
                           std::to_string(definition.vd_cnt));
          }
          break;
        }
        aux += names->front().vda_next;
      }
      if (definition.vd_next == 0) {
        if (auto count = value(DT_VERDEFNUM); count && *count != number) {
          return damaged("its ELF version definition chain (DT_VERDEF) has " +
                         std::to_string(number) + " entries, but DT_VERDEFNUM says " +
                         std::to_string(*count));
        }
        return std::nullopt;
      }
      entry += definition.vd_next;
    }
  }

  std::optional<std::string> symbols_problem() {
    auto symtab = value(DT_SYMTAB);
    if (!symtab) return std::nullopt;
    std::optional<std::vector<Elf64_Sym>> symbols = image_.read<Elf64_Sym>(*symtab, symbol_count_);
    if (!symbols) {
      return outside("its ELF symbol table (DT_SYMTAB, " + std::to_string(symbol_count_) +
                     " symbols)", *symtab);
    }
    symbols_ = std::move(*symbols);
    if (auto versym = value(DT_VERSYM)) {
      // glibc indexes its version array, of the highest version index + 1 entries, by them.
      const uint64_t count =
          symbols_counted_ ? symbol_count_
                           : std::min(symbol_count_, image_.room<Elf64_Versym>(*versym));
      std::optional<std::vector<Elf64_Versym>> versions =
          image_.read<Elf64_Versym>(*versym, count);
      if (!versions) {
        return outside("its ELF symbol versions (DT_VERSYM, " + std::to_string(count) +
                       " symbols)", *versym);
      }
      versions_ = std::move(*versions);
      has_versions_ = true;
    }
    if (!symbols_counted_) return std::nullopt;  // Only the relocations' symbols are known.
    for (uint64_t index = 0; index < symbols_.size(); ++index) {
      if (auto problem = symbol_problem(index)) return problem;
    }
    return std::nullopt;
  }

  /// A defined symbol's value is an address in the library (its end included: _end), except an
  /// absolute one's and a thread-local one's (an offset in its TLS block).
  std::optional<std::string> symbol_problem(uint64_t index) const {
    const std::string what = "its ELF dynamic symbol " + std::to_string(index);
    const Elf64_Sym& symbol = symbols_[index];
    if (auto problem = string_problem(what, symbol.st_name)) return problem;
    const unsigned type = ELF64_ST_TYPE(symbol.st_info);
    const bool defined = symbol.st_shndx != SHN_UNDEF && symbol.st_shndx < SHN_LORESERVE;
    if (defined && type != STT_TLS && !image_.holds(symbol.st_value, 0)) {
      return damaged(what + " is defined at " + hex(symbol.st_value) +
                     ", outside every load segment");
    }
    if (defined && (type == STT_FUNC || type == STT_GNU_IFUNC) &&
        !image_.holds(symbol.st_value, 0, PF_X)) {
      return damaged(what + " is a function defined at " + hex(symbol.st_value) +
                     ", outside every executable load segment");
    }
    if (has_versions_) {
      if (index >= versions_.size()) {
        return damaged(what + " has no version (DT_VERSYM) in its load segment");
      }
      const uint64_t version = versions_[index] & 0x7fff;
      if (version > highest_version_) {
        return damaged(what + "'s version index (DT_VERSYM) is " + std::to_string(version) +
                       ", past the highest version needed or defined (" +
                       std::to_string(highest_version_) + ")");
      }
    }
    return std::nullopt;
  }

#if defined(__x86_64__) || defined(__aarch64__)
  /// glibc applies the first DT_RELACOUNT entries as relative ones whatever their type; every
  /// entry's symbol and version are read, whatever its type.
  std::optional<std::string> relocations_problem(const char* table, uint64_t address,
                                                 uint64_t size, uint64_t relative) {
    const uint64_t count = size / sizeof(Elf64_Rela);
    std::optional<std::vector<Elf64_Rela>> read = image_.read<Elf64_Rela>(address, count);
    if (!read) {
      return outside(std::string("its ELF relocation table ") + table + " (" + hex(size) +
                     " bytes)", address);
    }
    const bool text_relocations =
        value(DT_TEXTREL) || (value(DT_FLAGS).value_or(0) & DF_TEXTREL) != 0;
    const uint32_t writable = text_relocations ? 0 : PF_W;
    const uint64_t end = image_.end();
    // glibc calls the functions of the initialization and finalization arrays.
    auto in = [&](uint64_t at, int64_t array, int64_t array_size) {
      auto start = value(array);
      return start && at >= *start && at - *start < value(array_size).value_or(0);
    };
    for (uint64_t i = 0; i < read->size(); ++i) {
      const Elf64_Rela& relocation = (*read)[i];
      const uint32_t type = ELF64_R_TYPE(relocation.r_info);
      const uint64_t symbol = ELF64_R_SYM(relocation.r_info);
      auto what = [&] {
        return "its ELF relocation " + std::to_string(i) + " in " + table;
      };
      const RelocationType* known = nullptr;
      for (const RelocationType& candidate : kRelocationTypes) {
        if (candidate.type == type) known = &candidate;
      }
      if (known == nullptr) {
        return damaged(what() + " has type " + std::to_string(type) +
                       ", which this host's loader does not know");
      }
      if (i < relative && type != kRelativeRelocation) {
        return damaged(what() + " has type " + std::to_string(type) + ", but DT_RELACOUNT (" +
                       std::to_string(relative) + ") counts it as a relative one");
      }
      if (symbol >= symbol_count_) {
        return damaged(what() + " names symbol " + std::to_string(symbol) +
                       ", past the end of the symbol table (" + std::to_string(symbol_count_) +
                       " symbols)");
      }
      if (!symbols_counted_) {
        if (auto problem = symbol_problem(symbol)) return problem;
      }
      if (type == kNoRelocation) continue;
      if (!image_.holds(relocation.r_offset, known->width, writable)) {
        return damaged(what() + " writes at " + hex(relocation.r_offset) + ", outside every " +
                       (text_relocations ? "" : "writable ") + "load segment");
      }
      const uint64_t addend = static_cast<uint64_t>(relocation.r_addend);
      if (type == kRelativeRelocation && (relocation.r_addend < 0 || addend > end)) {
        return damaged(what() + " adds " + hex(addend) + " to the load address, outside the " +
                       "library's " + hex(end) + " bytes");
      }
      if (type == kRelativeRelocation && !image_.holds(addend, 1, PF_X) &&
          (in(relocation.r_offset, DT_INIT_ARRAY, DT_INIT_ARRAYSZ) ||
           in(relocation.r_offset, DT_FINI_ARRAY, DT_FINI_ARRAYSZ))) {
        return damaged(what() + " makes a constructor or destructor of " + hex(addend) +
                       ", outside every executable load segment");
      }
      if (type == kIndirectRelocation && !image_.holds(addend, 1, PF_X)) {
        return damaged(what() + " calls a resolver at " + hex(addend) +
                       ", outside every executable load segment");
      }
    }
    return std::nullopt;
  }
#endif

  /// DT_RELR: an even entry is an address to relocate, an odd one a bitmap of the 63 words after
  /// the last address relocated.
  std::optional<std::string> relative_relocations_problem() {
    auto address = value(DT_RELR);
    if (!address) return std::nullopt;
    const uint64_t count = *value(DT_RELRSZ) / sizeof(Elf64_Relr);
    std::optional<std::vector<Elf64_Relr>> read = image_.read<Elf64_Relr>(*address, count);
    if (!read) {
      return outside("its ELF relative relocation table DT_RELR (" + hex(*value(DT_RELRSZ)) +
                     " bytes)", *address);
    }
    const uint32_t writable =
        value(DT_TEXTREL) || (value(DT_FLAGS).value_or(0) & DF_TEXTREL) != 0 ? 0 : PF_W;
    std::optional<uint64_t> next;  // the word after the last relocated
    for (uint64_t i = 0; i < read->size(); ++i) {
      const uint64_t entry = (*read)[i];
      uint64_t low = entry;
      uint64_t high = entry;
      if (entry & 1) {
        if (!next) {
          return damaged("its ELF relative relocation table DT_RELR starts with a bitmap, not "
                         "an address");
        }
        const uint64_t bits = entry >> 1;
        if (bits == 0) {
          *next += 63 * 8;
          continue;
        }
        low = *next + 8 * static_cast<uint64_t>(__builtin_ctzll(bits));
        high = *next + 8 * static_cast<uint64_t>(63 - __builtin_clzll(bits));
        *next += 63 * 8;
      } else {
        next = entry + 8;
      }
      if (high < low || !image_.holds(low, high - low + 8, writable)) {
        return damaged("its ELF relative relocation entry " + std::to_string(i) +
                       " (DT_RELR) writes at " + hex(low) + ", outside every writable load "
                       "segment");
      }
    }
    return std::nullopt;
  }

  Image& image_;
  std::map<int64_t, uint64_t> values_;  // the last of a repeated entry counts, as in glibc
  std::vector<uint64_t> needed_;        // DT_NEEDED string offsets
  std::vector<char> strings_;
  bool has_strings_ = false;
  uint64_t symbol_count_ = 0;
  bool symbols_counted_ = false;  // by a hash table, else bounded by the load segment
  std::vector<Elf64_Sym> symbols_;
  std::vector<Elf64_Versym> versions_;
  bool has_versions_ = false;
  uint64_t highest_version_ = 0;
};

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
  const std::vector<Elf64_Dyn> entries =
      read_array<Elf64_Dyn>(file, dynamic.p_offset, dynamic.p_filesz / sizeof(Elf64_Dyn));
  if (auto problem = dynamic_entries_problem(entries, loads)) return problem;
  Image image(file, loads);
  return LoaderTables(image, entries).problem();
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
