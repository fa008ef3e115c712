#include "core/stream_method.h"

#include <limits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/field_path.h"
#include "core/grpc_event_stream.h"
#include "core/grpc_stream_call.h"
#include "core/request_builder.h"
#include "core/status_macros.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace sse_gateway {
namespace {

// `status` with its message prefixed by "<option>: ".
absl::Status ForOption(absl::string_view option, const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat(option, ": ", status.message()));
}

// Resolves `path` in `type` and checks that it names a singular scalar.
absl::StatusOr<std::vector<const google::protobuf::FieldDescriptor*>>
ResolveScalarOption(absl::string_view option,
                    const google::protobuf::Descriptor* type,
                    absl::string_view path) {
  auto fields = ResolveFieldPath(type, path);
  if (!fields.ok()) return ForOption(option, fields.status());
  absl::Status scalar = CheckScalarFieldPath(*fields);
  if (!scalar.ok()) return ForOption(option, scalar);
  return fields;
}

// The first sequence id after `last_event_id` when it is a decimal number;
// otherwise 1.
uint64_t FirstSequenceId(const std::optional<std::string>& last_event_id) {
  if (!last_event_id.has_value() || last_event_id->empty()) return 1;
  for (char c : *last_event_id) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return 1;
  }
  uint64_t last = 0;
  if (!absl::SimpleAtoi(*last_event_id, &last) ||
      last == std::numeric_limits<uint64_t>::max()) {
    return 1;
  }
  return last + 1;
}

}  // namespace

// An EventStream that counts as open on one channel of its StreamMethod
// until it is destroyed.
class StreamMethod::CountedStream final : public EventStream {
 public:
  CountedStream(std::unique_ptr<EventStream> stream,
                std::atomic<int64_t>* open_streams)
      : stream_(std::move(stream)), open_streams_(open_streams) {}
  ~CountedStream() override {
    stream_.reset();  // The call is over before it stops counting.
    open_streams_->fetch_sub(1);
  }

  NextResult Next(absl::Duration timeout, SseMessage* message) override {
    return stream_->Next(timeout, message);
  }
  absl::Status FinalStatus() const override { return stream_->FinalStatus(); }
  void Cancel() override { stream_->Cancel(); }
  std::vector<std::pair<std::string, std::string>> ResponseMetadata()
      const override {
    return stream_->ResponseMetadata();
  }
  absl::Time Deadline() const override { return stream_->Deadline(); }
  bool SetReadyCallback(std::function<void()> on_ready) override {
    return stream_->SetReadyCallback(std::move(on_ready));
  }

 private:
  std::unique_ptr<EventStream> stream_;
  std::atomic<int64_t>* const open_streams_;
};

StreamMethod::StreamMethod(std::vector<std::shared_ptr<grpc::Channel>> channels,
                           StreamMethodOptions options)
    : options_(std::move(options)),
      channels_(std::move(channels)),
      open_streams_(new std::atomic<int64_t>[channels_.size()]) {
  for (size_t i = 0; i < channels_.size(); ++i) {
    stubs_.push_back(std::make_unique<grpc::GenericStub>(channels_[i]));
    open_streams_[i].store(0);
  }
}

StreamMethod::~StreamMethod() = default;

size_t StreamMethod::PickChannel() const {
  const size_t n = channels_.size();
  const size_t start = next_pick_.fetch_add(1) % n;
  size_t best = start;
  for (size_t k = 1; k < n; ++k) {
    size_t i = (start + k) % n;
    if (open_streams_[i].load() < open_streams_[best].load()) best = i;
  }
  return best;
}

absl::StatusOr<std::unique_ptr<StreamMethod>> StreamMethod::Create(
    const Schema* schema, std::shared_ptr<grpc::Channel> channel,
    StreamMethodOptions options) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  channels.push_back(std::move(channel));
  return Create(schema, std::move(channels), std::move(options));
}

