// The translation between HTTP/2 messages and the HTTP/1 bytes HttpServer
// reads and writes, so that a request over HTTP/2 goes through exactly the
// same parsing, routing and handlers as one over HTTP/1 (raw paths, raw
// header values, an empty Last-Event-ID kept distinct from an absent one).
//
//   - Http2RequestHead collects one HTTP/2 request's decoded fields
//     (pseudo-headers and headers) and builds the HTTP/1.1 head that
//     HttpServer::Serve() takes. Anything that an HTTP/1 head could not
//     carry unchanged (CR, LF or NUL, a path with spaces or controls, an
//     uppercase or empty name, a connection-specific header) is refused,
//     never rewritten.
//   - ParseHttp1Response splits the bytes HttpServer wrote for a response
//     (status line, headers, body) into an HTTP/2 status and header list,
//     without the HTTP/1 connection-specific headers (RFC 9113 8.2.2).
//
// Not thread-safe per object; the functions are pure.

#ifndef SSE_GATEWAY_GATEWAY_HTTP_HTTP2_TRANSLATION_H_
#define SSE_GATEWAY_GATEWAY_HTTP_HTTP2_TRANSLATION_H_

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sse_gateway {

class Http2RequestHead {
 public:
  // Adds one decoded field, in the order received. Pseudo-headers
  // (":method", ":path", ":authority", ":scheme") must come first, as
  // HTTP/2 requires; `cookie` fields are joined with "; " (RFC 9113 8.2.3).
  // The first problem is kept and returned by Build().
  void Add(absl::string_view name, absl::string_view value);

  // The HTTP/1.1 head ("GET /path HTTP/1.1\r\nhost: ...\r\n...\r\n\r\n"),
  // or InvalidArgument naming what was wrong.
  absl::StatusOr<std::string> Build() const;

 private:
  void Fail(std::string message);

  absl::Status error_;
  std::string method_;
  std::string path_;
  std::string authority_;
  bool saw_regular_field_ = false;
  bool has_host_ = false;
  std::string cookie_;
  std::vector<std::pair<std::string, std::string>> fields_;
};

struct Http1Response {
  int status = 0;
  // Names lower-cased, connection-specific headers removed.
  std::vector<std::pair<std::string, std::string>> headers;
  // Where the body starts in the parsed bytes (just after the empty line).
  size_t body_offset = 0;
};

// Parses the response `bytes` written by HttpServer (an HTTP/1.1 status
// line, headers, an empty line, maybe a body). InvalidArgument when they
// are not a well-formed head.
absl::StatusOr<Http1Response> ParseHttp1Response(absl::string_view bytes);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_HTTP_HTTP2_TRANSLATION_H_
