#include "tests/test_environment.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace sse_gateway {

absl::StatusOr<std::string> MakeTestDirectory() {
  const std::string dir = absl::StrCat(
      ::testing::TempDir(), "/",
      ::testing::UnitTest::GetInstance()->current_test_info()->name());
  if (mkdir(dir.c_str(), 0755) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot create ", dir, ": ", std::strerror(errno)));
  }
  return dir;
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

std::string ToolPath(const char* variable, const std::string& default_path) {
  const char* value = std::getenv(variable);
  return value != nullptr && value[0] != '\0' ? value : default_path;
}

std::string WaitForFileLines(const std::string& path, size_t lines,
                             absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string content = ReadFileOrEmpty(path);
  while (static_cast<size_t>(std::count(content.begin(), content.end(), '\n')) <
             lines &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
    content = ReadFileOrEmpty(path);
  }
  return content;
}

bool MissingDependenciesMustFail() {
  const char* ci = std::getenv("CI");
  return ci != nullptr &&
         (std::strcmp(ci, "true") == 0 || std::strcmp(ci, "1") == 0);
}

}  // namespace sse_gateway
