// InputFile: what every reader of a config-named file relies on to neither hang nor allocate
// without bound (issue 24).
#include "guidance/api/InputFile.h"

#include <sys/stat.h>

#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/TestSupport.h"

namespace guidance {
namespace {

using ::testing::HasSubstr;

std::string refusal(const std::string& path, uint64_t max_bytes = kMaxInputFileBytes) {
  try {
    InputFile::open(path, max_bytes);
  } catch (const std::runtime_error& error) {
    return error.what();
  }
  return "";
}

TEST(InputFile, ReadsAPlainFileWhole) {
  testing::TemporaryDirectory dir;
  const std::string path = dir.file("plain.bin");
  testing::write_file(path, std::string("abc\0def", 7));
  InputFile file = InputFile::open(path);
  EXPECT_EQ(file.size(), 7u);
  EXPECT_EQ(file.read_all(), std::string("abc\0def", 7));
}

// Opening a FIFO for reading waits for a writer unless done without blocking: a regression hangs
// here (ctest's timeout), as `check` once hung on one.
TEST(InputFile, RefusesFifosDevicesAndDirectoriesWithoutReading) {
  testing::TemporaryDirectory dir;
  const std::string fifo = dir.file("pipe");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(refusal(fifo), fifo + ": is a FIFO, not a regular file");
  EXPECT_EQ(refusal("/dev/zero"), "/dev/zero: is a character device, not a regular file");
  EXPECT_EQ(refusal(dir.path()), dir.path() + ": is a directory, not a regular file");
  EXPECT_EQ(refusal(dir.file("absent")), dir.file("absent") + ": no such file");
}

TEST(InputFile, RefusesAFileLargerThanTheBoundBeforeReadingIt) {
  testing::TemporaryDirectory dir;
  const std::string path = dir.file("big.bin");
  testing::write_file(path, std::string(101, 'x'));
  EXPECT_EQ(refusal(path, 100), path + ": 101 bytes is larger than the 100 bytes allowed");
  EXPECT_EQ(refusal(path, 101), "");
}

TEST(InputFile, AFileThatGrowsPastTheBoundWhileOpenIsRefused) {
  testing::TemporaryDirectory dir;
  const std::string path = dir.file("growing.bin");
  testing::write_file(path, std::string(60, 'x'));
  InputFile file = InputFile::open(path, 100);
  std::ofstream(path, std::ios::app) << std::string(60, 'y');
  try {
    file.read_all();
    FAIL() << "read past the bound";
  } catch (const std::runtime_error& error) {
    EXPECT_THAT(error.what(), HasSubstr("grew past the 100 bytes allowed"));
  }
}

TEST(InputFile, AParameterFileNamesItsParameter) {
  try {
    open_param_file("path", "/dev/zero");
    FAIL() << "opened /dev/zero";
  } catch (const ParamError& error) {
    EXPECT_EQ(error.param(), "path");
    EXPECT_THAT(error.what(), HasSubstr("/dev/zero: is a character device"));
  }
  try {
    check_param_directory("root", "/dev/zero");
    FAIL() << "took /dev/zero for a directory";
  } catch (const ParamError& error) {
    EXPECT_EQ(error.param(), "root");
    EXPECT_THAT(error.what(), HasSubstr("/dev/zero: is not a directory"));
  }
}

}  // namespace
}  // namespace guidance
