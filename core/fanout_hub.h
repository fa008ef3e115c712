// FanoutHub: one upstream EventStream shared by every subscriber of the same
// key, each subscriber a cursor into a ring of events framed once.
//
// A shared call is opened by the first Subscribe() of a key and pulled by
// the hub's own thread as fast as the upstream produces, whatever its
// subscribers do: each message is framed as SSE bytes once (AppendSseMessage)
// and appended to the call's ring; every subscriber's EventStream hands out
// the same immutable bytes (SseMessage::framed), so nothing is rendered or
// framed per subscriber. The ring keeps the last max(replay_events,
// kMinRingEvents) events; a subscriber whose cursor falls off its tail ends
// with a ReconnectStatus() (its client reconnects and resumes) and slows no
// one.
//
// Joining (Last-Event-ID as given by the client):
//   - absent or empty: from the next live event;
//   - the id of an event in the replay window (the last `replay_events`
//     events, none older than `replay_age`): every later event from the ring,
//     then live ones, with no gap and no duplicate;
//   - the id of the event just before the window: from the window's start;
//   - anything else is a gap: with GapPolicy::kDedicated the subscriber gets
//     its own stream from `open_dedicated` (resuming as an unshared stream
//     does); with kSignal it first gets an event `gap` whose data is
//     {"last_event_id":"<requested>","resumed_after":"<id before the
//     window>" or null}, then the whole window, then live events.
// The subscriber that opens a call starts at its first event: the call was
// opened with that subscriber's Last-Event-ID, as its own stream would be,
// and that id counts as the one just before the call's first event, so that
// others resuming from the same id (say, every browser of a failed replica)
// share the call from its start.
//
// Ids: events keep the upstream's ids, or with `assign_ids` get
// "<epoch>-<n>" (n from 1), the epoch naming the shared call, so that an id
// of another call (a restarted call, another replica) is a gap, never a
// wrong position.
//
// End: when the upstream ends, every subscriber gets the remaining events,
// then kEnd with the upstream's status, and the next Subscribe() of the key
// opens a new call. When the last subscriber leaves, the call lingers for
// `linger` (still read into the ring, so a reconnect resumes), then is
// cancelled.
//
// Thread safety: Subscribe() may be called from any thread. A subscription
// is an EventStream with that class's contract (Next() from one thread at a
// time; Cancel() and SetReadyCallback() from any). Ready callbacks run on the
// hub's thread. Every subscription must be destroyed before the hub; the
// hub's destructor cancels the calls left and joins its thread.

#ifndef SSE_GATEWAY_CORE_FANOUT_HUB_H_
#define SSE_GATEWAY_CORE_FANOUT_HUB_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/event_stream.h"

namespace sse_gateway {

// The reserved event name of a gap signal.
inline constexpr absl::string_view kGapEventName = "gap";

// What a subscriber whose Last-Event-ID is not in the ring gets.
enum class GapPolicy {
  kDedicated,  // its own upstream stream, resumed from its id
  kSignal,     // a `gap` event, then the replay window, then live events
};

// The ring keeps at least this many events, whatever `replay_events` says:
// subscribers read the live events from it too.
inline constexpr size_t kMinRingEvents = 64;

struct FanoutOptions {
  // Events kept for resuming (0: none); the ring holds at least
  // kMinRingEvents for delivery.
  size_t replay_events = 1000;
  // Events older than this are not replayed; none when absent.
  std::optional<absl::Duration> replay_age;
  // How long a call without subscribers stays open.
  absl::Duration linger = absl::Seconds(5);
  GapPolicy on_gap = GapPolicy::kSignal;
  // Replace the upstream's ids by "<epoch>-<n>".
  bool assign_ids = false;
  // Sent with each subscriber's first event (the route's retry hint).
  std::optional<int64_t> retry_ms;
};

// What the hub reports, for metrics. Called on any thread, under no lock
// of the caller's; must be quick.
class FanoutObserver {
 public:
  virtual ~FanoutObserver() = default;
  virtual void SharedCallOpened() {}
  // The call ended or was cancelled; the most subscribers it had at once.
  virtual void SharedCallClosed(int64_t /*peak_subscribers*/) {}
  // A subscriber resumed from the ring with `events` to replay.
  virtual void Replayed(int64_t /*events*/) {}
  virtual void Gap(GapPolicy /*handled_by*/) {}
  virtual void FellBehind() {}
  // A subscriber took an event with `events` newer ones already in the ring.
  virtual void Lag(int64_t /*events*/) {}
};

// One key's call, as Subscribe() needs it.
struct SharedCallSpec {
  std::string key;
  FanoutOptions options;
  FanoutObserver* observer = nullptr;  // not owned; may be null
  // Opens the shared upstream stream with the Last-Event-ID of the
  // subscriber that opens it.
  EventStreamFactory open_shared;
  // Opens a subscriber's own stream (GapPolicy::kDedicated).
  EventStreamFactory open_dedicated;
};

class FanoutHub {
 public:
  FanoutHub();
  // Requires: every subscription is gone. Cancels the calls left.
  ~FanoutHub();

  FanoutHub(const FanoutHub&) = delete;
  FanoutHub& operator=(const FanoutHub&) = delete;

  // A stream of `spec.key`'s shared call for a client that sent
  // `last_event_id` (see the file comment). Opens the call if the key has
  // none (an error of spec.open_shared is returned, and no call is kept), or
  // returns spec.open_dedicated's stream on a dedicated gap. spec.observer
  // must outlive the hub.
  absl::StatusOr<std::unique_ptr<EventStream>> Subscribe(
      const SharedCallSpec& spec,
      const std::optional<std::string>& last_event_id);

  // Shared calls open now (lingering ones included).
  int64_t shared_calls() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  class SharedCall;
  class Subscription;
  friend class SharedCall;
  friend class Subscription;

  // The driver: reads ready calls into their rings, closes lingering calls.
  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  // Queues `call` to be read (from its upstream's ready callback).
  void MarkReady(SharedCall* call) ABSL_LOCKS_EXCLUDED(mu_);
  // Asks the driver to watch `call`, which has no subscribers now.
  void StartLinger(const std::shared_ptr<SharedCall>& call)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Reads what `call`'s upstream has; true if it may have more now.
  bool Drain(const std::shared_ptr<SharedCall>& call) ABSL_LOCKS_EXCLUDED(mu_);
  // Closes the lingering calls whose time is up; the earliest time left.
  absl::Time CloseLingering(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

  mutable absl::Mutex mu_;
  // The call that new subscribers of a key join.
  absl::flat_hash_map<std::string, std::shared_ptr<SharedCall>> calls_
      ABSL_GUARDED_BY(mu_);
  // Every call whose upstream may still call MarkReady(): a call leaves it
  // only after its ready callback was cleared.
  absl::flat_hash_map<SharedCall*, std::shared_ptr<SharedCall>> live_
      ABSL_GUARDED_BY(mu_);
  // Calls to read (possibly gone from live_ since; then skipped).
  std::vector<SharedCall*> ready_ ABSL_GUARDED_BY(mu_);
  // Calls that lost their last subscriber.
  std::vector<std::shared_ptr<SharedCall>> lingering_ ABSL_GUARDED_BY(mu_);
  bool linger_changed_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<int64_t> subscriptions_{0};
  std::thread driver_;
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_CORE_FANOUT_HUB_H_
