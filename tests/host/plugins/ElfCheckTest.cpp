// The ELF structure check refuses damaged copies of a real plugin library by their headers, before
// any child process is spawned to probe them (host/plugins/ElfCheck.h).
#include "host/plugins/ElfCheck.h"

#include <elf.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>

#include "tests/host/plugins/PluginTestSupport.h"
#include "tests/support/TestSupport.h"

namespace guidance {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Optional;

std::string built_mlp() { return testing::built_library("mlp"); }

/// Reads and writes the fixed-size structures of an ELF image held in memory.
class ElfImage {
 public:
  explicit ElfImage(std::string bytes) : bytes_(std::move(bytes)) {}
  const std::string& bytes() const { return bytes_; }

  template <typename T>
  T get(uint64_t offset) const {
    T value;
    std::memcpy(&value, bytes_.data() + offset, sizeof(T));
    return value;
  }
  template <typename T>
  void set(uint64_t offset, const T& value) {
    std::memcpy(bytes_.data() + offset, &value, sizeof(T));
  }

  Elf64_Ehdr header() const { return get<Elf64_Ehdr>(0); }
  /// @return the file offset of an address, through the load segment whose file part holds it.
  uint64_t file_offset(uint64_t address) const {
    for (uint64_t at : program_headers(PT_LOAD)) {
      const Elf64_Phdr load = get<Elf64_Phdr>(at);
      if (address >= load.p_vaddr && address - load.p_vaddr < load.p_filesz) {
        return load.p_offset + (address - load.p_vaddr);
      }
    }
    ADD_FAILURE() << "no load segment holds " << address;
    return 0;
  }
  /// @return the value of the last dynamic entry with a tag.
  std::optional<uint64_t> dynamic_value(int64_t tag) const {
    const Elf64_Phdr dynamic = get<Elf64_Phdr>(program_headers(PT_DYNAMIC).at(0));
    std::optional<uint64_t> value;
    for (uint64_t at = dynamic.p_offset; at < dynamic.p_offset + dynamic.p_filesz;
         at += sizeof(Elf64_Dyn)) {
      const Elf64_Dyn entry = get<Elf64_Dyn>(at);
      if (entry.d_tag == DT_NULL) break;
      if (entry.d_tag == tag) value = entry.d_un.d_val;
    }
    return value;
  }
  /// @return the file offsets of the PLT relocations (DT_JMPREL).
  std::vector<uint64_t> plt_relocations() const {
    std::vector<uint64_t> offsets;
    const uint64_t first = file_offset(dynamic_value(DT_JMPREL).value());
    for (uint64_t i = 0; i < dynamic_value(DT_PLTRELSZ).value() / sizeof(Elf64_Rela); ++i) {
      offsets.push_back(first + i * sizeof(Elf64_Rela));
    }
    return offsets;
  }
  /// @return the file offsets of the program headers of a type, in table order.
  std::vector<uint64_t> program_headers(uint32_t type) const {
    std::vector<uint64_t> offsets;
    const Elf64_Ehdr elf = header();
    for (uint64_t i = 0; i < elf.e_phnum; ++i) {
      const uint64_t at = elf.e_phoff + i * sizeof(Elf64_Phdr);
      if (get<Elf64_Phdr>(at).p_type == type) offsets.push_back(at);
    }
    return offsets;
  }

