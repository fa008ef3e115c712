// FedEventStream: an EventStream that a test feeds by hand, for the unit
// tests of its consumers (the SSE layer, the multiplexer). Next() never
// waits. Push() queues a message, End() ends the stream; both
// call the ready callback, as a gRPC stream's reactor does. The test keeps a
// FedEventStream::Feed (shared with the stream) to feed it and to see
// whether the stream was cancelled after the writer that owns it is gone.
//
// Thread-safe: the feed may be used from any thread.

#ifndef SSE_GATEWAY_CORE_FED_EVENT_STREAM_H_
#define SSE_GATEWAY_CORE_FED_EVENT_STREAM_H_

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/event_stream.h"
#include "core/sse_message.h"

namespace sse_gateway {

class FedEventStream : public EventStream {
 public:
  // What the test and the stream share.
  class Feed {
   public:
    // Queues `message` and notifies.
    void Push(SseMessage message) ABSL_LOCKS_EXCLUDED(mu_);
    // Queues an event with `data` only.
    void PushData(std::string data);
    // Ends the stream with `status` once the queue is drained; notifies.
    void End(absl::Status status) ABSL_LOCKS_EXCLUDED(mu_);
    bool cancelled() const ABSL_LOCKS_EXCLUDED(mu_);
    // Whether a ready callback is set (the stream is being watched).
    bool watched() const ABSL_LOCKS_EXCLUDED(mu_);

   private:
    friend class FedEventStream;
    mutable absl::Mutex mu_;
    std::deque<SseMessage> queue_ ABSL_GUARDED_BY(mu_);
    std::optional<absl::Status> end_ ABSL_GUARDED_BY(mu_);
    bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
    std::function<void()> on_ready_ ABSL_GUARDED_BY(mu_);
  };

  explicit FedEventStream(std::shared_ptr<Feed> feed)
      : feed_(std::move(feed)) {}

  NextResult Next(absl::Duration timeout, SseMessage* message) override;
  absl::Status FinalStatus() const override { return status_; }
  void Cancel() override;
  bool SetReadyCallback(std::function<void()> on_ready) override;

 private:
  const std::shared_ptr<Feed> feed_;
  absl::Status status_;
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_CORE_FED_EVENT_STREAM_H_
