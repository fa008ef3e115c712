#include "core/json_renderer.h"

#include <charconv>
#include <cmath>
#include <system_error>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "core/field_path.h"
#include "core/status_macros.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/type.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/type_resolver_util.h"
#include "google/protobuf/wire_format_lite.h"

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

constexpr char kTypeUrlPrefix[] = "type.googleapis.com";

// Deeper than protobuf's own parse limit: such bytes never get here.
constexpr int kMaxCanonicalDepth = 101;

// Whether `bytes`, a valid encoding of a `type` message, has the shape
// protobuf's serializer writes, which BinaryToJsonStream renders exactly as
// the parsed message: at every level, known fields in increasing number
// order, each once except a repeated field's elements, which are adjacent
// and either all unpacked or one non-empty packed record;
// at most one member per oneof; each map entry exactly its key then its
// value; each field in the wire type of its type; no default value of a
// proto3 field without presence (outside map entries). Other valid encodings
// (a field split or repeated, as in concatenated messages; interleaved
// elements; a map entry with the value omitted or first; an explicit 0)
// would print a JSON key twice, or lose, rename or add fields. Not checked,
// as RenderJson does the same: a map key given twice (both entries are
// printed; JSON.parse keeps the last, as protobuf does) and Any contents.
bool IsCanonicalEncoding(const google::protobuf::Descriptor* type,
                         absl::string_view bytes, int depth) {
  using google::protobuf::internal::WireFormatLite;
  if (depth > kMaxCanonicalDepth) return false;
  google::protobuf::io::CodedInputStream input(
      reinterpret_cast<const uint8_t*>(bytes.data()),
      static_cast<int>(bytes.size()));
  const bool map_entry = type->options().map_entry();
  int last_number = 0;
  uint32_t last_tag = 0;
  uint64_t oneofs_seen = 0;  // Bit i: a member of oneof i was seen.
  for (uint32_t tag = input.ReadTag(); tag != 0; tag = input.ReadTag()) {
    const int number = WireFormatLite::GetTagFieldNumber(tag);
    const FieldDescriptor* field = type->FindFieldByNumber(number);
    if (field == nullptr) {  // Unknown: JSON skips it.
      if (map_entry || !WireFormatLite::SkipField(&input, tag)) return false;
      last_tag = 0;  // It ends a run of repeated elements, though.
      continue;
    }
    const auto wire_type = WireFormatLite::GetTagWireType(tag);
    const bool packed = field->is_packable() &&
                        wire_type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
    // A repeated field continues only with elements of the same wire type,
    // and a packed one is a single record.
    if (map_entry ? number != last_number + 1
                  : number < last_number || (number == last_number &&
                                             (!field->is_repeated() ||
                                              tag != last_tag || packed))) {
      return false;
    }
    last_tag = tag;
    if (number != last_number && field->containing_oneof() != nullptr) {
      const int oneof = field->containing_oneof()->index();
      if (oneof >= 64 || ((oneofs_seen >> oneof) & 1) != 0) return false;
      oneofs_seen |= uint64_t{1} << oneof;
    }
    if (wire_type !=
            WireFormatLite::WireTypeForFieldType(
                static_cast<WireFormatLite::FieldType>(field->type())) &&
        !packed) {
      return false;  // A parser takes such a field for an unknown one.
    }
    last_number = number;
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
        field->message_type()->full_name() != "google.protobuf.Any" &&
        wire_type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      uint32_t length = 0;
      if (!input.ReadVarint32(&length)) return false;
      const int start = input.CurrentPosition();
      if (!input.Skip(static_cast<int>(length))) return false;
      const absl::string_view nested = bytes.substr(start, length);
      if (!IsCanonicalEncoding(field->message_type(), nested, depth + 1)) {
        return false;
      }
    } else if (packed) {  // An empty record would print an empty list.
      uint32_t length = 0;
      if (!input.ReadVarint32(&length) || length == 0 ||
          !input.Skip(static_cast<int>(length))) {
        return false;
      }
    } else if (!map_entry && !field->is_repeated() && !field->has_presence() &&
               field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
      // Implicit presence (proto3): protobuf never writes a default value,
      // and RenderJson does not print one.
      uint64_t value = 0;
      uint32_t value32 = 0;
      switch (wire_type) {
        case WireFormatLite::WIRETYPE_VARINT:
          if (!input.ReadVarint64(&value)) return false;
          if (field->cpp_type() == FieldDescriptor::CPPTYPE_INT32 ||
              field->cpp_type() == FieldDescriptor::CPPTYPE_UINT32 ||
              field->cpp_type() == FieldDescriptor::CPPTYPE_ENUM) {
            value = static_cast<uint32_t>(value);  // What a parser keeps.
          }
          break;
        case WireFormatLite::WIRETYPE_FIXED64:
          if (!input.ReadLittleEndian64(&value)) return false;
          break;
        case WireFormatLite::WIRETYPE_FIXED32:
          if (!input.ReadLittleEndian32(&value32)) return false;
          value = value32;
          break;
        default:  // Length-delimited: string or bytes.
          if (!input.ReadVarint32(&value32) ||
              !input.Skip(static_cast<int>(value32))) {
            return false;
          }
          value = value32;
      }
      if (value == 0) return false;
    } else if (!WireFormatLite::SkipField(&input, tag)) {
      return false;
    }
  }
  if (map_entry && last_number != 2) return false;
  return input.CurrentPosition() == static_cast<int>(bytes.size());
}

