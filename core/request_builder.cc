#include "core/request_builder.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/field_path.h"
#include "core/status_macros.h"
#include "core/utf8.h"
#include "google/protobuf/util/json_util.h"

namespace sse_gateway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::EnumValueDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::OneofDescriptor;
using google::protobuf::Reflection;

// `text` quoted for an error message: escaped, and shortened when long.
std::string Quoted(absl::string_view text) {
  constexpr size_t kMaxShown = 64;
  if (text.size() <= kMaxShown) {
    return absl::StrCat("\"", absl::CHexEscape(text), "\"");
  }
  return absl::StrCat("\"", absl::CHexEscape(text.substr(0, kMaxShown)),
                      "\"... (", text.size(), " bytes)");
}

absl::Status NotValid(absl::string_view text, absl::string_view what,
                      absl::string_view hint = "") {
  return absl::InvalidArgumentError(
      absl::StrCat(Quoted(text), " is not a valid ", what,
                   hint.empty() ? "" : " (", hint, hint.empty() ? "" : ")"));
}

bool IsDecimalInteger(absl::string_view text) {
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) {
    text.remove_prefix(1);
  }
  if (text.empty()) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(c)) return false;
  }
  return true;
}

// Parses a decimal integer of type T exactly (no whitespace, no fraction).
template <typename T>
absl::Status ParseInteger(absl::string_view text, const FieldDescriptor* field,
                          T* value) {
  const absl::string_view type_name = field->type_name();
  if (!IsDecimalInteger(text)) return NotValid(text, type_name);
  if (!absl::SimpleAtoi(text, value)) {
    return NotValid(text, type_name, "out of range");
  }
  return absl::OkStatus();
}

bool LooksLikeDecimalNumber(absl::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(c) && c != '+' && c != '-' && c != '.' &&
        c != 'e' && c != 'E') {
      return false;
    }
  }
  return true;
}

template <typename T>
absl::Status ParseFloatingPoint(absl::string_view text,
                                const FieldDescriptor* field, T* value) {
  const absl::string_view type_name = field->type_name();
  if (text == "NaN") {
    *value = std::numeric_limits<T>::quiet_NaN();
  } else if (text == "Infinity") {
    *value = std::numeric_limits<T>::infinity();
  } else if (text == "-Infinity") {
    *value = -std::numeric_limits<T>::infinity();
  } else {
    if (!LooksLikeDecimalNumber(text)) return NotValid(text, type_name);
    bool parsed;
    if constexpr (std::is_same_v<T, float>) {
      parsed = absl::SimpleAtof(text, value);
    } else {
      parsed = absl::SimpleAtod(text, value);
    }
    if (!parsed) return NotValid(text, type_name);
    if (!std::isfinite(*value))
      return NotValid(text, type_name, "out of range");
  }
  return absl::OkStatus();
}

absl::Status ParseBool(absl::string_view text, const FieldDescriptor* /*field*/,
                       bool* value) {
  if (text == "true" || text == "1") {
    *value = true;
  } else if (text == "false" || text == "0") {
    *value = false;
  } else {
    return NotValid(text, "bool", "expected true, false, 1 or 0");
  }
  return absl::OkStatus();
}

// Decodes base64 in the standard or URL-safe alphabet, padding optional.
absl::Status ParseBase64(absl::string_view text, std::string* bytes) {
  std::string normalized(text);
  size_t padding = 0;
  while (!normalized.empty() && normalized.back() == '=') {
    normalized.pop_back();
    ++padding;
  }
  bool standard = false;
  bool url_safe = false;
  bool valid = padding <= 2 && normalized.size() % 4 != 1 &&
               (padding == 0 || (normalized.size() + padding) % 4 == 0);
  for (char& c : normalized) {
    if (c == '-' || c == '_') {
      url_safe = true;
      c = c == '-' ? '+' : '/';
    } else if (c == '+' || c == '/') {
      standard = true;
    } else if (!absl::ascii_isalnum(c)) {
      valid = false;
    }
  }
  if (!valid || (standard && url_safe)) {
    return NotValid(text, "bytes value", "expected base64");
  }
  normalized.append((4 - normalized.size() % 4) % 4, '=');
  if (!absl::Base64Unescape(normalized, bytes)) {
    return NotValid(text, "bytes value", "expected base64");
  }
  return absl::OkStatus();
}

absl::Status ParseEnumNumber(absl::string_view text,
                             const FieldDescriptor* field, int* number) {
  const EnumDescriptor* type = field->enum_type();
  const EnumValueDescriptor* value = type->FindValueByName(std::string(text));
  int32_t parsed;
  if (value == nullptr && IsDecimalInteger(text) &&
      absl::SimpleAtoi(text, &parsed)) {
    value = type->FindValueByNumber(parsed);
  }
  if (value != nullptr) {
    *number = value->number();
    return absl::OkStatus();
  }
  std::vector<std::string> names;
  for (int i = 0; i < type->value_count(); ++i) {
    names.push_back(type->value(i)->name());
  }
  return NotValid(text, type->full_name(),
                  absl::StrCat("expected one of ", absl::StrJoin(names, ", "),
                               " or the number of one"));
}

