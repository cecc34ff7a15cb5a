// The plugin ABI version is pinned to the API headers (issue 26): plugin-api/ABI.txt records the
// version and a digest of the headers' code (comments and layout left out). A change to the
// headers' code that leaves the digest alone fails here, so whoever changes the API decides
// whether built plugins still fit it (then only the digest is updated) or not (then kAbiVersion
// is raised as well), instead of a stale version letting an old plugin load into a new host.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "guidance/api/Export.h"
#include "host/common/Fnv1a.h"
#include "tests/support/TestSupport.h"

namespace guidance {
namespace {

namespace fs = std::filesystem;

const std::string kAbiFile = "plugin-api/ABI.txt";
const std::string kHeaderFolder = "plugin-api/include/guidance/api";

// `source` without its comments, each run of white space one space: what the compiler sees of it,
// near enough that a reworded comment or a re-indented line does not move the digest.
std::string code_of(const std::string& source) {
  std::string code;
  bool in_string = false, in_char = false;
  for (size_t i = 0; i < source.size(); ++i) {
    char c = source[i];
    if (!in_string && !in_char && source.compare(i, 2, "//") == 0) {
      i = source.find('\n', i);
      if (i == std::string::npos) break;
      c = '\n';
    } else if (!in_string && !in_char && source.compare(i, 2, "/*") == 0) {
      i = source.find("*/", i + 2);
      if (i == std::string::npos) break;
      i += 1;
      c = ' ';
    } else if ((in_string || in_char) && c == '\\' && i + 1 < source.size()) {
      code += c;
      c = source[++i];
    } else if (c == '"' && !in_char) {
      in_string = !in_string;
    } else if (c == '\'' && !in_string) {
      in_char = !in_char;
    }
    bool space = !in_string && !in_char && std::isspace(static_cast<unsigned char>(c));
    if (space) {
      if (!code.empty() && code.back() != ' ') code += ' ';
    } else {
      code += c;
    }
  }
  return code;
}

std::string headers_digest() {
  std::vector<fs::path> headers;
  const std::string folder = testing::source_directory() + "/" + kHeaderFolder;
  for (const auto& entry : fs::directory_iterator(folder)) {
    if (entry.path().extension() == ".h") headers.push_back(entry.path());
  }
  std::sort(headers.begin(), headers.end());
  uint64_t hash = kFnv1aOffsetBasis;
  for (const auto& header : headers) {
    std::string part =
        header.filename().string() + "\n" + code_of(testing::read_file(header.string())) + "\n";
    hash = fnv1a(hash, part.data(), part.size());
  }
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(hash));
  return text;
}

// The value of `key` in plugin-api/ABI.txt ("key value" lines; '#' starts a comment line).
std::string pinned(const std::string& key) {
  std::istringstream lines(testing::read_file(testing::source_directory() + "/" + kAbiFile));
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(key + " ", 0) == 0) return line.substr(key.size() + 1);
  }
  return "";
}

TEST(AbiPin, CommentsAndLayoutDoNotMoveTheDigestCodeDoes) {
  EXPECT_EQ(code_of("int a;  // the count\n/* block */ int  b;"), code_of("int a;\nint b;"));
  EXPECT_EQ(code_of("const char* s = \"// kept\";"), "const char* s = \"// kept\";");
  EXPECT_NE(code_of("int a; int b;"), code_of("int a; long b;"));
}

TEST(AbiPin, TheAbiVersionIsPinnedToTheApiHeaders) {
  EXPECT_EQ(pinned("version"), std::to_string(kAbiVersion))
      << kAbiFile << " pins ABI version " << pinned("version") << " but Export.h's kAbiVersion is "
      << kAbiVersion << ": write the version in " << kAbiFile;
  std::string digest = headers_digest();
  EXPECT_EQ(pinned("headers"), digest)
      << "the code of " << kHeaderFolder << "/*.h changed since ABI version " << kAbiVersion
      << " was pinned. If a plugin built against the old headers no longer fits the host (a "
         "changed class layout, virtual function, signature or descriptor), raise kAbiVersion in "
         "Export.h and the version in "
      << kAbiFile << "; either way write the new digest there: headers " << digest;
}

}  // namespace
}  // namespace guidance
