#include "core/grpc_event_stream.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/check.h"
#include "core/status_macros.h"

namespace sse_gateway {

GrpcEventStream::GrpcEventStream(
    std::unique_ptr<GrpcStreamCall> call,
    const google::protobuf::MethodDescriptor* method,
    const google::protobuf::Message* response_prototype, SseRendering rendering)
    : call_(std::move(call)),
      method_(method),
      response_prototype_(response_prototype),
      rendering_(std::move(rendering)),
      next_sequence_id_(rendering_.first_sequence_id) {
  SSE_GATEWAY_DCHECK(call_ != nullptr);
  SSE_GATEWAY_DCHECK(method_ != nullptr && response_prototype_ != nullptr);
}

// The call's destructor cancels it if needed and waits for gRPC to let go.
GrpcEventStream::~GrpcEventStream() = default;

EventStream::NextResult GrpcEventStream::Next(absl::Duration timeout,
                                              SseMessage* message) {
  if (ended_) return NextResult::kEnd;
  std::string bytes;
  switch (call_->Next(timeout, &bytes)) {
    case GrpcStreamCall::NextResult::kTimeout:
      return NextResult::kTimeout;
    case GrpcStreamCall::NextResult::kEnd:
      ended_ = true;
      final_status_ = call_->FinalStatus();
      return NextResult::kEnd;
    case GrpcStreamCall::NextResult::kMessage:
      break;
  }
  SseMessage transcoded;
  absl::Status status = Transcode(bytes, &transcoded);
  if (!status.ok()) {
    call_->Cancel();
    ended_ = true;
    final_status_ = absl::InternalError(
        absl::StrCat("bad response from ", method_->service()->full_name(), "/",
                     method_->name(), ": ", status.message()));
    return NextResult::kEnd;
  }
  *message = std::move(transcoded);
  return NextResult::kMessage;
}

absl::Status GrpcEventStream::Transcode(const std::string& bytes,
                                        SseMessage* message) {
  std::unique_ptr<google::protobuf::Message> response(
      response_prototype_->New());
  if (!response->ParseFromString(bytes)) {
    return absl::InternalError(
        absl::StrCat("cannot parse ", response->GetDescriptor()->full_name()));
  }
  // The parse above checks the bytes (proto3 strings must be UTF-8) and
  // gives the id; the JSON is rendered from the same bytes.
  std::string json;
  RETURN_IF_ERROR(rendering_.json->Render(bytes, &json));
  message->data = std::move(json);
  message->event = rendering_.event;
  if (!rendering_.id_field.empty()) {
    ASSIGN_OR_RETURN(std::string id,
                     FieldValueAsText(*response, rendering_.id_field));
    if (absl::string_view(id).find_first_of(absl::string_view("\r\n\0", 3)) !=
        absl::string_view::npos) {
      return absl::InternalError(
          "the id field contains CR, LF or NUL, which SSE ids cannot hold");
    }
    message->id = std::move(id);
  } else {
    message->id = absl::StrCat(next_sequence_id_++);
  }
  message->retry_ms.reset();
  if (first_message_) message->retry_ms = rendering_.retry_ms;
  first_message_ = false;
  return absl::OkStatus();
}

absl::Status GrpcEventStream::FinalStatus() const { return final_status_; }

void GrpcEventStream::Cancel() { call_->Cancel(); }

absl::Time GrpcEventStream::Deadline() const { return call_->Deadline(); }

bool GrpcEventStream::SetReadyCallback(std::function<void()> on_ready) {
  call_->SetReadyCallback(std::move(on_ready));
  return true;
}

std::vector<std::pair<std::string, std::string>>
GrpcEventStream::ResponseMetadata() const {
  return call_->ServerInitialMetadata();
}

}  // namespace sse_gateway
