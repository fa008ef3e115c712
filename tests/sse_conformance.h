// The shared SSE conformance cases (../shared/conformance/
// sse_framing_cases.json, the Bazel data file
// @shared//:conformance/sse_framing_cases.json), loaded for tests.

#ifndef SSE_GATEWAY_TESTS_SSE_CONFORMANCE_H_
#define SSE_GATEWAY_TESTS_SSE_CONFORMANCE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/sse_message.h"

namespace sse_gateway {

// One message in, the exact bytes out, or a refusal.
struct FramingCase {
  std::string name;
  SseMessage message;
  std::optional<std::string> expect;  // Exact wire bytes, if framable.
  bool expect_error = false;
};

// What the client sends as Last-Event-ID (nullopt: no header) and what the
// stream factory must receive (nullopt: "there is none").
struct LastEventIdCase {
  std::optional<std::string> header;
  std::optional<std::string> stream_receives;
};

struct SseConformanceCases {
  std::vector<FramingCase> framing;
  std::vector<LastEventIdCase> last_event_id;
};

// Reads and checks the file; an error names what is missing or malformed
// (an unreadable file, bad JSON, no cases, a malformed case).
absl::StatusOr<SseConformanceCases> LoadSseConformanceCases();

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_TESTS_SSE_CONFORMANCE_H_
