// GrpcEventStream: an EventStream that transcodes the responses of one
// server-streaming gRPC call (a GrpcStreamCall) into SSE messages.
//
// Each response is parsed into a message of the method's output type (a
// prototype from the Schema) and becomes one SseMessage:
//   data:  the response as one-line proto3 JSON (the route's JsonRenderer);
//   event: the fixed event name, if any;
//   id:    the text of the response field at `id_field` when set, otherwise a
//          decimal sequence number: first_sequence_id, then +1 per message;
//   retry: `retry_ms` on the first message only, if set.
// A response that does not parse or render, or whose id contains CR, LF or
// NUL (which could inject SSE fields), cancels the call and ends the stream
// with an INTERNAL status naming the method. The gRPC status of the call
// otherwise becomes FinalStatus().
//
// Thread safety: as EventStream (event_stream.h).

#ifndef SSE_GATEWAY_CORE_GRPC_EVENT_STREAM_H_
#define SSE_GATEWAY_CORE_GRPC_EVENT_STREAM_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "core/event_stream.h"
#include "core/grpc_stream_call.h"
#include "core/json_renderer.h"
#include "core/sse_message.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace sse_gateway {

// How responses become SSE messages.
struct SseRendering {
  std::optional<std::string> event;
  // Resolved path of the id field in the response type; empty: sequence ids.
  std::vector<const google::protobuf::FieldDescriptor*> id_field;
  std::optional<int64_t> retry_ms;
  // Renders the data of every message. Not owned; shared by the streams of a
  // route and must outlive them. Its type is the method's output type.
  const JsonRenderer* json = nullptr;
  // The id of the first message when `id_field` is empty.
  uint64_t first_sequence_id = 1;
};

class GrpcEventStream : public EventStream {
 public:
  // Takes ownership of `call`. `response_prototype` (a message of the
  // method's output type) and `method` are not owned and must outlive the
  // stream; the fields in `rendering.id_field` must belong to the prototype's
  // type.
  GrpcEventStream(std::unique_ptr<GrpcStreamCall> call,
                  const google::protobuf::MethodDescriptor* method,
                  const google::protobuf::Message* response_prototype,
                  SseRendering rendering);
  ~GrpcEventStream() override;

  NextResult Next(absl::Duration timeout, SseMessage* message) override;
  absl::Status FinalStatus() const override;
  void Cancel() override;
  // The call's server initial metadata (GrpcStreamCall::ServerInitialMetadata).
  std::vector<std::pair<std::string, std::string>> ResponseMetadata()
      const override;
  // The call's deadline (GrpcStreamCall::Deadline).
  absl::Time Deadline() const override;
  // Forwards to the call (GrpcStreamCall::SetReadyCallback); always true.
  bool SetReadyCallback(std::function<void()> on_ready) override;

 private:
  // Turns serialized response bytes into `*message`, or says why not.
  absl::Status Transcode(const std::string& bytes, SseMessage* message);

  std::unique_ptr<GrpcStreamCall> call_;
  const google::protobuf::MethodDescriptor* const method_;
  const google::protobuf::Message* const response_prototype_;
  const SseRendering rendering_;

  uint64_t next_sequence_id_;
  bool first_message_ = true;
  bool ended_ = false;
  absl::Status final_status_;  // Set when Next() returns kEnd.
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_CORE_GRPC_EVENT_STREAM_H_
