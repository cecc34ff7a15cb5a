// A damaged plugin library cannot take the host down: copies of real plugin libraries, truncated
// or with their code overwritten, crash the dynamic loader or the library's own code when loaded
// in-process (SIGBUS, SIGSEGV). The build's own libraries are checked against its manifest; any
// other is loaded in a child process first (host/plugins/PluginManifest.h, PluginProbe.h).
#include <elf.h>
#include <stdlib.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>

#include "host/plugins/PluginCatalog.h"
#include "host/plugins/PluginManifest.h"
#include "host/plugins/PluginProbe.h"
#include "tests/host/plugins/PluginTestSupport.h"
#include "tests/support/TestSupport.h"

namespace guidance {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

std::string fixture(const std::string& folder) { return std::string(FIXTURE_DIR) + "/" + folder; }

/// The first half of a library: its segments reach past the end of the file.
void write_truncated_copy(const std::string& from, const std::string& to) {
  std::string bytes = testing::read_file(from);
  testing::write_file(to, bytes.substr(0, bytes.size() / 2));
}

/// A copy of the same size whose .text section is overwritten with an instruction that faults
/// wherever a function starts (x86-64: mov rax, [0]; elsewhere zeros, an undefined instruction).
void write_copy_with_faulting_code(const std::string& from, const std::string& to) {
  std::string bytes = testing::read_file(from);
  ASSERT_GE(bytes.size(), sizeof(Elf64_Ehdr));
  Elf64_Ehdr header;
  std::memcpy(&header, bytes.data(), sizeof(header));
  ASSERT_EQ(header.e_ident[EI_CLASS], ELFCLASS64);
  auto section = [&](size_t index) {
    Elf64_Shdr entry;
    std::memcpy(&entry, bytes.data() + header.e_shoff + index * header.e_shentsize, sizeof(entry));
    return entry;
  };
  const char* names = bytes.data() + section(header.e_shstrndx).sh_offset;
#if defined(__x86_64__)
  const std::string fault("\x48\x8b\x04\x25\x00\x00\x00\x00", 8);
#else
  const std::string fault(8, '\0');
#endif
  bool patched = false;
  for (size_t i = 0; i < header.e_shnum; ++i) {
    Elf64_Shdr text = section(i);
    if (std::strcmp(names + text.sh_name, ".text") != 0) continue;
    for (size_t at = text.sh_offset; at + fault.size() <= text.sh_offset + text.sh_size;
         at += fault.size()) {
      bytes.replace(at, fault.size(), fault);
    }
    patched = true;
  }
  ASSERT_TRUE(patched) << "no .text section in " << from;
  testing::write_file(to, bytes);
}

/// Points the probe cache at a folder of the test's own for the life of this object.
class ScopedCacheHome {
 public:
  explicit ScopedCacheHome(const std::string& directory) {
    if (const char* old = std::getenv("XDG_CACHE_HOME")) old_ = old;
    ::setenv("XDG_CACHE_HOME", directory.c_str(), 1);
  }
  ~ScopedCacheHome() {
    if (old_) {
      ::setenv("XDG_CACHE_HOME", old_->c_str(), 1);
    } else {
      ::unsetenv("XDG_CACHE_HOME");
    }
  }

