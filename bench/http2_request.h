// Http2HeadersFromRequest: the load generator's HTTP/1.1 request head turned
// into the header fields of the same request over HTTP/2 (RFC 9113 8.3), so
// that both protocols send one request text:
//
//  - :method and :path from the request line, :scheme as given, :authority
//    from the Host field (which is then left out), in that order first;
//  - every other field in its order, its name lowercased and its value with
//    the surrounding spaces and tabs removed;
//  - the connection-specific fields HTTP/2 forbids (RFC 9113 8.2.2) left
//    out: Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding,
//    Upgrade, and TE unless its value is "trailers".
//
// The head is "METHOD SP TARGET SP HTTP/1.x" CR LF, then header lines "Name:
// value" CR LF (a bare LF is accepted), then an empty line. It is an error
// (InvalidArgument) when the request line or a header line is malformed,
// Host is missing, repeated or empty, the empty line is missing, or bytes
// follow it (the load generator's requests have no body).
//
// Thread-safe (a pure function).

#ifndef SSE_GATEWAY_BENCH_HTTP2_REQUEST_H_
#define SSE_GATEWAY_BENCH_HTTP2_REQUEST_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sse_gateway {

struct Http2Header {
  std::string name;
  std::string value;

  bool operator==(const Http2Header& other) const {
    return name == other.name && value == other.value;
  }
};

absl::StatusOr<std::vector<Http2Header>> Http2HeadersFromRequest(
    absl::string_view request, absl::string_view scheme);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_BENCH_HTTP2_REQUEST_H_
