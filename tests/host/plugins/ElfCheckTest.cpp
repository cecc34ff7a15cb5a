// The ELF structure check refuses damaged copies of a real plugin library by their headers, before
// any child process is spawned to probe them (host/plugins/ElfCheck.h).
#include "host/plugins/ElfCheck.h"

#include <elf.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>

#include "tests/support/TestSupport.h"

namespace guidance {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Optional;

std::string built_mlp() { return testing::plugin_directory() + "/libguidance-mlp.so"; }

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

/// Writes a copy of the built MLP library changed by `edit` and returns the check's verdict on it.
std::optional<std::string> problem_of_copy(const std::function<void(ElfImage&)>& edit) {
  testing::TemporaryDirectory work;
  ElfImage image(testing::read_file(built_mlp()));
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

// Out of tree, the grown segment is refused by its headers: no child process probes it.
TEST(ElfCheck, TheCliRefusesTheDrillsDamagedLibraryWithoutProbingIt) {
  testing::TemporaryDirectory work;
  const std::string folder = work.file("plugins");
  ElfImage image(testing::read_file(built_mlp()));
  grow_second_load_segment(image);
  testing::write_file(folder + "/libgrown-mlp.so", image.bytes());

  testing::CommandResult listed = testing::run_command(
      "XDG_CACHE_HOME='" + work.file("cache") + "' '" + testing::cli_path() + "' --plugin-dir '" +
      folder + "' plugins");
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
