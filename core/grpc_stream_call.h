// GrpcStreamCall: one server-streaming gRPC call, made without generated code
// and consumed by pulling serialized responses.
//
// The call is made with grpc::GenericStub and the gRPC callback API: no thread
// blocks per upstream read. Received responses go into a bounded buffer
// (Options::buffer_capacity and buffer_bytes); the next upstream read is only
// issued while the buffer has room, so a consumer that stops pulling stops the
// reads and HTTP/2 flow control pushes back on the backend instead of memory
// growing.
//
// Life cycle: Start() begins the call at once. Next() returns kMessage any
// number of times, then kEnd; after kEnd, FinalStatus() tells how the call
// ended and further Next() calls keep returning kEnd. Responses already
// buffered are returned before kEnd even when the call has finished, except
// after Cancel(): then Next() returns kEnd promptly and FinalStatus() is
// CANCELLED.
//
// Thread safety: Next() and FinalStatus() must be called from one thread at a
// time; Cancel() may be called from any thread, concurrently with Next(). The
// destructor cancels a running call and blocks until gRPC has delivered its
// last callback, so no callback can outlive the object.

#ifndef SSE_GATEWAY_CORE_GRPC_STREAM_CALL_H_
#define SSE_GATEWAY_CORE_GRPC_STREAM_CALL_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/generic/generic_stub.h"

namespace sse_gateway {

// Whether gRPC reserves `key` (lower-case) for itself: every "grpc-..." and
// pseudo-header (":...") key, and the other keys gRPC 1.51 parses into typed
// slots of its metadata batch: content-type, te, user-agent, host, lb-token,
// lb-cost-bin, grpclb_client_stats, endpoint-load-metrics-bin. A client must
// never set one (some abort the process inside gRPC's encoder).
bool IsReservedGrpcMetadataKey(absl::string_view key);

// Returns OK when `key: value` may be sent as gRPC client metadata: the key is
// non-empty, made of [0-9a-z-_.] and not reserved (IsReservedGrpcMetadataKey);
// the value of a non-binary key (one not ending in "-bin") is printable ASCII.
// gRPC aborts the process on invalid metadata, so everything sent is checked
// first.
absl::Status CheckGrpcMetadata(absl::string_view key, absl::string_view value);

class GrpcStreamCall {
 public:
  struct Options {
    // Responses received but not yet pulled: reading stops when this many
    // are buffered (at least 1 is used) or when they hold `buffer_bytes`.
    // A deep buffer lets a fast stream move many messages per hand-off to
    // the consumer (measured: 42k events/s with 4, 78k with 32); the byte
    // bound keeps what a stalled consumer costs small for large messages.
    size_t buffer_capacity = 64;
    size_t buffer_bytes = 128 * 1024;
    // Sent as client metadata, in order. Each entry must pass
    // CheckGrpcMetadata(); otherwise the call is not made and ends at once
    // with INVALID_ARGUMENT.
    std::vector<std::pair<std::string, std::string>> metadata;
    // Deadline of the call, measured from Start(); none by default.
    std::optional<absl::Duration> timeout;
  };

  enum class NextResult { kMessage, kTimeout, kEnd };

  // Starts the call at once. `stub` must outlive the call. `method` is
  // "/pkg.Svc/Method"; `serialized_request` is the one request message.
  static std::unique_ptr<GrpcStreamCall> Start(
      grpc::GenericStub* stub, const std::string& method,
      const std::string& serialized_request, Options options);

  GrpcStreamCall(const GrpcStreamCall&) = delete;
  GrpcStreamCall& operator=(const GrpcStreamCall&) = delete;

  // Cancels the call if it is still running and blocks until the reactor's
  // OnDone ran.
  ~GrpcStreamCall();

  // Waits up to `timeout` for the next response and stores its serialized
  // bytes in `*response` (owned by the caller) when kMessage is returned.
  NextResult Next(absl::Duration timeout, std::string* response);

  // When the call's deadline (Options::timeout after Start) passes;
  // InfiniteFuture() without a timeout. A Next() call at or after it ends
  // the call with DEADLINE_EXCEEDED if the backend has not ended it first.
  absl::Time Deadline() const;

  // Calls `on_ready` (on a gRPC thread, or on the thread that calls
  // Cancel()) whenever Next() may return something new; see
  // EventStream::SetReadyCallback for the contract. Never called after this
  // returns with a different callback, nor after the destructor started.
  void SetReadyCallback(std::function<void()> on_ready);

  // The final status: the gRPC code and message as an absl::Status (the codes
  // are numerically equal), or CANCELLED after Cancel(). Meaningful after
  // Next() returned kEnd.
  absl::Status FinalStatus() const;

  // Cancels the call (ClientContext::TryCancel). Idempotent; callable from
  // any thread.
  void Cancel();

  // The server's initial metadata, in order, once received; empty before
  // that and when the server sent none (e.g. a trailers-only error). Next()
  // returns the first response only after the initial metadata was received,
  // so it is complete once a message has been pulled. Binary ("-bin") values
  // are raw bytes. Thread-safe; returns a copy.
  std::vector<std::pair<std::string, std::string>> ServerInitialMetadata()
      const;

 private:
  class Reactor;  // The gRPC reactor and all state shared with callbacks.

  explicit GrpcStreamCall(std::unique_ptr<Reactor> reactor);

  // Destroyed only after its OnDone has signalled, so that the ClientContext
  // and the call are released by the destructor, not by a gRPC thread.
  const std::unique_ptr<Reactor> reactor_;
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_CORE_GRPC_STREAM_CALL_H_
