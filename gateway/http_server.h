// HttpServer: httplib's HTTP/1.1 server, with the connection loop (keep-alive
// and socket I/O) run by the gateway's own SocketStream.
//
// httplib's request parsing drops a header whose value is empty and
// percent-decodes every other header value. For Server-Sent Events both
// matter: an empty Last-Event-ID ("reset") must stay distinct from an absent
// one, and an id containing "%41" must come back as sent. HttpServer records
// the raw request head that httplib reads and, before routing, replaces
// httplib's parsed header values by the raw ones (trimmed of surrounding
// spaces and tabs, as HTTP specifies), keeping the headers httplib adds
// itself (REMOTE_ADDR, ...). Everything else, routing and responses, is
// httplib's.
//
// Thread-safe like httplib::Server: each connection runs on its own task.

#ifndef SSE_GATEWAY_GATEWAY_HTTP_SERVER_H_
#define SSE_GATEWAY_GATEWAY_HTTP_SERVER_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "httplib.h"

namespace sse_gateway {

// The header fields of a raw HTTP/1.1 request head (request line first,
// lines ended by CRLF), in order, with values trimmed of leading and trailing
// spaces and tabs. Lines without ':' are skipped. Stops at the blank line.
std::vector<std::pair<std::string, std::string>> ParseRawHeaderFields(
    absl::string_view head);

class HttpServer : public httplib::Server {
 public:
  // Request heads larger than this keep httplib's parsed header values.
  static constexpr size_t kMaxRecordedHeadBytes = 64 * 1024;

 private:
  // Serves the requests of one connection (keep-alive), then closes it.
  bool process_and_close_socket(int socket) override;
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_HTTP_SERVER_H_
