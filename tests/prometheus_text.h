// Reading and checking Prometheus text expositions in tests.

#ifndef SSE_GATEWAY_TESTS_PROMETHEUS_TEXT_H_
#define SSE_GATEWAY_TESTS_PROMETHEUS_TEXT_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace sse_gateway {

inline constexpr char kPromtool[] = "/usr/bin/promtool";

// The value of the sample `series` (name and labels exactly as rendered) in
// `text`, or "<missing>".
std::string SampleValue(const std::string& text, absl::string_view series);

// SampleValue as an integer; a test failure (and -1) if it is not one.
int64_t SampleInt(const std::string& text, absl::string_view series);

struct PromtoolResult {
  int exit_status = -1;
  std::string output;  // stdout and stderr
};

// Runs `promtool check metrics` with `exposition` on stdin.
PromtoolResult RunPromtool(const std::string& exposition);

// Whether /usr/bin/promtool (Debian package prometheus) is installed.
bool PromtoolInstalled();

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_TESTS_PROMETHEUS_TEXT_H_