 private:
  std::string bytes_;
};

std::string built_released_rnn() {
  return testing::built_library("released-rnn");
}

/// Writes a copy of a built library (the MLP's unless told) changed by `edit` and returns the
/// check's verdict on it.
std::optional<std::string> problem_of_copy(const std::function<void(ElfImage&)>& edit,
                                           const std::string& library = built_mlp()) {
  testing::TemporaryDirectory work;
  ElfImage image(testing::read_file(library));
  edit(image);
  const std::string path = work.file("libdamaged-mlp.so");
  testing::write_file(path, image.bytes());
  return elf_structure_problem(path);
}

/// The damage drill's case: the second load segment's size grown over the following segments.
void grow_second_load_segment(ElfImage& image) {
  const std::vector<uint64_t> loads = image.program_headers(PT_LOAD);
  ASSERT_GE(loads.size(), 3u);
  Elf64_Phdr second = image.get<Elf64_Phdr>(loads[1]);
  const Elf64_Phdr third = image.get<Elf64_Phdr>(loads[2]);
  second.p_memsz = third.p_vaddr - second.p_vaddr + 0x10000;
  image.set(loads[1], second);
}

TEST(ElfCheck, EveryBuiltLibraryPasses) {
  size_t libraries = 0;
  for (const std::string folder : {testing::plugin_directory(), std::string(FIXTURE_DIR)}) {
    for (const auto& file : fs::recursive_directory_iterator(folder)) {
      if (file.path().extension() != ".so") continue;
      ++libraries;
      EXPECT_EQ(elf_structure_problem(file.path().string()), std::nullopt) << file.path();
    }
  }
  EXPECT_GT(libraries, 20u);
}

TEST(ElfCheck, ALoadSegmentGrownOverTheNextIsRefused) {
  EXPECT_THAT(problem_of_copy(grow_second_load_segment),
              Optional(std::string("its ELF load segments 2 and 3 overlap in memory: the file is "
                                   "damaged")));
}

TEST(ElfCheck, ALoadSegmentPastTheEndOfTheFileIsRefused) {
  EXPECT_THAT(problem_of_copy([](ElfImage& image) {
                const uint64_t last = image.program_headers(PT_LOAD).back();
                Elf64_Phdr load = image.get<Elf64_Phdr>(last);
                load.p_filesz = image.bytes().size() - load.p_offset + 1;
                load.p_memsz = std::max(load.p_memsz, load.p_filesz);
                image.set(last, load);
              }),
              Optional(HasSubstr("its ELF load segment 4 reaches past the end of the file")));

  // A truncated copy: its later segments lie past the end.
  testing::TemporaryDirectory work;
  const std::string bytes = testing::read_file(built_mlp());
  testing::write_file(work.file("libtruncated-mlp.so"), bytes.substr(0, bytes.size() / 2));
  EXPECT_THAT(elf_structure_problem(work.file("libtruncated-mlp.so")),
              Optional(HasSubstr("reaches past the end of the file: the file is damaged")));
}

TEST(ElfCheck, AProgramHeaderTablePastTheEndOfTheFileIsRefused) {
  EXPECT_THAT(problem_of_copy([](ElfImage& image) {
                Elf64_Ehdr header = image.header();
                header.e_phoff = image.bytes().size();
                image.set(0, header);
              }),
              Optional(AllOf(HasSubstr("its ELF program header table (at offset 0x"),
                             HasSubstr(") reaches past the end of the file: the file is "
                                       "damaged"))));
}

#if defined(__x86_64__) || defined(__aarch64__)
TEST(ElfCheck, ALibraryForAnotherMachineIsRefused) {
#if defined(__x86_64__)
  const uint16_t other = EM_AARCH64;
  const std::string expected = "it is built for AArch64, this host is x86-64";
#else
  const uint16_t other = EM_X86_64;
  const std::string expected = "it is built for x86-64, this host is AArch64";
#endif
  EXPECT_THAT(problem_of_copy([&](ElfImage& image) {
                Elf64_Ehdr header = image.header();
                header.e_machine = other;
                image.set(0, header);
              }),
              Optional(expected + ": it is not a shared library for this host"));
}
#endif

TEST(ElfCheck, A32BitLibraryIsRefused) {
  EXPECT_THAT(problem_of_copy([](ElfImage& image) {
                Elf64_Ehdr header = image.header();
                header.e_ident[EI_CLASS] = ELFCLASS32;
                image.set(0, header);
              }),
              Optional(std::string("it is a 32-bit ELF file, this host is 64-bit: it is not a "
                                   "shared library for this host")));
}

TEST(ElfCheck, AStringTableOutsideEverySegmentIsRefused) {
  EXPECT_THAT(problem_of_copy([](ElfImage& image) {
                const std::vector<uint64_t> dynamics = image.program_headers(PT_DYNAMIC);
                ASSERT_EQ(dynamics.size(), 1u);
                const Elf64_Phdr dynamic = image.get<Elf64_Phdr>(dynamics.front());
                bool changed = false;
                for (uint64_t at = dynamic.p_offset; at < dynamic.p_offset + dynamic.p_filesz;
                     at += sizeof(Elf64_Dyn)) {
                  Elf64_Dyn entry = image.get<Elf64_Dyn>(at);
                  if (entry.d_tag != DT_STRTAB) continue;
                  entry.d_un.d_ptr = 0x7fff0000;
                  image.set(at, entry);
                  changed = true;
                }
                ASSERT_TRUE(changed) << "no DT_STRTAB entry";
              }),
              Optional(AllOf(HasSubstr("its ELF dynamic entry DT_STRTAB (0x7fff0000, 0x"),
                             HasSubstr(" bytes) points outside every load segment: the "
                                       "file is damaged"))));
}

TEST(ElfCheck, ALoadSegmentWithMoreBytesInTheFileThanInMemoryIsRefused) {
  EXPECT_THAT(problem_of_copy([](ElfImage& image) {
                const uint64_t first = image.program_headers(PT_LOAD).front();
                Elf64_Phdr load = image.get<Elf64_Phdr>(first);
                load.p_filesz = load.p_memsz + 1;
                image.set(first, load);
              }),
              Optional(AllOf(HasSubstr("its ELF load segment 1 has more bytes in the file (0x"),
                             HasSubstr(") than in memory (0x"))));
}

TEST(ElfCheck, AFileThatIsNotALibraryIsRefused) {
  testing::TemporaryDirectory work;
  testing::write_file(work.file("short.so"), "not ELF\n");
  EXPECT_THAT(elf_structure_problem(work.file("short.so")),
              Optional(std::string("it is not a loadable library (its 8 bytes are fewer than an "
                                   "ELF header's)")));
  EXPECT_THAT(elf_structure_problem(work.path()),
              Optional(std::string("it cannot be read (is a directory, not a regular file)")));
}

#if defined(__x86_64__)
constexpr uint32_t kJumpSlot = R_X86_64_JUMP_SLOT;
#elif defined(__aarch64__)
constexpr uint32_t kJumpSlot = R_AARCH64_JUMP_SLOT;
#endif

#if defined(__x86_64__) || defined(__aarch64__)
/// @return the file offset of the first PLT relocation, a JUMP_SLOT one.
uint64_t first_jump_slot(const ElfImage& image) {
  for (uint64_t at : image.plt_relocations()) {
    if (ELF64_R_TYPE(image.get<Elf64_Rela>(at).r_info) == kJumpSlot) return at;
  }
  ADD_FAILURE() << "no JUMP_SLOT relocation";
  return 0;
}

void set_relocation(ElfImage& image, uint64_t at, uint64_t symbol, uint32_t type) {
  Elf64_Rela relocation = image.get<Elf64_Rela>(at);
  relocation.r_info = ELF64_R_INFO(symbol, type);
  image.set(at, relocation);
}

// The damage drill's second case (bytes flipped in the first 4 KiB of the released RNN): a
// JUMP_SLOT relocation's symbol names a string far past the string table. glibc's loader crashed
// in _dl_lookup_symbol_x, or not, by where the library was mapped, so the probe passed.
TEST(ElfCheck, ASymbolNamePastTheStringTableIsRefused) {
  uint64_t symbol = 0;
  const std::optional<std::string> problem = problem_of_copy(
      [&](ElfImage& image) {
        symbol = ELF64_R_SYM(image.get<Elf64_Rela>(first_jump_slot(image)).r_info);
        const uint64_t at = image.file_offset(image.dynamic_value(DT_SYMTAB).value()) +
                            symbol * sizeof(Elf64_Sym);
        Elf64_Sym entry = image.get<Elf64_Sym>(at);
        entry.st_name = 0x3d10a4;
        image.set(at, entry);
      },
      built_released_rnn());
  EXPECT_THAT(problem,
              Optional(AllOf(HasSubstr("its ELF dynamic symbol " + std::to_string(symbol) +
                                       " names a string at 0x3d10a4, past the end of the string "
                                       "table (0x"),
                             HasSubstr(" bytes): the file is damaged"))));
}

TEST(ElfCheck, ARelocationOfASymbolPastTheSymbolTableIsRefused) {
  EXPECT_THAT(problem_of_copy([](ElfImage& image) {
                set_relocation(image, first_jump_slot(image), 0xffffff, kJumpSlot);
              }),
              Optional(AllOf(HasSubstr("its ELF relocation 0 in DT_JMPREL names symbol 16777215, "
                                       "past the end of the symbol table ("),
                             HasSubstr(" symbols): the file is damaged"))));
}

TEST(ElfCheck, ARelocationOutsideEveryWritableSegmentIsRefused) {
  EXPECT_THAT(problem_of_copy([](ElfImage& image) {
                Elf64_Rela relocation = image.get<Elf64_Rela>(first_jump_slot(image));
                relocation.r_offset = 0x100;  // the ELF header's page: read-only
                image.set(first_jump_slot(image), relocation);
              }),
              Optional(std::string("its ELF relocation 0 in DT_JMPREL writes at 0x100, outside "
                                   "every writable load segment: the file is damaged")));
}

TEST(ElfCheck, ARelocationOfATypeTheLoaderDoesNotKnowIsRefused) {
  EXPECT_THAT(problem_of_copy([](ElfImage& image) {
                const uint64_t at = first_jump_slot(image);
                set_relocation(image, at, ELF64_R_SYM(image.get<Elf64_Rela>(at).r_info), 200);
              }),
              Optional(std::string("its ELF relocation 0 in DT_JMPREL has type 200, which this "
                                   "host's loader does not know: the file is damaged")));
}
#endif

TEST(ElfCheck, AVersionNeedChainLeavingItsSegmentIsRefused) {
  EXPECT_THAT(problem_of_copy([](ElfImage& image) {
                const uint64_t at = image.file_offset(image.dynamic_value(DT_VERNEED).value());
                Elf64_Verneed need = image.get<Elf64_Verneed>(at);
                need.vn_next = 0x7fff0000;
                image.set(at, need);
              }),
              Optional(AllOf(HasSubstr("its ELF version need entry 2 (DT_VERNEED) at 0x"),
                             HasSubstr(" lies outside the file part of every load segment: the "
                                       "file is damaged"))));
}

// A symbol defined in the ELF header's page: the loader binds a call to it there.
TEST(ElfCheck, AFunctionDefinedOutsideTheCodeIsRefused) {
  uint64_t symbol = 0;
  const std::optional<std::string> problem = problem_of_copy([&](ElfImage& image) {
    const Elf64_Ehdr header = image.header();
    for (uint64_t i = 0; i < header.e_shnum; ++i) {
      const auto section = image.get<Elf64_Shdr>(header.e_shoff + i * sizeof(Elf64_Shdr));
      if (section.sh_type != SHT_DYNSYM) continue;
      for (symbol = 1; symbol < section.sh_size / sizeof(Elf64_Sym); ++symbol) {
        const uint64_t at = section.sh_offset + symbol * sizeof(Elf64_Sym);
        Elf64_Sym entry = image.get<Elf64_Sym>(at);
        if (entry.st_shndx == SHN_UNDEF || ELF64_ST_TYPE(entry.st_info) != STT_FUNC) continue;
        entry.st_value = 0x100;
        image.set(at, entry);
        return;
      }
    }
    ADD_FAILURE() << "no defined function in .dynsym";
  });
  EXPECT_THAT(problem, Optional("its ELF dynamic symbol " + std::to_string(symbol) +
                                " is a function defined at 0x100, outside every executable load "
                                "segment: the file is damaged"));
}

TEST(ElfCheck, ASymbolVersionPastTheVersionsIsRefused) {
  EXPECT_THAT(problem_of_copy([](ElfImage& image) {
                const uint64_t at = image.file_offset(image.dynamic_value(DT_VERSYM).value());
                image.set<Elf64_Versym>(at + 1 * sizeof(Elf64_Versym), 0x7ffe);
              }),
              Optional(AllOf(HasSubstr("its ELF dynamic symbol 1's version index (DT_VERSYM) is "
                                       "32766, past the highest version needed or defined ("),
                             HasSubstr("): the file is damaged"))));
}

// Out of tree, the grown segment is refused by its headers: no child process probes it.
TEST(ElfCheck, TheCliRefusesTheDrillsDamagedLibraryWithoutProbingIt) {
  testing::TemporaryDirectory work;
  const std::string folder = work.file("plugins");
  ElfImage image(testing::read_file(built_mlp()));
  grow_second_load_segment(image);
  testing::write_file(folder + "/libgrown-mlp.so", image.bytes());

  testing::CommandResult listed = testing::run_cli_with_plugins(folder, "plugins", work.file("cache"));
  EXPECT_EQ(listed.exit_code, 2) << listed.err;
  EXPECT_THAT(listed.err, HasSubstr("plugin library '" + folder + "/libgrown-mlp.so' was not "
                                    "loaded: its ELF load segments 2 and 3 overlap in memory: the "
                                    "file is damaged; rebuild it, or remove it"));
  EXPECT_THAT(listed.err, Not(HasSubstr("probing it in a child process")));
  // A probe would have recorded its outcome in the cache.
  EXPECT_FALSE(fs::exists(work.file("cache") + "/guidance/plugin-probes.tsv"));
  EXPECT_THAT(listed.out, HasSubstr("linear-cka"));
}

}  // namespace
}  // namespace guidance
