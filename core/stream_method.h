// StreamMethod: the upstream half of a route. It knows one server-streaming
// method of a backend and how its responses become SSE messages, builds
// requests from query-style bindings, and opens the gRPC call for each HTTP
// request as an EventStream (a GrpcEventStream).
//
// Resuming: the client's Last-Event-ID travels upstream as the metadata
// "last-event-id" (absent on a first connection, possibly empty) and, when
// `resume_field` is configured, parsed into that request field. Without an
// `id_field`, SSE ids are sequence numbers that continue after a numeric
// Last-Event-ID.
//
// Channels: a StreamMethod may be given several channels to the same backend
// (a pool, e.g. one connection each); each Open() goes to the channel with the
// fewest streams of this StreamMethod open, so that a backend limiting the
// concurrent streams per connection is not hit by one channel's queue.
//
// Thread safety: immutable after Create() apart from the per-channel stream
// counts (atomics); all methods are thread-safe, so one StreamMethod serves
// many HTTP requests concurrently (one grpc::GenericStub per channel). The
// Schema must outlive the StreamMethod, and the StreamMethod must outlive every
// EventStream it opened.

#ifndef SSE_GATEWAY_CORE_STREAM_METHOD_H_
#define SSE_GATEWAY_CORE_STREAM_METHOD_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/event_stream.h"
#include "core/json_renderer.h"
#include "core/schema.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "grpcpp/channel.h"
#include "grpcpp/generic/generic_stub.h"

namespace sse_gateway {

// The metadata key that carries the client's Last-Event-ID upstream.
inline constexpr absl::string_view kLastEventIdMetadataKey = "last-event-id";

struct StreamMethodOptions {
  std::string method;                // "package.Service/Method"
  std::optional<std::string> event;  // fixed SSE event name
  std::string id_field;  // response field path for SSE ids; empty: sequence
  std::string
      resume_field;  // request field set from Last-Event-ID; empty: none
  std::optional<int64_t> retry_ms;  // retry hint sent with the first event
  JsonOptions json;
  size_t buffer_capacity = 64;            // responses buffered per stream...
  size_t buffer_bytes = 128 * 1024;       // ...holding at most about this much
  std::optional<absl::Duration> timeout;  // gRPC deadline per call
};

class StreamMethod {
 public:
  // Validates `options` against `schema` (not owned; must outlive the
  // StreamMethod): the method exists and is server-streaming; id_field is a
  // singular scalar/enum field path of the response type; resume_field one of
  // the request type; event has no CR/LF/NUL; retry_ms >= 0; buffer_capacity
  // >= 1; timeout > 0. Errors are InvalidArgument/NotFound whose message
  // starts with the option name and a colon ("method: ...", "id_field: ...",
  // "resume_field: ...") so that callers can prefix where the option came
  // from. `channel` leads to the backend.
  static absl::StatusOr<std::unique_ptr<StreamMethod>> Create(
      const Schema* schema, std::shared_ptr<grpc::Channel> channel,
      StreamMethodOptions options);

  // As above over a pool of `channels` to one backend (at least one, none
  // null); streams are spread over them, fewest open streams first.
  static absl::StatusOr<std::unique_ptr<StreamMethod>> Create(
      const Schema* schema,
      std::vector<std::shared_ptr<grpc::Channel>> channels,
      StreamMethodOptions options);

  StreamMethod(const StreamMethod&) = delete;
  StreamMethod& operator=(const StreamMethod&) = delete;
  ~StreamMethod();

  // Builds a request (owned by the caller) from query-style bindings (see
  // ApplyFieldBindings in request_builder.h); InvalidArgument on bad input.
  // No upstream call is made.
  absl::StatusOr<std::unique_ptr<google::protobuf::Message>> BuildRequest(
      const std::vector<std::pair<std::string, std::string>>& bindings) const;

  // Opens the upstream call for a copy of `request` (a message of the
  // method's input type; not kept). When `last_event_id` is present (even
  // empty) it is sent as metadata "last-event-id"; a value that gRPC metadata
  // cannot carry (not printable ASCII) gives InvalidArgument and no call.
  // When resume_field is set and `last_event_id` is non-empty, it is parsed
  // into that field (unparsable: InvalidArgument naming Last-Event-ID, no
  // call). Without id_field, sequence ids continue after a numeric
  // Last-Event-ID (41 -> 42, 43...) and otherwise start at 1. `metadata` is
  // extra client metadata, each entry checked like last-event-id
  // (InvalidArgument naming the key, no call). `timeout`, when given, is the
  // caller's deadline for this call; the shorter of it and the method's
  // configured timeout applies.
  absl::StatusOr<std::unique_ptr<EventStream>> Open(
      const google::protobuf::Message& request,
      const std::optional<std::string>& last_event_id,
      const std::vector<std::pair<std::string, std::string>>& metadata,
      std::optional<absl::Duration> timeout = std::nullopt) const;

  // The bytes that identify `request` (a message of the method's input
  // type) when calls are shared (fan-out): its deterministic serialization
  // with the resume field cleared, since each call sets that one itself.
  std::string SharingKey(const google::protobuf::Message& request) const;

  // The method's descriptor, owned by the Schema.
  const google::protobuf::MethodDescriptor* method() const { return method_; }

  const StreamMethodOptions& options() const { return options_; }

 private:
  class CountedStream;  // Decrements its channel's count when destroyed.

  StreamMethod(std::vector<std::shared_ptr<grpc::Channel>> channels,
               StreamMethodOptions options);

  // The index of the channel with the fewest open streams (ties rotate).
  size_t PickChannel() const;

  const StreamMethodOptions options_;
  const std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs_;  // Thread-safe.
  // One count per channel.
  const std::unique_ptr<std::atomic<int64_t>[]> open_streams_;
  mutable std::atomic<uint64_t> next_pick_{0};
  const google::protobuf::MethodDescriptor* method_ = nullptr;
  std::string grpc_path_;  // "/package.Service/Method"
  const google::protobuf::Message* request_prototype_ = nullptr;
  const google::protobuf::Message* response_prototype_ = nullptr;
  std::vector<const google::protobuf::FieldDescriptor*> id_field_;
  // Shared by every stream this method opens.
  std::unique_ptr<const JsonRenderer> json_renderer_;
  std::vector<const google::protobuf::FieldDescriptor*> resume_field_;
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_CORE_STREAM_METHOD_H_
