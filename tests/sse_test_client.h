// SseTestClient: a real HTTP client (httplib) that reads an SSE response as a
// browser would, parsing it with the spec-compliant SseParser. For tests.
//
// Get() blocks until the response ends, the `on_event` callback asks to stop,
// or `timeout` passes without any bytes arriving. Thread-compatible: use one
// client per thread.

#ifndef SSE_GATEWAY_TESTS_SSE_TEST_CLIENT_H_
#define SSE_GATEWAY_TESTS_SSE_TEST_CLIENT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "core/sse_parser.h"
#include "httplib.h"

namespace sse_gateway {

struct SseResponse {
  int status = 0;  // 0: no response (connection failed)
  httplib::Headers headers;
  std::string body;  // raw body bytes (after de-chunking)
  std::vector<SseEvent> events;
  std::optional<int64_t> reconnection_time_ms;
  int64_t comment_count = 0;
  bool completed = false;  // the server ended the response

  std::string header(const std::string& name) const;
};

class SseTestClient {
 public:
  SseTestClient(const std::string& host, int port,
                absl::Duration timeout = absl::Seconds(30));

  // GETs `path_and_query` with extra request headers. `on_event` (optional)
  // sees each event as it arrives and returns false to disconnect.
  SseResponse Get(
      const std::string& path_and_query, const httplib::Headers& headers = {},
      const std::function<bool(const SseEvent&)>& on_event = nullptr);

  // Sends a request with any method; returns status, headers and body.
  SseResponse Send(const std::string& method, const std::string& path,
                   const httplib::Headers& headers = {});

 private:
  httplib::Client client_;
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_TESTS_SSE_TEST_CLIENT_H_