constexpr absl::string_view kAnyType = "google.protobuf.Any";

// Whether messages of `type` can hold a google.protobuf.Any at any depth.
bool ContainsAny(
    const google::protobuf::Descriptor* type,
    absl::flat_hash_map<const google::protobuf::Descriptor*, bool>* seen) {
  if (type->full_name() == kAnyType) return true;
  if (!seen->emplace(type, false).second) return false;  // Being visited.
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* field = type->field(i);
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
        ContainsAny(field->message_type(), seen)) {
      return true;
    }
  }
  return false;
}

// Checks that every Any inside `message` (at any depth, Any values included)
// whose type is in the message's pool holds bytes that parse as that type.
// protobuf's JSON printer reads Any values unchecked, and a packed field
// running past the end of one makes it loop forever, growing its output
// until memory runs out (found by fuzz/json_renderer_fuzzer).
absl::Status CheckAnyContents(const Message& message,
                              google::protobuf::DynamicMessageFactory* factory,
                              int depth) {
  if (depth > kMaxCanonicalDepth) {
    return absl::InvalidArgumentError("Any values nested too deeply");
  }
  const google::protobuf::Descriptor* type = message.GetDescriptor();
  const google::protobuf::Reflection* reflection = message.GetReflection();
  if (type->full_name() == kAnyType) {
    const std::string url =
        reflection->GetString(message, type->FindFieldByNumber(1));
    const google::protobuf::Descriptor* value_type =
        type->file()->pool()->FindMessageTypeByName(
            url.substr(url.rfind('/') + 1));
    if (value_type == nullptr) return absl::OkStatus();  // The printer says.
    std::unique_ptr<Message> value(factory->GetPrototype(value_type)->New());
    if (!value->ParseFromString(
            reflection->GetString(message, type->FindFieldByNumber(2)))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "an Any holds bytes that are not a ", value_type->full_name()));
    }
    return CheckAnyContents(*value, factory, depth + 1);
  }
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    const int count =
        field->is_repeated() ? reflection->FieldSize(message, field) : 1;
    for (int i = 0; i < count; ++i) {
      const Message& child =
          field->is_repeated()
              ? reflection->GetRepeatedMessage(message, field, i)
              : reflection->GetMessage(message, field);
      RETURN_IF_ERROR(CheckAnyContents(child, factory, depth + 1));
    }
  }
  return absl::OkStatus();
}

google::protobuf::util::JsonPrintOptions ToPrintOptions(
    const JsonOptions& options) {
  google::protobuf::util::JsonPrintOptions print_options;
  print_options.add_whitespace = false;
  print_options.always_print_primitive_fields = options.emit_defaults;
  print_options.preserve_proto_field_names = options.use_proto_names;
  print_options.always_print_enums_as_ints = options.enums_as_ints;
  return print_options;
}

}  // namespace