absl::Status ParseStringOrBytes(absl::string_view text,
                                const FieldDescriptor* field,
                                std::string* value) {
  if (field->type() == FieldDescriptor::TYPE_BYTES) {
    return ParseBase64(text, value);
  }
  if (!IsValidUtf8(text)) return NotValid(text, "string", "not valid UTF-8");
  *value = std::string(text);
  return absl::OkStatus();
}

template <typename T>
using Setter = void (Reflection::*)(Message*, const FieldDescriptor*, T) const;

// Parses `text` with `parse` and stores the value in `field` of `*target`
// with `set` (singular) or `add` (repeated); `*target` is unchanged on error.
template <typename T>
absl::Status ParseAndStore(Message* target, const FieldDescriptor* field,
                           absl::string_view text,
                           absl::Status (*parse)(absl::string_view,
                                                 const FieldDescriptor*, T*),
                           Setter<T> set, Setter<T> add) {
  T value;
  RETURN_IF_ERROR(parse(text, field, &value));
  const Reflection* reflection = target->GetReflection();
  (reflection->*(field->is_repeated() ? add : set))(target, field,
                                                    std::move(value));
  return absl::OkStatus();
}

// Parses `text` as the scalar (or enum) `field` and stores it in `*target`:
// replaces a singular value, appends to a repeated one.
absl::Status ParseScalarInto(Message* target, const FieldDescriptor* field,
                             absl::string_view text) {
  using R = Reflection;
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return ParseAndStore<int32_t>(target, field, text, &ParseInteger,
                                    &R::SetInt32, &R::AddInt32);
    case FieldDescriptor::CPPTYPE_INT64:
      return ParseAndStore<int64_t>(target, field, text, &ParseInteger,
                                    &R::SetInt64, &R::AddInt64);
    case FieldDescriptor::CPPTYPE_UINT32:
      return ParseAndStore<uint32_t>(target, field, text, &ParseInteger,
                                     &R::SetUInt32, &R::AddUInt32);
    case FieldDescriptor::CPPTYPE_UINT64:
      return ParseAndStore<uint64_t>(target, field, text, &ParseInteger,
                                     &R::SetUInt64, &R::AddUInt64);
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return ParseAndStore<double>(target, field, text, &ParseFloatingPoint,
                                   &R::SetDouble, &R::AddDouble);
    case FieldDescriptor::CPPTYPE_FLOAT:
      return ParseAndStore<float>(target, field, text, &ParseFloatingPoint,
                                  &R::SetFloat, &R::AddFloat);
    case FieldDescriptor::CPPTYPE_BOOL:
      return ParseAndStore<bool>(target, field, text, &ParseBool, &R::SetBool,
                                 &R::AddBool);
    case FieldDescriptor::CPPTYPE_ENUM:
      return ParseAndStore<int>(target, field, text, &ParseEnumNumber,
                                &R::SetEnumValue, &R::AddEnumValue);
    case FieldDescriptor::CPPTYPE_STRING:
      return ParseAndStore<std::string>(target, field, text,
                                        &ParseStringOrBytes, &R::SetString,
                                        &R::AddString);
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
  return absl::InternalError("message field passed as a scalar");
}

bool IsWrapperType(const Descriptor* type) {
  static const auto* const kWrappers = new absl::flat_hash_set<std::string>{
      "google.protobuf.DoubleValue", "google.protobuf.FloatValue",
      "google.protobuf.Int64Value",  "google.protobuf.UInt64Value",
      "google.protobuf.Int32Value",  "google.protobuf.UInt32Value",
      "google.protobuf.BoolValue",   "google.protobuf.StringValue",
      "google.protobuf.BytesValue"};
  // A wrapper holds its scalar in field "value".
  return kWrappers->contains(type->full_name()) &&
         type->FindFieldByName("value") != nullptr;
}

// Types whose proto3 JSON form is a string, parsed through the JSON parser.
bool IsJsonStringType(const Descriptor* type) {
  return type->full_name() == "google.protobuf.Timestamp" ||
         type->full_name() == "google.protobuf.Duration" ||
         type->full_name() == "google.protobuf.FieldMask";
}

std::string JsonQuoted(absl::string_view text) {
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      quoted.push_back('\\');
      quoted.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      absl::StrAppend(&quoted, "\\u00", absl::Hex(c, absl::kZeroPad2));
    } else {
      quoted.push_back(c);
    }
  }
  quoted.push_back('"');
  return quoted;
}

