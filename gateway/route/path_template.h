// PathTemplate: a google.api.http path template, such as
//   /v1/{name=rooms/*}/events    /v1/feeds/{feed}:watch    /v1/{path=**}
// parsed once and matched against request paths, binding request fields.
//
// Grammar (as in google/api/http.proto):
//   Template = "/" Segments [ Verb ] ;   Segments = Segment { "/" Segment } ;
//   Segment  = "*" | "**" | LITERAL | Variable ;
//   Variable = "{" FieldPath [ "=" Segments ] "}" ;   Verb = ":" LITERAL ;
// `{field}` means `{field=*}`. "**" matches any number of segments and may
// appear once, as the last segment. A variable's value is the matched
// segments joined by '/', percent-decoded (a multi-segment variable keeps
// "%2F" encoded, as the spec says).
//
// Immutable after Parse; thread-safe.

#ifndef SSE_GATEWAY_GATEWAY_ROUTE_PATH_TEMPLATE_H_
#define SSE_GATEWAY_GATEWAY_ROUTE_PATH_TEMPLATE_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sse_gateway {

class PathTemplate {
 public:
  // (field path, value) pairs bound by a match, in template order.
  using Bindings = std::vector<std::pair<std::string, std::string>>;

  // InvalidArgument saying what is wrong with `text`.
  static absl::StatusOr<PathTemplate> Parse(absl::string_view text);

  // The bindings when `path` (no query) matches, else nullopt.
  std::optional<Bindings> Match(absl::string_view path) const;

  const std::string& text() const { return text_; }
  // Literal segments before the first wildcard or variable (for ordering).
  size_t literal_prefix() const { return literal_prefix_; }

 private:
  struct Segment {
    enum Kind { kLiteral, kAny, kAnyMany } kind;
    std::string literal;
  };
  struct Variable {
    std::string field_path;
    size_t begin = 0;  // segment range [begin, end)
    size_t end = 0;
  };

  std::string text_;
  std::vector<Segment> segments_;
  std::vector<Variable> variables_;
  std::string verb_;
  size_t literal_prefix_ = 0;
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_ROUTE_PATH_TEMPLATE_H_
