// Request building: fills a request message (usually a DynamicMessage from
// Schema) from text values, such as HTTP query parameters
// (`?symbol=X&filter.region=eu`) or a Last-Event-ID used for resuming.
//
// Value syntax, by field type:
//   integers (all 32/64-bit kinds)  decimal, range-checked, 64-bit exact
//   float, double                   decimal or "NaN", "Infinity", "-Infinity"
//   bool                            "true"/"false" or "1"/"0"
//   string                          as is; must be valid UTF-8
//   bytes                           base64, standard or URL-safe alphabet,
//                                   padding optional
//   enum                            value name, or number of a defined value
//   google.protobuf.*Value wrappers the text of the wrapped scalar
//   google.protobuf.Timestamp       RFC 3339, "2024-01-02T03:04:05.5Z"
//   google.protobuf.Duration        seconds with an "s" suffix, "1.5s"
//   google.protobuf.FieldMask       comma-separated lowerCamelCase paths
// Map fields and other message fields cannot be set from text.
//
// Functions here are thread-safe as long as each message is used by one
// thread at a time. Errors are InvalidArgument values; bad input never
// crashes.

#ifndef SSE_GATEWAY_CORE_REQUEST_BUILDER_H_
#define SSE_GATEWAY_CORE_REQUEST_BUILDER_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace sse_gateway {

// Parses `text` into the (last) field of `path` inside `*message` (not owned;
// missing sub-messages along the path are created). `path` must start in
// message's type (as returned by ResolveFieldPath). Singular fields are
// replaced (setting a oneof member clears the other members); repeated
// fields get the value appended. On error `*message` is unchanged, and the
// message describes the value and the expected type (e.g. `"12x" is not a
// valid int32`) but not the caller's context, which callers add.
absl::Status SetFieldFromText(
    google::protobuf::Message* message,
    const std::vector<const google::protobuf::FieldDescriptor*>& path,
    absl::string_view text);

// Applies query-parameter style bindings (key = dotted field path in proto or
// JSON names, value = text) to `*message` (not owned), in order. Repeating a
// key appends to a repeated field; repeating a key of a singular field, or
// setting two members of one oneof, is an error. Errors are InvalidArgument
// and name the parameter, e.g.
//   `unknown parameter "foo": testing.v1.StreamRequest has no field "foo"`
//   `parameter "echo.a_int32": "12x" is not a valid int32`
// On error, bindings before the failing one have been applied.
absl::Status ApplyFieldBindings(
    const std::vector<std::pair<std::string, std::string>>& bindings,
    google::protobuf::Message* message);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_CORE_REQUEST_BUILDER_H_
