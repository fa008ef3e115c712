// Field paths: dotted names such as "filter.region" that address a field
// inside a message type, as used by query parameters and route settings
// (id_field, resume_field...).
//
// A resolved path is the list of FieldDescriptors from the outer message type
// to the addressed field; the descriptors are owned by their DescriptorPool.
// Functions here are pure and thread-safe.

#ifndef SSE_GATEWAY_CORE_FIELD_PATH_H_
#define SSE_GATEWAY_CORE_FIELD_PATH_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"

namespace sse_gateway {

// Resolves a dotted field path ("filter.region") against `type`. Each segment
// matches a field's proto name ("a_int32") or its JSON name ("aInt32"). Every
// segment but the last must be a singular message field; the last may be any
// field. Errors are InvalidArgument and say which segment is wrong in which
// message type, e.g. `testing.v1.StreamRequest has no field "foo"`.
absl::StatusOr<std::vector<const google::protobuf::FieldDescriptor*>>
ResolveFieldPath(const google::protobuf::Descriptor* type,
                 absl::string_view path);

// The path in proto names, e.g. "echo.a_int32" (for messages and logs).
std::string FieldPathToString(
    const std::vector<const google::protobuf::FieldDescriptor*>& path);

// Checks that `path` is non-empty and well formed: its first field belongs to
// `type` (when `type` is not null) and every field but the last is a singular
// message field whose type holds the next field. InvalidArgument otherwise.
absl::Status CheckFieldPathShape(
    const google::protobuf::Descriptor* type,
    const std::vector<const google::protobuf::FieldDescriptor*>& path);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_CORE_FIELD_PATH_H_