 private:
  std::optional<std::string> old_;
};

TEST(PluginIsolation, DamagedLibrariesOutOfTreeAreRefusedBeforeLoadingAndTheHostLivesOn) {
  testing::TemporaryDirectory work;
  const std::string folder = work.file("plugins");
  write_truncated_copy(testing::built_library("mlp"), folder + "/libtruncated-mlp.so");
  write_copy_with_faulting_code(testing::built_library("mlp"), folder + "/libcorrupt-mlp.so");

  testing::CommandResult listed = testing::run_cli_with_plugins(folder, "plugins", work.file("cache"));
  // Exit 2: problems reported, the rest listed; not 128 + a signal.
  EXPECT_EQ(listed.exit_code, 2) << listed.err;
  // The truncated copy fails the ELF structure check (host/plugins/ElfCheck.h) before any probe.
  EXPECT_THAT(listed.err, HasSubstr("plugin library '" + folder + "/libtruncated-mlp.so' was not "
                                    "loaded: its ELF load segment"));
  EXPECT_THAT(listed.err, HasSubstr("reaches past the end of the file"));
  EXPECT_THAT(listed.err, HasSubstr("plugin library '" + folder + "/libcorrupt-mlp.so' was not "
                                    "loaded: probing it in a child process ended with SIG"));
  EXPECT_THAT(listed.err, HasSubstr("the file is damaged"));
  EXPECT_THAT(listed.out, HasSubstr("linear-cka"));

  // The same in this process, through the catalog: the test binary is its own probe.
  ScopedCacheHome cache(work.file("cache"));
  PluginCatalog catalog;
  catalog.load_directory(folder);
  ASSERT_EQ(catalog.problems().size(), 2u);
  EXPECT_THAT(catalog.problems()[0], HasSubstr("libcorrupt-mlp.so' was not loaded"));
  EXPECT_THAT(catalog.problems()[1], HasSubstr("libtruncated-mlp.so' was not loaded"));
  EXPECT_TRUE(catalog.entries().empty());
}

// A probe that skipped the exit handlers passed such a library, and the host then ended with
// SIGSEGV after its work was done (the damage drill found a copy with a grown segment doing so).
TEST(PluginIsolation, ALibraryThatCrashesOnlyWhenTheProcessEndsIsRefusedByTheProbe) {
  testing::TemporaryDirectory work;
  const std::string folder = fixture("crashes-at-exit");
  testing::CommandResult listed = testing::run_cli_with_plugins(folder, "plugins", work.file("cache"));
  EXPECT_EQ(listed.exit_code, 2) << listed.err;
  EXPECT_THAT(listed.err, HasSubstr("plugin library '" + folder + "/libfixture-crashes-at-exit.so' "
                                    "was not loaded: probing it in a child process ended with "
                                    "SIGSEGV"));
  EXPECT_THAT(listed.out, Not(HasSubstr("fixture-exit")));
}

TEST(PluginIsolation, DamagedCopiesOfTheBuildsLibrariesAreRefusedByItsManifestWithoutProbing) {
  testing::TemporaryDirectory work;
  const std::string folder = work.file("plugins");
  fs::create_directories(folder);
  // Each copy keeps its library's name, the one the manifest lists.
  auto copy_of = [&](const std::string& plugin) {
    return folder + "/" + testing::plugin_library_name(plugin);
  };
  fs::copy_file(testing::plugin_directory() + "/" + PluginManifest::kFileName,
                folder + "/" + PluginManifest::kFileName);
  fs::copy_file(testing::built_library("cca"), copy_of("cca"));
  write_truncated_copy(testing::built_library("mlp"), copy_of("mlp"));
  write_copy_with_faulting_code(testing::built_library("vit"), copy_of("vit"));

  ScopedCacheHome cache(work.file("cache"));
  PluginCatalog catalog;
  catalog.load_directory(folder);
  ASSERT_EQ(catalog.problems().size(), 2u);
  const std::string manifest = folder + "/" + PluginManifest::kFileName;
  EXPECT_THAT(catalog.problems()[0],
              HasSubstr("plugin library '" + copy_of("mlp") + "' does not match the "
                        "build's manifest '" + manifest + "' (size " +
                        std::to_string(fs::file_size(copy_of("mlp"))) +
                        " bytes, expected " +
                        std::to_string(fs::file_size(testing::built_library("mlp"))) + ")"));
  EXPECT_THAT(catalog.problems()[1],
              HasSubstr("plugin library '" + copy_of("vit") + "' does not match the "
                        "build's manifest '" + manifest + "' (checksum differs): damaged or "
                        "replaced since it was built; rebuild it"));
  // The intact copy matches the manifest and loads; nothing needed a child process.
  EXPECT_EQ(catalog.names(PluginKind::Metric), std::vector<std::string>{"cca"});
  EXPECT_FALSE(fs::exists(plugin_probe_cache_path()));

  fs::remove(copy_of("cca"));  // a duplicate of the built-in one, for the CLI
  testing::CommandResult checked = testing::run_cli_with_plugins(
      folder, "check '" + testing::source_directory() + "/configs/quickstart.toml'",
      work.file("cache"));
  EXPECT_EQ(checked.exit_code, 2) << checked.err;
  EXPECT_THAT(checked.err, HasSubstr(copy_of("mlp") + "' does not match the build's manifest"));
}

TEST(PluginIsolation, TheBuildsManifestListsEveryBuiltLibraryAsItIs) {
  const std::string folder = testing::plugin_directory();
  PluginManifest manifest = PluginManifest::read(folder + "/" + PluginManifest::kFileName);
  size_t libraries = 0;
  for (const auto& file : fs::directory_iterator(folder)) {
    if (file.path().extension() != ".so") continue;
    ++libraries;
    const FileChecksum* listed = manifest.find(file.path().filename().string());
    ASSERT_NE(listed, nullptr) << file.path() << " is not in the manifest";
    FileChecksum actual = checksum_file(file.path().string());
    EXPECT_EQ(listed->size, actual.size) << file.path();
    EXPECT_EQ(listed->fnv1a, actual.fnv1a) << file.path();
  }
  EXPECT_GT(libraries, 20u);
}

TEST(PluginIsolation, AGoodLibraryOutOfTreeIsProbedOnceThenTakenFromTheCache) {
  testing::TemporaryDirectory work;
  const std::string folder = work.file("plugins");
  const std::string library = folder + "/libfixture-valid.so";
  fs::create_directories(folder);
  fs::copy_file(fixture("valid") + "/libfixture-valid.so", library);
  ScopedCacheHome cache_home(work.file("cache"));
  const std::string cache = plugin_probe_cache_path();
  EXPECT_EQ(cache, work.file("cache") + "/guidance/plugin-probes.tsv");

  PluginCatalog probed;
  probed.load_directory(folder);
  EXPECT_TRUE(probed.problems().empty());
  EXPECT_EQ(probed.names(PluginKind::Metric), std::vector<std::string>{"fixture-metric"});
  std::string cached = testing::read_file(cache);
  EXPECT_THAT(cached, HasSubstr(library + "\t"));
  EXPECT_THAT(cached, HasSubstr("\tok\t"));

  // A second load believes the cache without probing: a verdict planted there is what it reports.
  testing::write_file(cache,
                      testing::replace_first(cached, "\tok\t", "\trefused\tplanted verdict"));
  PluginCatalog from_cache;
  from_cache.load_directory(folder);
  EXPECT_EQ(from_cache.problems(), std::vector<std::string>{"plugin library '" + library +
                                                            "' was not loaded: planted verdict"});

  // A changed file is probed afresh.
  fs::last_write_time(library, fs::last_write_time(library) + std::chrono::seconds(5));
  PluginCatalog reprobed;
  reprobed.load_directory(folder);
  EXPECT_TRUE(reprobed.problems().empty());
  EXPECT_THAT(testing::read_file(cache), Not(HasSubstr("planted verdict")));
}

}  // namespace
}  // namespace guidance
