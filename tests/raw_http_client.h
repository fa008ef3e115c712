// RawHttpClient: an HTTP/1.1 client on a plain socket, for tests that must
// control exactly what is sent and when (or whether) the response is read.
// Not thread-safe.

#ifndef SSE_GATEWAY_TESTS_RAW_HTTP_CLIENT_H_
#define SSE_GATEWAY_TESTS_RAW_HTTP_CLIENT_H_

#include <string>

#include "absl/strings/string_view.h"

namespace sse_gateway {

class RawHttpClient {
 public:
  // Connects to 127.0.0.1:`port`; a non-zero `receive_buffer_bytes` sets
  // SO_RCVBUF first (a small one makes a slow reader).
  explicit RawHttpClient(int port, int receive_buffer_bytes = 0);
  ~RawHttpClient();
  RawHttpClient(const RawHttpClient&) = delete;
  RawHttpClient& operator=(const RawHttpClient&) = delete;

  void Send(const std::string& text);

  // Reads until `needle` has been received `times` times (or EOF, or 30 s in
  // all); returns everything received so far (raw, still chunked).
  std::string ReadUntil(absl::string_view needle, int times = 1);

  void Close();

  // How often `needle` occurs in `haystack`, without overlaps.
  static int Count(absl::string_view haystack, absl::string_view needle);

 private:
  int fd_ = -1;
  std::string received_;
};

// "GET <target> HTTP/1.1" with a Host header.
std::string GetRequest(const std::string& target);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_TESTS_RAW_HTTP_CLIENT_H_
