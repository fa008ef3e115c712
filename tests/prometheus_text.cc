#include "tests/prometheus_text.h"

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace sse_gateway {

// The value of the sample `series` (name and labels exactly as rendered) in
// `text`, or "<missing>".
std::string SampleValue(const std::string& text, absl::string_view series) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::ConsumePrefix(&line, series) && absl::ConsumePrefix(&line, " ")) {
      return std::string(line);
    }
  }
  return "<missing>";
}

int64_t SampleInt(const std::string& text, absl::string_view series) {
  int64_t value = -1;
  std::string raw = SampleValue(text, series);
  EXPECT_TRUE(absl::SimpleAtoi(raw, &value)) << series << " = " << raw;
  return value;
}

// Runs `promtool check metrics` with `exposition` on stdin.
PromtoolResult RunPromtool(const std::string& exposition) {
  PromtoolResult result;
  const char* tmpdir = std::getenv("TEST_TMPDIR");
  std::string path =
      absl::StrCat(tmpdir != nullptr ? tmpdir : "/tmp", "/metrics_test_",
                   ::testing::UnitTest::GetInstance()->random_seed(), "_",
                   std::hash<std::string>()(exposition), ".prom");
  {
    std::ofstream file(path, std::ios::binary);
    file << exposition;
    if (!file) {
      result.output = "cannot write " + path;
      return result;
    }
  }
  std::string command =
      absl::StrCat(kPromtool, " check metrics < '", path, "' 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    result.output = "popen failed";
    return result;
  }
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    result.output.append(buffer, n);
  }
  int status = pclose(pipe);
  result.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::remove(path.c_str());
  return result;
}

bool PromtoolInstalled() {
  std::ifstream probe(kPromtool);
  return probe.good();
}

}  // namespace sse_gateway
