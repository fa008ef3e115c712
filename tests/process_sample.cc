#include "tests/process_sample.h"

#include <dirent.h>

#include <fstream>
#include <functional>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace sse_gateway {
namespace {

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Calls `visit` with the name of each entry of a directory but . and ..
void ForEachEntry(const std::string& path,
                  const std::function<void(const char*)>& visit) {
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) return;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') visit(entry->d_name);
  }
  closedir(dir);
}

// The number after `key` ("VmRSS:") in /proc/PID/status, in kB.
int64_t StatusKib(const std::string& status, absl::string_view key) {
  size_t at = status.find(absl::StrCat("\n", key));
  if (at == std::string::npos) return -1;
  std::string rest = status.substr(at + key.size() + 1);
  int64_t kib = -1;
  return absl::SimpleAtoi(rest.substr(0, rest.find(" kB")), &kib) ? kib : -1;
}

}  // namespace

std::map<std::string, int> ProcessSample::ThreadsExcept(
    absl::Span<const absl::string_view> names) const {
  std::map<std::string, int> kept = threads;
  for (absl::string_view name : names) kept.erase(std::string(name));
  return kept;
}

std::string ThreadsText(const std::map<std::string, int>& threads) {
  return absl::StrJoin(threads, " ", absl::PairFormatter("="));
}

ProcessSample SampleProcess(pid_t pid) {
  const std::string proc = absl::StrCat("/proc/", pid);
  ProcessSample sample;
  sample.fds = 0;
  ForEachEntry(proc + "/fd", [&](const char*) { ++sample.fds; });
  ForEachEntry(proc + "/task", [&](const char* task) {
    std::string comm =
        ReadWholeFile(absl::StrCat(proc, "/task/", task, "/comm"));
    // A thread that ended between readdir and the read has no comm.
    if (!comm.empty())
      ++sample.threads[std::string(absl::StripSuffix(comm, "\n"))];
  });
  const std::string status = ReadWholeFile(proc + "/status");
  sample.rss_kib = StatusKib(status, "VmRSS:");
  sample.peak_rss_kib = StatusKib(status, "VmHWM:");
  return sample;
}

}  // namespace sse_gateway
