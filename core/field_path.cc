#include "core/field_path.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace sse_gateway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

const FieldDescriptor* FindFieldByProtoOrJsonName(const Descriptor* type,
                                                  absl::string_view name) {
  const FieldDescriptor* field = type->FindFieldByName(std::string(name));
  if (field != nullptr) return field;
  for (int i = 0; i < type->field_count(); ++i) {
    if (type->field(i)->json_name() == name) return type->field(i);
  }
  return nullptr;
}

const char* KindOf(const FieldDescriptor* field) {
  if (field->is_map()) return "a map";
  if (field->is_repeated()) return "repeated";
  return "not a message";
}

}  // namespace

absl::StatusOr<std::vector<const FieldDescriptor*>> ResolveFieldPath(
    const Descriptor* type, absl::string_view path) {
  if (type == nullptr) {
    return absl::InvalidArgumentError("no message type to resolve against");
  }
  if (path.empty()) {
    return absl::InvalidArgumentError("empty field path");
  }
  std::vector<const FieldDescriptor*> fields;
  const Descriptor* current = type;
  for (absl::string_view segment : absl::StrSplit(path, '.')) {
    if (current == nullptr) {
      const FieldDescriptor* previous = fields.back();
      return absl::InvalidArgumentError(
          absl::StrCat("field \"", previous->name(), "\" of ",
                       previous->containing_type()->full_name(), " is ",
                       KindOf(previous), ", so \"", absl::CHexEscape(path),
                       "\" cannot name a field inside it"));
    }
    if (segment.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "field path \"", absl::CHexEscape(path), "\" has an empty segment"));
    }
    const FieldDescriptor* field = FindFieldByProtoOrJsonName(current, segment);
    if (field == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(current->full_name(), " has no field \"",
                       absl::CHexEscape(segment), "\""));
    }
    fields.push_back(field);
    current = field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
                      !field->is_repeated()
                  ? field->message_type()
                  : nullptr;
  }
  return fields;
}

std::string FieldPathToString(const std::vector<const FieldDescriptor*>& path) {
  return absl::StrJoin(path, ".",
                       [](std::string* out, const FieldDescriptor* field) {
                         absl::StrAppend(out, field->name());
                       });
}

absl::Status CheckFieldPathShape(
    const Descriptor* type, const std::vector<const FieldDescriptor*>& path) {
  if (path.empty()) return absl::InvalidArgumentError("empty field path");
  for (const FieldDescriptor* field : path) {
    if (field == nullptr) {
      return absl::InvalidArgumentError("field path holds a null field");
    }
  }
  if (type != nullptr && path[0]->containing_type() != type) {
    return absl::InvalidArgumentError(
        absl::StrCat("field path \"", FieldPathToString(path), "\" starts in ",
                     path[0]->containing_type()->full_name(), ", not in ",
                     type->full_name()));
  }
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    const FieldDescriptor* field = path[i];
    if (field->is_repeated() ||
        field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
      return absl::InvalidArgumentError(
          absl::StrCat("in field path \"", FieldPathToString(path),
                       "\", field \"", field->name(), "\" is ", KindOf(field),
                       ", so it cannot be followed"
                       " by another segment"));
    }
    if (path[i + 1]->containing_type() != field->message_type()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "in field path \"", FieldPathToString(path), "\", field \"",
          path[i + 1]->name(), "\" is not a field of ",
          field->message_type()->full_name()));
    }
  }
  return absl::OkStatus();
}

}  // namespace sse_gateway
