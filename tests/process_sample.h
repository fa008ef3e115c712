// ProcessSample: what the kernel says about a running process (open file
// descriptors, threads by name, resident memory), read from /proc/PID, so
// fault tests can check that a process is back at its baseline.
//
// Thread-safe (no shared state). Reading a process that exits meanwhile
// gives partial counts, never an error.

#ifndef SSE_GATEWAY_TESTS_PROCESS_SAMPLE_H_
#define SSE_GATEWAY_TESTS_PROCESS_SAMPLE_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace sse_gateway {

struct ProcessSample {
  int fds = -1;
  std::map<std::string, int> threads;  // comm (15 bytes at most) -> count
  int64_t rss_kib = -1;
  int64_t peak_rss_kib = -1;  // VmHWM: the largest RSS so far.

  // `threads` without the given thread names.
  std::map<std::string, int> ThreadsExcept(
      absl::Span<const absl::string_view> names) const;
};

// Samples /proc/`pid`.
ProcessSample SampleProcess(pid_t pid);

// "name=count name=count ...", for messages.
std::string ThreadsText(const std::map<std::string, int>& threads);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_TESTS_PROCESS_SAMPLE_H_