// A TypeResolver over one DescriptorPool that converts each type once.
// protobuf's pool resolver converts the descriptor to a google.protobuf.Type
// on every lookup, which dominated the cost of rendering small messages.
class JsonRenderer::CachingTypeResolver
    : public google::protobuf::util::TypeResolver {
 public:
  explicit CachingTypeResolver(const google::protobuf::DescriptorPool* pool)
      : resolver_(google::protobuf::util::NewTypeResolverForDescriptorPool(
            kTypeUrlPrefix, pool)) {}

  google::protobuf::util::Status ResolveMessageType(
      const std::string& type_url, google::protobuf::Type* type) override {
    {
      absl::ReaderMutexLock lock(&mu_);
      auto it = message_types_.find(type_url);
      if (it != message_types_.end()) {
        *type = *it->second;
        return google::protobuf::util::Status();
      }
    }
    auto resolved = std::make_unique<google::protobuf::Type>();
    google::protobuf::util::Status status =
        resolver_->ResolveMessageType(type_url, resolved.get());
    if (!status.ok()) return status;  // Not cached: errors stay errors.
    *type = *resolved;
    absl::MutexLock lock(&mu_);
    message_types_.try_emplace(type_url, std::move(resolved));
    return status;
  }

  google::protobuf::util::Status ResolveEnumType(
      const std::string& type_url, google::protobuf::Enum* enum_type) override {
    {
      absl::ReaderMutexLock lock(&mu_);
      auto it = enum_types_.find(type_url);
      if (it != enum_types_.end()) {
        *enum_type = *it->second;
        return google::protobuf::util::Status();
      }
    }
    auto resolved = std::make_unique<google::protobuf::Enum>();
    google::protobuf::util::Status status =
        resolver_->ResolveEnumType(type_url, resolved.get());
    if (!status.ok()) return status;
    *enum_type = *resolved;
    absl::MutexLock lock(&mu_);
    enum_types_.try_emplace(type_url, std::move(resolved));
    return status;
  }

 private:
  const std::unique_ptr<google::protobuf::util::TypeResolver> resolver_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<google::protobuf::Type>>
      message_types_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::unique_ptr<google::protobuf::Enum>>
      enum_types_ ABSL_GUARDED_BY(mu_);
};

JsonRenderer::JsonRenderer(const google::protobuf::Descriptor* type,
                           JsonOptions options)
    : type_(type),
      type_url_(absl::StrCat(kTypeUrlPrefix, "/", type->full_name())),
      print_options_(ToPrintOptions(options)),
      resolver_(std::make_unique<CachingTypeResolver>(type->file()->pool())),
      factory_(std::make_unique<google::protobuf::DynamicMessageFactory>()),
      prototype_(factory_->GetPrototype(type)) {
  absl::flat_hash_map<const google::protobuf::Descriptor*, bool> seen;
  contains_any_ = ContainsAny(type, &seen);
}

JsonRenderer::~JsonRenderer() = default;

absl::Status JsonRenderer::Render(absl::string_view serialized,
                                  std::string* json) const {
  json->clear();
  // Bytes of another shape are first rewritten as protobuf writes them, and
  // the values of Any fields are checked.
  std::string canonical;
  const bool is_canonical = IsCanonicalEncoding(type_, serialized, 0);
  if (!is_canonical || contains_any_) {
    std::unique_ptr<Message> message(prototype_->New());
    if (!message->ParseFromArray(serialized.data(),
                                 static_cast<int>(serialized.size()))) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot parse ", type_->full_name()));
    }
    if (contains_any_) {
      absl::Status status = CheckAnyContents(*message, factory_.get(), 0);
      if (!status.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("cannot render ", type_->full_name(),
                         " as JSON: ", status.message()));
      }
    }
    if (!is_canonical) {
      if (!message->SerializeToString(&canonical)) {
        return absl::InvalidArgumentError(
            absl::StrCat("cannot serialize ", type_->full_name()));
      }
      serialized = canonical;
    }
  }
  google::protobuf::util::Status status;
  {
    google::protobuf::io::ArrayInputStream input(
        serialized.data(), static_cast<int>(serialized.size()));
    google::protobuf::io::StringOutputStream output(json);
    status = google::protobuf::util::BinaryToJsonStream(
        resolver_.get(), type_url_, &input, &output, print_options_);
  }
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot render ", type_->full_name(),
                     " as JSON: ", std::string(status.message())));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> RenderJson(const Message& message,
                                       const JsonOptions& options) {
  google::protobuf::DynamicMessageFactory factory;
  absl::Status checked = CheckAnyContents(message, &factory, 0);
  if (!checked.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot render ", message.GetDescriptor()->full_name(),
                     " as JSON: ", checked.message()));
  }
  std::string json;
  const auto status = google::protobuf::util::MessageToJsonString(
      message, &json, ToPrintOptions(options));
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot render ", message.GetDescriptor()->full_name(),
                     " as JSON: ", std::string(status.message())));
  }
  return json;
}

absl::Status CheckScalarFieldPath(
    const std::vector<const FieldDescriptor*>& path) {
  RETURN_IF_ERROR(CheckFieldPathShape(nullptr, path));
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
  RETURN_IF_ERROR(CheckScalarFieldPath(path));
  RETURN_IF_ERROR(CheckFieldPathShape(message.GetDescriptor(), path));
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
