#include "core/grpc_stream_call.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "core/check.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/client_callback.h"
#include "grpcpp/support/slice.h"
#include "grpcpp/support/status.h"
#include "grpcpp/support/stub_options.h"

namespace sse_gateway {
namespace {

// Keys that gRPC 1.51's metadata batch (src/core/lib/transport/
// metadata_batch.h, grpc_metadata_batch) parses into typed slots instead of
// sending as they are, and that do not start with "grpc-" or ':' (those are
// refused by prefix). Sent by a client, they are at best overwritten and at
// worst abort the process: "grpclb_client_stats" is a pointer slot whose
// encoder calls abort().
constexpr absl::string_view kGrpcInternalKeys[] = {
    "content-type",
    "te",
    "user-agent",
    "host",
    "lb-token",
    "lb-cost-bin",
    "grpclb_client_stats",
    "endpoint-load-metrics-bin",
};

bool IsMetadataKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

std::string ByteBufferToString(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  out.reserve(buffer.Length());
  for (const grpc::Slice& slice : slices) {
    out.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return out;
}

absl::Status ToAbslStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

}  // namespace

bool IsReservedGrpcMetadataKey(absl::string_view key) {
  if (absl::StartsWith(key, "grpc-") || absl::StartsWith(key, ":")) {
    return true;
  }
  for (absl::string_view internal : kGrpcInternalKeys) {
    if (key == internal) return true;
  }
  return false;
}

absl::Status CheckGrpcMetadata(absl::string_view key, absl::string_view value) {
  if (key.empty()) {
    return absl::InvalidArgumentError("metadata key is empty");
  }
  for (char c : key) {
    if (!IsMetadataKeyChar(c)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "metadata key '", absl::CHexEscape(key),
          "' may only contain lowercase letters, digits, '-', '_' and '.'"));
    }
  }
  if (IsReservedGrpcMetadataKey(key)) {
    return absl::InvalidArgumentError(
        absl::StrCat("metadata key '", key, "' is reserved by gRPC"));
  }
  if (absl::EndsWith(key, "-bin")) return absl::OkStatus();
  for (char c : value) {
    if (c < 0x20 || c > 0x7e) {
      return absl::InvalidArgumentError(absl::StrCat(
          "value of metadata key '", key, "' is not printable ASCII"));
    }
  }
  return absl::OkStatus();
}

// The responses received and not yet pulled, oldest first, with their total
// size. No allocation while it holds at most four; memory it grew for a
// burst is released once it is empty again, so idle streams stay small.
class ResponseQueue {
 public:
  bool empty() const { return head_ == items_.size(); }
  size_t size() const { return items_.size() - head_; }
  size_t bytes() const { return bytes_; }

  void Push(std::string response) {
    bytes_ += response.size();
    items_.push_back(std::move(response));
  }

  // Requires !empty().
  std::string Pop() {
    SSE_GATEWAY_DCHECK(!empty());
    std::string response = std::move(items_[head_++]);
    bytes_ -= response.size();
    if (empty()) Clear();
    return response;
  }

  void Clear() {
    if (items_.capacity() > kInline) {
      absl::InlinedVector<std::string, kInline>().swap(items_);
    } else {
      items_.clear();
    }
    head_ = 0;
    bytes_ = 0;
  }

 private:
  static constexpr size_t kInline = 4;
  absl::InlinedVector<std::string, kInline> items_;
  size_t head_ = 0;  // items_[head_] is the oldest response.
  size_t bytes_ = 0;
};