absl::StatusOr<std::unique_ptr<StreamMethod>> StreamMethod::Create(
    const Schema* schema, std::vector<std::shared_ptr<grpc::Channel>> channels,
    StreamMethodOptions options) {
  if (schema == nullptr) {
    return absl::InvalidArgumentError("schema: none given");
  }
  if (channels.empty()) {
    return absl::InvalidArgumentError("channel: none given");
  }
  for (const auto& channel : channels) {
    if (channel == nullptr) {
      return absl::InvalidArgumentError("channel: none given");
    }
  }
  auto method = schema->FindServerStreamingMethod(options.method);
  if (!method.ok()) return ForOption("method", method.status());
  const google::protobuf::Message* request_prototype =
      schema->GetPrototype((*method)->input_type());
  const google::protobuf::Message* response_prototype =
      schema->GetPrototype((*method)->output_type());
  if (request_prototype == nullptr || response_prototype == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("method: no message types for ", (*method)->full_name()));
  }

  std::vector<const google::protobuf::FieldDescriptor*> id_field;
  if (!options.id_field.empty()) {
    auto fields = ResolveScalarOption("id_field", (*method)->output_type(),
                                      options.id_field);
    if (!fields.ok()) return fields.status();
    id_field = *std::move(fields);
  }
  std::vector<const google::protobuf::FieldDescriptor*> resume_field;
  if (!options.resume_field.empty()) {
    auto fields = ResolveScalarOption("resume_field", (*method)->input_type(),
                                      options.resume_field);
    if (!fields.ok()) return fields.status();
    resume_field = *std::move(fields);
  }
  if (options.event.has_value()) {
    if (options.event->empty()) {
      return absl::InvalidArgumentError(
          "event: must not be empty (leave it out for \"message\")");
    }
    if (absl::string_view(*options.event)
            .find_first_of(absl::string_view("\r\n\0", 3)) !=
        absl::string_view::npos) {
      return absl::InvalidArgumentError(
          "event: must not contain CR, LF or NUL");
    }
  }
  if (options.retry_ms.has_value() && *options.retry_ms < 0) {
    return absl::InvalidArgumentError("retry_ms: must not be negative");
  }
  if (options.buffer_capacity < 1) {
    return absl::InvalidArgumentError("buffer_capacity: must be at least 1");
  }
  if (options.timeout.has_value() && *options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("timeout: must be positive");
  }

  std::unique_ptr<StreamMethod> stream_method(
      new StreamMethod(std::move(channels), std::move(options)));
  stream_method->method_ = *method;
  stream_method->grpc_path_ = absl::StrCat(
      "/", (*method)->service()->full_name(), "/", (*method)->name());
  stream_method->request_prototype_ = request_prototype;
  stream_method->response_prototype_ = response_prototype;
  stream_method->id_field_ = std::move(id_field);
  stream_method->json_renderer_ = std::make_unique<JsonRenderer>(
      response_prototype->GetDescriptor(), stream_method->options_.json);
  stream_method->resume_field_ = std::move(resume_field);
  return stream_method;
}

absl::StatusOr<std::unique_ptr<google::protobuf::Message>>
StreamMethod::BuildRequest(
    const std::vector<std::pair<std::string, std::string>>& bindings) const {
  std::unique_ptr<google::protobuf::Message> request(request_prototype_->New());
  RETURN_IF_ERROR(ApplyFieldBindings(bindings, request.get()));
  return request;
}