// Parses `text` into a new message of the field's type (a wrapper or a
// JSON-string well-known type).
absl::Status ParseMessageInto(Message* value, absl::string_view text) {
  const Descriptor* type = value->GetDescriptor();
  if (IsWrapperType(type)) {
    return ParseScalarInto(value, type->FindFieldByName("value"), text);
  }
  google::protobuf::util::JsonParseOptions options;
  if (!IsValidUtf8(text) || !google::protobuf::util::JsonStringToMessage(
                                 JsonQuoted(text), value, options)
                                 .ok()) {
    const char* hint = type->full_name() == "google.protobuf.Timestamp"
                           ? "expected RFC 3339, e.g. 2024-01-02T03:04:05Z"
                       : type->full_name() == "google.protobuf.Duration"
                           ? "expected seconds with an s suffix, e.g. 1.5s"
                           : "expected comma-separated lowerCamelCase paths";
    return NotValid(text, type->full_name(), hint);
  }
  return absl::OkStatus();
}

absl::Status SetLeafFromText(Message* target, const FieldDescriptor* field,
                             absl::string_view text) {
  if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
    return ParseScalarInto(target, field, text);
  }
  const Descriptor* type = field->message_type();
  if (field->is_map() || !(IsWrapperType(type) || IsJsonStringType(type))) {
    return absl::InvalidArgumentError(
        absl::StrCat("field ", field->full_name(), " is a ",
                     field->is_map() ? "map" : "message",
                     " field and cannot be set from a query parameter"));
  }
  const Reflection* reflection = target->GetReflection();
  std::unique_ptr<Message> value(
      reflection->GetMessageFactory()->GetPrototype(type)->New());
  RETURN_IF_ERROR(ParseMessageInto(value.get(), text));
  Message* destination = field->is_repeated()
                             ? reflection->AddMessage(target, field)
                             : reflection->MutableMessage(target, field);
  destination->CopyFrom(*value);
  return absl::OkStatus();
}

// A oneof member set in `root` that setting `path` would clear: a member,
// other than the path's own field, of the oneof of any field along `path`.
// nullptr when there is none.
const FieldDescriptor* ConflictingOneofMember(
    const Message& root, const std::vector<const FieldDescriptor*>& path) {
  const Message* container = &root;
  for (const FieldDescriptor* field : path) {
    const OneofDescriptor* oneof = field->real_containing_oneof();
    if (oneof != nullptr) {
      const FieldDescriptor* set =
          container->GetReflection()->GetOneofFieldDescriptor(*container,
                                                              oneof);
      if (set != nullptr && set != field) return set;
    }
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE ||
        field->is_repeated()) {
      break;
    }
    container = &container->GetReflection()->GetMessage(*container, field);
  }
  return nullptr;
}

}  // namespace

absl::Status SetFieldFromText(Message* message,
                              const std::vector<const FieldDescriptor*>& path,
                              absl::string_view text) {
  if (message == nullptr) {
    return absl::InvalidArgumentError("no message to set a field in");
  }
  RETURN_IF_ERROR(CheckFieldPathShape(message->GetDescriptor(), path));
  // SetLeafFromText leaves its target unchanged on error, but walking the
  // path creates sub-messages; so try a nested leaf on a scratch message
  // first, so that errors leave `*message` unchanged.
  const FieldDescriptor* leaf = path.back();
  if (path.size() > 1) {
    std::unique_ptr<Message> scratch(message->GetReflection()
                                         ->GetMessageFactory()
                                         ->GetPrototype(leaf->containing_type())
                                         ->New());
    RETURN_IF_ERROR(SetLeafFromText(scratch.get(), leaf, text));
  }
  Message* target = message;
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    target = target->GetReflection()->MutableMessage(target, path[i]);
  }
  return SetLeafFromText(target, leaf, text);
}

absl::Status ApplyFieldBindings(
    const std::vector<std::pair<std::string, std::string>>& bindings,
    Message* message) {
  if (message == nullptr) {
    return absl::InvalidArgumentError("no message to apply parameters to");
  }
  absl::flat_hash_set<std::string> singular_fields_seen;
  for (const auto& [key, value] : bindings) {
    absl::StatusOr<std::vector<const FieldDescriptor*>> path =
        ResolveFieldPath(message->GetDescriptor(), key);
    if (!path.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown parameter \"", absl::CHexEscape(key),
                       "\": ", path.status().message()));
    }
    const FieldDescriptor* leaf = path->back();
    if (!leaf->is_repeated() &&
        !singular_fields_seen.insert(FieldPathToString(*path)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter \"", absl::CHexEscape(key),
                       "\" is given more than once, but field ",
                       leaf->full_name(), " is not repeated"));
    }
    if (const FieldDescriptor* other =
            ConflictingOneofMember(*message, *path)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "parameter \"", absl::CHexEscape(key), "\": field \"", other->name(),
          "\" of oneof \"", other->containing_oneof()->name(),
          "\" is already set; only one member of a oneof may be set"));
    }
    absl::Status status = SetFieldFromText(message, *path, value);
    if (!status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "parameter \"", absl::CHexEscape(key), "\": ", status.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace sse_gateway