// The reactor owns everything gRPC touches (context, buffers) and the state
// shared with Next()/Cancel(). It holds the call open (AddHold) until reading
// has stopped for good, so that Next() may safely issue a read from the
// consumer's thread. gRPC operations are always issued outside `mu_`.
// OnDone's last act is to notify `finished_`, which it keeps alive itself;
// only then may the owner destroy the reactor.
class GrpcStreamCall::Reactor final
    : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  Reactor(size_t buffer_capacity, size_t buffer_bytes)
      : buffer_capacity_(buffer_capacity < 1 ? 1 : buffer_capacity),
        buffer_bytes_(buffer_bytes < 1 ? 1 : buffer_bytes) {}

  // Makes the call. Called once, before anything else.
  void Begin(grpc::GenericStub* stub, const std::string& method,
             const std::string& serialized_request, const Options& options) {
    if (options.timeout.has_value()) {
      deadline_ = absl::Now() + *options.timeout;
      context_.set_deadline(absl::ToChronoTime(deadline_));
    }
    for (const auto& [key, value] : options.metadata) {
      context_.AddMetadata(key, value);
    }
    // The request is the only message: send the headers with it in one
    // write (one syscall here, one wake-up on the backend).
    context_.set_initial_metadata_corked(true);
    grpc::Slice slice(serialized_request);
    request_ = grpc::ByteBuffer(&slice, 1);
    {
      absl::MutexLock lock(&mu_);
      read_outstanding_ = true;
    }
    stub->PrepareBidiStreamingCall(&context_, method, grpc::StubOptions(),
                                   this);
    StartWriteLast(&request_, grpc::WriteOptions());
    StartRead(&incoming_);
    AddHold();  // Released once no further read will be issued.
    StartCall();
  }

  // Ends without making a call; `status` becomes the final status.
  void EndWithoutCall(absl::Status status) {
    {
      absl::MutexLock lock(&mu_);
      call_status_ = std::move(status);
      done_ = true;
    }
    finished_->Notify();
  }

  NextResult Next(absl::Duration timeout, std::string* response) {
    bool start_read = false;
    bool expire = false;
    {
      absl::MutexLock lock(&mu_);
      if (ended_) return NextResult::kEnd;
      // A consumer that polls (timeout zero) must not go through the
      // Mutex's waiter queue: under load that put the StreamPump's thread to
      // sleep on the futex for every event.
      const absl::Duration wait = std::min(timeout, deadline_ - absl::Now());
      if (wait > absl::ZeroDuration()) {
        mu_.AwaitWithTimeout(absl::Condition(this, &Reactor::ReadyForNext),
                             wait);
      }
      // The deadline is enforced here as well as by the backend (it is
      // sent as grpc-timeout): the channel runs without gRPC's deadline
      // filter, see backend_pool.cc.
      expire = !cancelled_ && !done_ && absl::Now() >= deadline_;
    }
    if (expire) {
      Cancel();
      absl::MutexLock lock(&mu_);
      deadline_exceeded_ = true;
    }
    {
      absl::MutexLock lock(&mu_);
      if (cancelled_ || (buffer_.empty() && done_)) {
        ended_ = true;
        return NextResult::kEnd;
      }
      if (buffer_.empty() || !MessagesReleased()) return NextResult::kTimeout;
      *response = buffer_.Pop();
      if (!read_outstanding_ && !reads_finished_ && !hold_released_ &&
          HasRoom()) {
        read_outstanding_ = true;
        start_read = true;
      }
    }
    if (start_read) StartRead(&incoming_);
    return NextResult::kMessage;
  }

  absl::Status FinalStatus() const {
    absl::MutexLock lock(&mu_);
    if (deadline_exceeded_) {
      return absl::DeadlineExceededError("deadline exceeded");
    }
    if (cancelled_) return absl::CancelledError("call cancelled by the client");
    return call_status_;
  }

  void Cancel() {
    bool try_cancel = false;
    bool release_hold = false;
    {
      absl::MutexLock lock(&mu_);
      if (cancelled_ || ended_) return;
      cancelled_ = true;
      buffer_.Clear();
      try_cancel = !done_;
      if (!done_ && !read_outstanding_ && !hold_released_) {
        hold_released_ = true;
        release_hold = true;
      }
    }
    // The context lives as long as this reactor, which the caller keeps
    // alive, so cancelling after OnDone is harmless.
    if (try_cancel) context_.TryCancel();
    if (release_hold) RemoveHold();
    NotifyReady();
  }

  void WaitUntilDone() { finished_->WaitForNotification(); }

  absl::Time deadline() const { return deadline_; }

  void SetReadyCallback(std::function<void()> on_ready) {
    absl::MutexLock lock(&callback_mu_);
    on_ready_ = std::move(on_ready);
  }

  // Tells the consumer that Next() may have something new. Called outside
  // `mu_`; `callback_mu_` makes SetReadyCallback wait for a running call.
  void NotifyReady() {
    absl::MutexLock lock(&callback_mu_);
    if (on_ready_) on_ready_();
  }

  std::vector<std::pair<std::string, std::string>> ServerInitialMetadata()
      const {
    absl::MutexLock lock(&mu_);
    return initial_metadata_;
  }

  // Runs once per call, on a gRPC thread, possibly after the first OnReadDone
  // (the callbacks are not ordered); Next() holds messages back until then.
  void OnReadInitialMetadataDone(bool ok) override {
    std::vector<std::pair<std::string, std::string>> metadata;
    if (ok) {
      for (const auto& [key, value] : context_.GetServerInitialMetadata()) {
        metadata.emplace_back(std::string(key.data(), key.size()),
                              std::string(value.data(), value.size()));
      }
    }
    bool released = false;
    {
      absl::MutexLock lock(&mu_);
      initial_metadata_ = std::move(metadata);
      initial_metadata_done_ = true;
      released = !buffer_.empty();
    }
    if (released) NotifyReady();
  }

  void OnReadDone(bool ok) override {
    bool start_read = false;
    bool release_hold = false;
    bool ready = false;
    {
      absl::MutexLock lock(&mu_);
      read_outstanding_ = false;
      if (!ok) {
        reads_finished_ = true;
      } else if (!cancelled_) {
        buffer_.Push(ByteBufferToString(incoming_));
        ready = MessagesReleased();
        if (HasRoom()) {
          read_outstanding_ = true;
          start_read = true;
        }
      }
      incoming_.Clear();
      if (!read_outstanding_ && (reads_finished_ || cancelled_) &&
          !hold_released_) {
        hold_released_ = true;
        release_hold = true;
      }
    }
    if (ready) NotifyReady();
    if (start_read) StartRead(&incoming_);
    if (release_hold) RemoveHold();
  }

  void OnDone(const grpc::Status& status) override {
    std::shared_ptr<absl::Notification> finished = finished_;
    {
      absl::MutexLock lock(&mu_);
      call_status_ = ToAbslStatus(status);
      done_ = true;
    }
    NotifyReady();
    finished->Notify();
    // From here on the owner may destroy this reactor: touch nothing.
  }

 private:
  // Buffered messages are handed out only once the initial metadata is in,
  // so that a consumer holding a message can rely on it.
  bool MessagesReleased() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return initial_metadata_done_ || done_;
  }

  // Whether another response may be read into the buffer.
  bool HasRoom() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return buffer_.size() < buffer_capacity_ && buffer_.bytes() < buffer_bytes_;
  }

  bool ReadyForNext() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return cancelled_ || done_ || (!buffer_.empty() && MessagesReleased());
  }

  const size_t buffer_capacity_;
  const size_t buffer_bytes_;
  absl::Time deadline_ = absl::InfiniteFuture();  // Set before the call.
  grpc::ClientContext context_;
  grpc::ByteBuffer request_;   // Must stay valid until the write completes.
  grpc::ByteBuffer incoming_;  // Target of the outstanding read.

  mutable absl::Mutex mu_;
  ResponseQueue buffer_ ABSL_GUARDED_BY(mu_);
  bool read_outstanding_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_finished_ ABSL_GUARDED_BY(mu_) = false;  // A read failed.
  bool hold_released_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;   // OnDone ran (or no call).
  bool ended_ ABSL_GUARDED_BY(mu_) = false;  // Next() returned kEnd.
  bool deadline_exceeded_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status call_status_ ABSL_GUARDED_BY(mu_);
  bool initial_metadata_done_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::pair<std::string, std::string>> initial_metadata_
      ABSL_GUARDED_BY(mu_);
  // Guards on_ready_, and is held while it runs.
  absl::Mutex callback_mu_;
  std::function<void()> on_ready_ ABSL_GUARDED_BY(callback_mu_);
  // Notified once OnDone ran (or when no call was made).
  const std::shared_ptr<absl::Notification> finished_ =
      std::make_shared<absl::Notification>();
};

