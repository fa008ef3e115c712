// Parsing of a URL query string into ordered (key, value) pairs, as HTML forms
// and URLSearchParams encode them (application/x-www-form-urlencoded).
//
// httplib decodes queries itself, but it leaves '+' as '+' and accepts broken
// percent-escapes; browsers encode a space as '+', and a broken escape must
// be a 400, not a silently different value. So the gateway parses the raw
// query of the request target with this instead.
//
// Stateless; thread-safe.

#ifndef SSE_GATEWAY_GATEWAY_HTTP_QUERY_STRING_H_
#define SSE_GATEWAY_GATEWAY_HTTP_QUERY_STRING_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sse_gateway {

using QueryParams = std::vector<std::pair<std::string, std::string>>;

// Splits `query` (the part after '?', without '#fragment') on '&' (empty parts
// are skipped), each part on its first '=' (no '=' means an empty value), and
// decodes '+' as a space and %XX escapes. Keys and values keep their order.
// Errors (InvalidArgument): a malformed %-escape, an empty key.
absl::StatusOr<QueryParams> ParseQueryString(absl::string_view query);

// Decodes the %XX escapes of `text`; '+' becomes a space when
// `plus_is_space` (form encoding); an escaped '/' stays "%2F" when
// `keep_escaped_slash` (multi-segment path variables). nullopt on a
// malformed escape.
std::optional<std::string> PercentDecode(absl::string_view text,
                                         bool plus_is_space,
                                         bool keep_escaped_slash);

// The path part of a request target, as sent (not decoded):
// "/a%2Fb?q#f" -> "/a%2Fb".
absl::string_view PathOfTarget(absl::string_view target);

// The query part of a request target ("/path?query#fragment" -> "query").
absl::string_view QueryOfTarget(absl::string_view target);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_HTTP_QUERY_STRING_H_
