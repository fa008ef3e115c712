// JSON rendering: turns response messages (usually DynamicMessages from
// Schema) into proto3 JSON for SSE `data:` lines, and reads single scalar
// fields as text for SSE `id:` / `event:` values.
//
// FieldValueAsText is the inverse of SetFieldFromText (request_builder.h):
// its output parses back to the same value, so an id read from a response can
// come back as Last-Event-ID and be set into a request field.
//
// All functions are thread-safe as long as no thread modifies the message
// being read.

#ifndef SSE_GATEWAY_CORE_JSON_RENDERER_H_
#define SSE_GATEWAY_CORE_JSON_RENDERER_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace sse_gateway {

struct JsonOptions {
  // Print fields with default values (always_print_primitive_fields).
  bool emit_defaults = false;
  // Proto field names ("a_int32") instead of lowerCamelCase JSON names.
  bool use_proto_names = false;
  // Enum values as numbers instead of names.
  bool enums_as_ints = false;
};

// Renders `message` as one-line proto3 JSON (no newline anywhere, as SSE data
// needs): 64-bit integers as strings, well-known types in their JSON forms
// (Timestamp as an RFC 3339 string...). Error if the message cannot be
// rendered (e.g. a Timestamp out of range).
absl::StatusOr<std::string> RenderJson(const google::protobuf::Message& message,
                                       const JsonOptions& options);

// The value of the singular scalar field at `path` (which must start in
// message's type) as text: integers in decimal (64-bit exact), strings as is,
// bytes as padded standard base64, bools "true"/"false", enums by value name
// (the number if unnamed), floats in the shortest text that round-trips
// ("NaN", "Infinity", "-Infinity" for the special values). An unset field
// reads as its default. InvalidArgument for repeated, message and map leaves.
absl::StatusOr<std::string> FieldValueAsText(
    const google::protobuf::Message& message,
    const std::vector<const google::protobuf::FieldDescriptor*>& path);

// Checks that `path` is well formed and ends in a singular scalar (or enum)
// field, for config validation. InvalidArgument saying why otherwise.
absl::Status CheckScalarFieldPath(
    const std::vector<const google::protobuf::FieldDescriptor*>& path);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_CORE_JSON_RENDERER_H_
