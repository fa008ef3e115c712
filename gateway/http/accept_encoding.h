// NegotiateContentEncoding: which content coding a response uses, from the
// request's Accept-Encoding (RFC 9110 12.5.3) and what the route allows:
// Brotli first, then gzip, else identity (always possible: a client that
// refuses identity too still gets it, never a 406).
//
// Codings are matched case-insensitively; a q-value of 0 refuses a coding,
// "*" stands for every coding not named, and a malformed element (bad
// q-value) is ignored rather than guessed at. Pure function; thread-safe.

#ifndef SSE_GATEWAY_GATEWAY_HTTP_ACCEPT_ENCODING_H_
#define SSE_GATEWAY_GATEWAY_HTTP_ACCEPT_ENCODING_H_

#include "absl/strings/string_view.h"
#include "core/stream_compressor.h"

namespace sse_gateway {

// `accept_encoding`: every Accept-Encoding field value of the request,
// joined with ","; empty when it sent none (then identity).
ContentEncoding NegotiateContentEncoding(absl::string_view accept_encoding,
                                         bool allow_gzip, bool allow_br);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_HTTP_ACCEPT_ENCODING_H_
