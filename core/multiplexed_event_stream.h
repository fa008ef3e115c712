// MultiplexedEventStream: the named subscriptions of one multiplexed request
// (several streams over one EventSource) served as one EventStream.
//
// Every message of subscription `name` comes out as an event of type `name`
// (a fan-out `gap` signal as `name.gap`) with the subscription's data, and
// with a compound id (compound_event_id.h) that records, for every
// subscription, the id of the last event delivered, or that it has ended.
// When a subscription ends, an event `name.end` carries {"code","message"}
// and the others go on; the multiplexed stream ends (OK) when every
// subscription has. A subscription's first-message `retry` hint is passed on
// when it is the first or lower than the one already sent.
//
// Start: until every live subscription has produced its first message or
// ended, or until `start_by`, nothing is delivered. A subscription that fails
// in that time (before its first message) fails the whole stream, with its
// status code and a message that names it ("subscription acme: ..."): the
// request then gets an error status instead of a stream, like a plain route
// whose call fails at once. The other subscriptions are cancelled.
//
// A subscription that ends asking for a reconnect (IsReconnectStatus, e.g. a
// fan-out subscriber that fell behind) ends the whole stream with that
// status: the client's reconnect resumes every subscription.
//
// Fairness: subscriptions are served round robin, one message each per turn,
// so a subscription that always has a message ready cannot delay another by
// more than one message of each other subscription.
//
// Ownership: the stream owns its subscriptions' EventStreams and destroys
// them (cancelling those not ended) when destroyed. Each subscription's
// `on_end` is called exactly once: when it ends by itself (with its final
// status), or when the multiplexed stream fails, is cancelled or destroyed
// first (CANCELLED, ended_by_itself false). Called on the thread that calls
// Next() or destroys the stream, never with a lock held.
//
// Thread safety: as EventStream. Next() and FinalStatus() from one thread at
// a time; Cancel() and SetReadyCallback() from any thread.

#ifndef SSE_GATEWAY_CORE_MULTIPLEXED_EVENT_STREAM_H_
#define SSE_GATEWAY_CORE_MULTIPLEXED_EVENT_STREAM_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/compound_event_id.h"
#include "core/event_stream.h"

namespace sse_gateway {

// Event-type suffixes the multiplexer gives meaning to.
inline constexpr absl::string_view kSubscriptionEndSuffix = ".end";
inline constexpr absl::string_view kSubscriptionGapSuffix = ".gap";

struct MultiplexedSubscription {
  std::string name;
  // Where the subscription starts, from the client's compound id: kFresh or
  // kAt (then `stream` is open, resumed from that id), or kEnded (then
  // `stream` is null: an ended subscription is not reopened).
  CompoundEntry position;
  std::unique_ptr<EventStream> stream;
  // See the ownership notes above; may be empty.
  std::function<void(const absl::Status& final_status, int64_t messages,
                     bool ended_by_itself)>
      on_end;
};

class MultiplexedEventStream : public EventStream {
 public:
  // `subscriptions` in request order (their names make the compound id's
  // fingerprint). Requires: at least one subscription; a stream exactly for
  // those not kEnded (asserted).
  MultiplexedEventStream(std::vector<MultiplexedSubscription> subscriptions,
                         absl::Time start_by);
  ~MultiplexedEventStream() override;

  MultiplexedEventStream(const MultiplexedEventStream&) = delete;
  MultiplexedEventStream& operator=(const MultiplexedEventStream&) = delete;

  NextResult Next(absl::Duration timeout, SseMessage* message) override;
  absl::Status FinalStatus() const override { return final_status_; }
  void Cancel() override;
  absl::Time Deadline() const override;
  bool SetReadyCallback(std::function<void()> on_ready) override;

 private:
  struct Slot {
    MultiplexedSubscription subscription;
    bool live = false;  // has a stream that has not ended
    std::unique_ptr<std::atomic<bool>> ready;  // may have something new
    std::optional<SseMessage> held_first;      // before the start
    std::optional<absl::Status> held_end;      // ended OK before the start
    int64_t messages = 0;
    bool reported = false;  // on_end called
  };

  // One attempt without waiting (consumer thread).
  NextResult TryNext(SseMessage* message);
  // Before the start: collects first messages; true once started.
  bool TryStart();
  // Polls slot `i` once (if it may have something): kMessage with `*raw`,
  // kEnd, or kTimeout.
  NextResult Poll(size_t i, SseMessage* raw);
  // The event for message `raw` of slot `i` in `*out`, or, for a message
  // that cannot be carried, the slot's end event with the error.
  void Deliver(size_t i, SseMessage raw, SseMessage* out);
  // Marks slot `i` ended by itself with `status` and writes its end event.
  void EndSlot(size_t i, const absl::Status& status, SseMessage* out);
  // Ends the whole stream with `status`; every live slot is cancelled.
  void EndAll(const absl::Status& status);
  void Report(Slot& slot, const absl::Status& status, bool ended_by_itself);
  std::string CompoundId() const;
  void OnChildReady();

  std::vector<Slot> slots_;
  const uint32_t fingerprint_;
  const absl::Time start_by_;
  bool all_notify_ = true;  // every live stream has a ready callback

  // Consumer-thread state.
  bool started_ = false;
  bool ended_ = false;
  size_t cursor_ = 0;  // round robin: the slot polled first next time
  std::vector<SseMessage> outbox_;  // ready events (front first)
  size_t outbox_next_ = 0;
  std::optional<int64_t> retry_sent_;
  absl::Status final_status_;

  std::atomic<bool> cancelled_{false};
  absl::Mutex mu_;  // Held while on_ready_ runs.
  absl::CondVar signalled_cv_;
  bool signalled_ ABSL_GUARDED_BY(mu_) = false;
  std::function<void()> on_ready_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_CORE_MULTIPLEXED_EVENT_STREAM_H_