std::unique_ptr<GrpcStreamCall> GrpcStreamCall::Start(
    grpc::GenericStub* stub, const std::string& method,
    const std::string& serialized_request, Options options) {
  auto reactor =
      std::make_unique<Reactor>(options.buffer_capacity, options.buffer_bytes);
  absl::Status metadata_status;
  for (const auto& [key, value] : options.metadata) {
    metadata_status = CheckGrpcMetadata(key, value);
    if (!metadata_status.ok()) break;
  }
  if (!metadata_status.ok()) {
    reactor->EndWithoutCall(std::move(metadata_status));
  } else if (stub == nullptr) {
    reactor->EndWithoutCall(absl::InvalidArgumentError("no gRPC stub"));
  } else {
    reactor->Begin(stub, method, serialized_request, options);
  }
  return std::unique_ptr<GrpcStreamCall>(
      new GrpcStreamCall(std::move(reactor)));
}

GrpcStreamCall::GrpcStreamCall(std::unique_ptr<Reactor> reactor)
    : reactor_(std::move(reactor)) {}

GrpcStreamCall::~GrpcStreamCall() {
  reactor_->SetReadyCallback(nullptr);
  reactor_->Cancel();
  reactor_->WaitUntilDone();
}

absl::Time GrpcStreamCall::Deadline() const { return reactor_->deadline(); }

void GrpcStreamCall::SetReadyCallback(std::function<void()> on_ready) {
  reactor_->SetReadyCallback(std::move(on_ready));
}

GrpcStreamCall::NextResult GrpcStreamCall::Next(absl::Duration timeout,
                                                std::string* response) {
  return reactor_->Next(timeout, response);
}

absl::Status GrpcStreamCall::FinalStatus() const {
  return reactor_->FinalStatus();
}

void GrpcStreamCall::Cancel() { reactor_->Cancel(); }

std::vector<std::pair<std::string, std::string>>
GrpcStreamCall::ServerInitialMetadata() const {
  return reactor_->ServerInitialMetadata();
}

}  // namespace sse_gateway