absl::StatusOr<std::unique_ptr<EventStream>> StreamMethod::Open(
    const google::protobuf::Message& request,
    const std::optional<std::string>& last_event_id,
    const std::vector<std::pair<std::string, std::string>>& metadata,
    std::optional<absl::Duration> timeout) const {
  const google::protobuf::Descriptor* input_type = method_->input_type();
  if (request.GetDescriptor()->full_name() != input_type->full_name()) {
    return absl::InvalidArgumentError(
        absl::StrCat("request: is a ", request.GetDescriptor()->full_name(),
                     ", expected a ", input_type->full_name()));
  }
  std::unique_ptr<google::protobuf::Message> copy(request_prototype_->New());
  if (request.GetDescriptor() == input_type) {
    copy->CopyFrom(request);
  } else if (!copy->ParseFromString(request.SerializeAsString())) {
    // Same name, other pool (e.g. generated code): copy through the wire.
    return absl::InvalidArgumentError(
        absl::StrCat("request: cannot be read as ", input_type->full_name()));
  }

  GrpcStreamCall::Options call_options;
  call_options.buffer_capacity = options_.buffer_capacity;
  call_options.buffer_bytes = options_.buffer_bytes;
  call_options.timeout = options_.timeout;
  if (timeout.has_value() &&
      (!call_options.timeout.has_value() || *timeout < *call_options.timeout)) {
    call_options.timeout = timeout;
  }
  if (last_event_id.has_value()) {
    if (!CheckGrpcMetadata(kLastEventIdMetadataKey, *last_event_id).ok()) {
      return absl::InvalidArgumentError(
          "Last-Event-ID: only printable ASCII can be sent upstream");
    }
    call_options.metadata.emplace_back(std::string(kLastEventIdMetadataKey),
                                       *last_event_id);
  }
  for (const auto& [key, value] : metadata) {
    absl::Status status = CheckGrpcMetadata(key, value);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("metadata \"", key, "\": ", status.message()));
    }
    call_options.metadata.emplace_back(key, value);
  }
  if (!resume_field_.empty() && last_event_id.has_value() &&
      !last_event_id->empty()) {
    absl::Status status =
        SetFieldFromText(copy.get(), resume_field_, *last_event_id);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Last-Event-ID: ", status.message()));
    }
  }
  std::string serialized;
  if (!copy->SerializeToString(&serialized)) {
    return absl::InvalidArgumentError(
        absl::StrCat("request: cannot serialize ", input_type->full_name()));
  }

  SseRendering rendering;
  rendering.event = options_.event;
  rendering.id_field = id_field_;
  rendering.retry_ms = options_.retry_ms;
  rendering.json = json_renderer_.get();
  rendering.first_sequence_id =
      id_field_.empty() ? FirstSequenceId(last_event_id) : 1;
  const size_t channel = PickChannel();
  open_streams_[channel].fetch_add(1);
  std::unique_ptr<GrpcStreamCall> call = GrpcStreamCall::Start(
      stubs_[channel].get(), grpc_path_, serialized, std::move(call_options));
  return std::unique_ptr<EventStream>(std::make_unique<CountedStream>(
      std::make_unique<GrpcEventStream>(
          std::move(call), method_, response_prototype_, std::move(rendering)),
      &open_streams_[channel]));
}

std::string StreamMethod::SharingKey(
    const google::protobuf::Message& request) const {
  std::unique_ptr<google::protobuf::Message> copy(request.New());
  copy->CopyFrom(request);
  if (!resume_field_.empty()) {
    // Walk down only through containers that are set: clearing must not
    // create empty ones (they would change the bytes).
    google::protobuf::Message* container = copy.get();
    for (size_t i = 0; container != nullptr && i + 1 < resume_field_.size();
         ++i) {
      const google::protobuf::Reflection* reflection =
          container->GetReflection();
      container = reflection->HasField(*container, resume_field_[i])
                      ? reflection->MutableMessage(container, resume_field_[i])
                      : nullptr;
    }
    if (container != nullptr) {
      container->GetReflection()->ClearField(container, resume_field_.back());
    }
  }
  std::string key;
  {
    google::protobuf::io::StringOutputStream output(&key);
    google::protobuf::io::CodedOutputStream coded(&output);
    coded.SetSerializationDeterministic(true);
    copy->SerializeToCodedStream(&coded);
  }
  return key;
}

}  // namespace sse_gateway
