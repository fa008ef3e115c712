#include "core/json_renderer.h"

#include <charconv>
#include <cmath>
#include <system_error>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "core/field_path.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/type.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/type_resolver_util.h"

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
      resolver_(std::make_unique<CachingTypeResolver>(type->file()->pool())) {}

JsonRenderer::~JsonRenderer() = default;

absl::Status JsonRenderer::Render(absl::string_view serialized,
                                  std::string* json) const {
  json->clear();
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
