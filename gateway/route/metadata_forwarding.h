// MetadataForwarding: which parts of an HTTP request travel to the backend as
// gRPC client metadata, and how.
//
// For each request, in order:
//   - every header named in `forward_headers` (matched case-insensitively),
//     under its lower-cased name, once per occurrence;
//   - every `Grpc-Metadata-<name>` header, as `<name>` lower-cased (a "-bin"
//     name takes its value as base64, sent as the decoded bytes);
//   - `x-forwarded-for`: the incoming X-Forwarded-For values joined with ", ",
//     then the client's address ("a, b, <client ip>");
//   - `authorization: Bearer <token>` when the token query parameter was given
//     and no authorization metadata came from the headers (an explicit
//     Authorization header wins).
// Hop-by-hop and connection-level headers (IsNeverForwardedHeader: connection,
// keep-alive, te, host, ...) and any header named in the request's
// `Connection` header are never forwarded, whatever the configuration; the
// same names are dropped from Grpc-Metadata-*. A Grpc-Metadata-<key> whose
// key gRPC reserves (IsReservedGrpcMetadataKey: grpc-*, te, host,
// user-agent, content-type, lb-token, grpclb_client_stats, ...) and a name or
// value that gRPC metadata cannot carry are InvalidArgument errors naming the
// header (never its value), so the request can be refused with a 400 before
// any call.
//
// Immutable after construction; thread-safe.

#ifndef SSE_GATEWAY_GATEWAY_ROUTE_METADATA_FORWARDING_H_
#define SSE_GATEWAY_GATEWAY_ROUTE_METADATA_FORWARDING_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "httplib.h"

namespace sse_gateway {

using Metadata = std::vector<std::pair<std::string, std::string>>;

// Request headers that must never reach the backend as metadata: hop-by-hop
// and connection-level headers (RFC 9110 section 7.6.1: connection,
// keep-alive, proxy-connection, te, trailer, transfer-encoding, upgrade),
// plus host, content-length, and the pseudo-headers httplib adds itself
// (remote_addr, remote_port, local_addr, local_port). Case-insensitive.
bool IsNeverForwardedHeader(absl::string_view name);

// The size of one metadata entry as HTTP/2 counts it against a peer's
// header list limit (RFC 9113 section 6.5.2): name + value + 32.
inline size_t MetadataEntryBytes(absl::string_view key,
                                 absl::string_view value) {
  return key.size() + value.size() + 32;
}

// The sum of MetadataEntryBytes over `metadata`.
size_t MetadataBytes(const Metadata& metadata);

// Checks one configured `forward_headers` entry: not a never-forwarded header,
// and, lower-cased, a valid non-reserved gRPC metadata key.
absl::Status CheckForwardHeaderName(absl::string_view name);

class MetadataForwarding {
 public:
  // `forward_headers`: header names (any case) forwarded as metadata; each
  // should pass CheckForwardHeaderName (others are never forwarded).
  // `token_query_param`: the query parameter carrying a bearer token; none
  // when nullopt or empty.
  MetadataForwarding(std::vector<std::string> forward_headers,
                     std::optional<std::string> token_query_param);
  // Forwards only `authorization`; no token parameter.
  MetadataForwarding();

  // Removes the token query parameter from `params` (ordered query pairs)
  // and returns its value: nullopt when absent or empty, InvalidArgument
  // when given more than once. Returns nullopt and leaves `params` alone
  // when no token parameter is configured.
  absl::StatusOr<std::optional<std::string>> TakeToken(
      std::vector<std::pair<std::string, std::string>>* params) const;

  // The metadata for a request with `headers` from `client_ip`, carrying
  // `token` (from TakeToken) if any. See the file comment.
  absl::StatusOr<Metadata> Build(const httplib::Headers& headers,
                                 absl::string_view client_ip,
                                 const std::optional<std::string>& token) const;

  // The configured header names, lower-cased.
  const std::vector<std::string>& forward_headers() const {
    return forward_headers_;
  }

 private:
  std::vector<std::string> forward_headers_;  // lower-cased
  std::optional<std::string> token_query_param_;
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_ROUTE_METADATA_FORWARDING_H_
