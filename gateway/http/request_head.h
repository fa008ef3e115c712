// The raw request head: the framing rules it must follow before the gateway
// answers it, beyond what httplib's parser checks (CheckRequestHead), and its
// header fields as sent (ParseRawHeaderFields, which HttpServer uses to undo
// httplib's decoding of header values).
//
// httplib 0.11 skips a header line it cannot parse and takes the first of
// several Content-Length fields, so a head that a proxy in front reads one
// way could be read another way here (request smuggling: the bytes after the
// head would run as a second request). Such heads are refused (400), and
// HttpServer then closes the connection. The rules (RFC 9112):
//   - every line ends with CRLF; no bare CR or LF, no NUL anywhere (httplib
//     would cut a value at its NUL);
//   - no line folding (a field line starting with a space or tab);
//   - a field line is `name: value` with `name` a token (RFC 9110 tchar)
//     directly followed by ':' ("Content-Length : 5" is refused);
//   - at most one Content-Length field, whose value is 1 to 18 digits;
//   - no Transfer-Encoding: the gateway reads no request bodies.
//
// Stateless; thread-safe.

#ifndef SSE_GATEWAY_GATEWAY_HTTP_REQUEST_HEAD_H_
#define SSE_GATEWAY_GATEWAY_HTTP_REQUEST_HEAD_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace sse_gateway {

// `text` without its leading and trailing spaces and tabs (HTTP's OWS).
absl::string_view TrimSpacesAndTabs(absl::string_view text);

// The header fields of a raw HTTP/1.1 request head (request line first,
// lines ended by CRLF), in order, with values trimmed of leading and trailing
// spaces and tabs. Lines without ':' are skipped. Stops at the blank line.
std::vector<std::pair<std::string, std::string>> ParseRawHeaderFields(
    absl::string_view head);

// `head` is the raw request head: the request line and the field lines, each
// ending in CRLF, then the empty line (which may be left out). OK, or an
// InvalidArgument error saying which rule the head breaks.
absl::Status CheckRequestHead(absl::string_view head);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_HTTP_REQUEST_HEAD_H_
