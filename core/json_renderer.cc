#include "core/json_renderer.h"

#include <charconv>
#include <cmath>
#include <system_error>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "core/field_path.h"
#include "google/protobuf/util/json_util.h"

namespace sse_gateway {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

// Shortest decimal text that parses back to exactly `value`.
template <typename T>
std::string FloatingPointText(T value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  char buffer[64];
  const std::to_chars_result result =
      std::to_chars(buffer, buffer + sizeof(buffer), value);
  if (result.ec != std::errc()) return absl::StrCat(value);  // Unreachable.
  return std::string(buffer, result.ptr);
}

}  // namespace

absl::StatusOr<std::string> RenderJson(const Message& message,
                                       const JsonOptions& options) {
  google::protobuf::util::JsonPrintOptions print_options;
  print_options.add_whitespace = false;
  print_options.always_print_primitive_fields = options.emit_defaults;
  print_options.preserve_proto_field_names = options.use_proto_names;
  print_options.always_print_enums_as_ints = options.enums_as_ints;
  std::string json;
  const auto status = google::protobuf::util::MessageToJsonString(
      message, &json, print_options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot render ", message.GetDescriptor()->full_name(),
                     " as JSON: ", std::string(status.message())));
  }
  return json;
}

absl::Status CheckScalarFieldPath(
    const std::vector<const FieldDescriptor*>& path) {
  absl::Status status = CheckFieldPathShape(nullptr, path);
  if (!status.ok()) return status;
  const FieldDescriptor* leaf = path.back();
  const char* problem = nullptr;
  if (leaf->is_map()) {
    problem = "a map field";
  } else if (leaf->is_repeated()) {
    problem = "a repeated field";
  } else if (leaf->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    problem = "a message field";
  }
  if (problem != nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "field \"", FieldPathToString(path), "\" (", leaf->full_name(), ") is ",
        problem, "; a singular scalar or enum field is needed"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> FieldValueAsText(
    const Message& message, const std::vector<const FieldDescriptor*>& path) {
  absl::Status status = CheckScalarFieldPath(path);
  if (!status.ok()) return status;
  status = CheckFieldPathShape(message.GetDescriptor(), path);
  if (!status.ok()) return status;
  const Message* container = &message;
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    container = &container->GetReflection()->GetMessage(*container, path[i]);
  }
  const google::protobuf::Reflection* reflection = container->GetReflection();
  const FieldDescriptor* field = path.back();
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return absl::StrCat(reflection->GetInt32(*container, field));
    case FieldDescriptor::CPPTYPE_INT64:
      return absl::StrCat(reflection->GetInt64(*container, field));
    case FieldDescriptor::CPPTYPE_UINT32:
      return absl::StrCat(reflection->GetUInt32(*container, field));
    case FieldDescriptor::CPPTYPE_UINT64:
      return absl::StrCat(reflection->GetUInt64(*container, field));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return FloatingPointText(reflection->GetDouble(*container, field));
    case FieldDescriptor::CPPTYPE_FLOAT:
      return FloatingPointText(reflection->GetFloat(*container, field));
    case FieldDescriptor::CPPTYPE_BOOL:
      return std::string(reflection->GetBool(*container, field) ? "true"
                                                                : "false");
    case FieldDescriptor::CPPTYPE_ENUM: {
      const int number = reflection->GetEnumValue(*container, field);
      const google::protobuf::EnumValueDescriptor* value =
          field->enum_type()->FindValueByNumber(number);
      return value != nullptr ? value->name() : absl::StrCat(number);
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string value = reflection->GetString(*container, field);
      if (field->type() == FieldDescriptor::TYPE_BYTES) {
        return absl::Base64Escape(value);
      }
      return value;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;  // Rejected by CheckScalarFieldPath.
  }
  return absl::InternalError("unexpected field type");
}

}  // namespace sse_gateway
