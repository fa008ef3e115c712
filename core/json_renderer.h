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

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/message.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/type_resolver.h"

namespace sse_gateway {

struct JsonOptions {
  // Print fields with default values (always_print_primitive_fields).
  bool emit_defaults = false;
  // Proto field names ("a_int32") instead of lowerCamelCase JSON names.
  bool use_proto_names = false;
  // Enum values as numbers instead of names.
  bool enums_as_ints = false;
};

// Renders messages of one type as proto3 JSON, the same text as RenderJson,
// straight from their wire bytes. This is the per-event path of a route:
// protobuf's MessageToJsonString builds a type resolver for a non-generated
// pool on every call and re-serializes the message; a JsonRenderer builds
// each google.protobuf.Type once and renders the bytes the backend sent.
//
// Thread-safe: one renderer serves every stream of a route. `type` (and its
// DescriptorPool) are not owned and must outlive the renderer.
class JsonRenderer {
 public:
  JsonRenderer(const google::protobuf::Descriptor* type, JsonOptions options);
  ~JsonRenderer();

  JsonRenderer(const JsonRenderer&) = delete;
  JsonRenderer& operator=(const JsonRenderer&) = delete;

  // Renders `serialized`, the wire bytes of a message of the renderer's type
  // (already checked to parse), as one-line JSON into `*json` (owned by the
  // caller; replaced). Error if the bytes cannot be rendered. Any valid
  // encoding gives the JSON RenderJson gives for the parsed message (up to
  // the order of map entries): bytes not in the shape protobuf writes
  // (a field split or repeated, a map entry without its value...) are parsed
  // and re-encoded first, since rendering them directly would repeat JSON
  // keys or drop map entries. The value of every Any must parse as its type
  // (error otherwise: protobuf's printer would loop on some bad values).
  absl::Status Render(absl::string_view serialized, std::string* json) const;

  const google::protobuf::Descriptor* type() const { return type_; }

 private:
  class CachingTypeResolver;

  const google::protobuf::Descriptor* const type_;
  const std::string type_url_;
  google::protobuf::util::JsonPrintOptions print_options_;
  std::unique_ptr<CachingTypeResolver> resolver_;
  // Parses the responses that need it: bytes of another shape than
  // protobuf's own (re-encoded), types that can hold an Any (checked).
  std::unique_ptr<google::protobuf::DynamicMessageFactory> factory_;
  const google::protobuf::Message* prototype_;  // owned by factory_
  bool contains_any_ = false;  // Whether type_ can hold an Any, to check.
};

// Renders `message` as one-line proto3 JSON (no newline anywhere, as SSE data
// needs): 64-bit integers as strings, well-known types in their JSON forms
// (Timestamp as an RFC 3339 string...). Error if the message cannot be
// rendered (e.g. a Timestamp out of range, an Any whose value does not parse).
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
