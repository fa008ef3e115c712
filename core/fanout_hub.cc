#include "core/fanout_hub.h"

#include <algorithm>
#include <deque>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/check.h"
#include "core/json_string.h"
#include "core/sse_framer.h"

namespace sse_gateway {
namespace {

// Messages read from one upstream before the driver turns to other calls.
constexpr int kDrainBatch = 256;

struct RingEvent {
  std::optional<std::string> id;
  std::shared_ptr<const std::string> framed;
  absl::Time at;
};

// A subscriber's ready callback, shared between the subscription and the
// call that notifies it, so that the call can run it outside its own lock.
class Notifier {
 public:
  void Set(std::function<void()> on_ready) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    on_ready_ = std::move(on_ready);
  }
  void Notify() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (on_ready_) on_ready_();
  }

 private:
  absl::Mutex mu_;  // Held while on_ready_ runs.
  std::function<void()> on_ready_ ABSL_GUARDED_BY(mu_);
};

SseMessage GapMessage(absl::string_view requested,
                      const std::optional<std::string>& resumed_after) {
  std::string data = "{\"last_event_id\":";
  data += JsonQuote(requested);
  data += ",\"resumed_after\":";
  if (resumed_after.has_value()) {
    data += JsonQuote(*resumed_after);
  } else {
    data += "null";
  }
  data += "}";
  SseMessage gap;
  gap.event = std::string(kGapEventName);
  gap.data = std::move(data);
  return gap;
}

// 48 random bits: another call's (another replica's) epoch differs.
std::string NewEpoch() {
  std::random_device random;
  const uint64_t bits = (uint64_t{random()} << 32) | random();
  return absl::StrFormat("%012x", bits & 0xffffffffffffULL);
}

}  // namespace

// One key's upstream stream and its ring. The upstream is read only by the
// hub's driver thread; the ring and the subscriber set are guarded by `mu`.
class FanoutHub::SharedCall {
 public:
  SharedCall(std::string key_in, const FanoutOptions& options_in,
             FanoutObserver* observer_in,
             std::unique_ptr<EventStream> upstream_in)
      : key(std::move(key_in)),
        options(options_in),
        observer(observer_in),
        epoch(NewEpoch()),
        upstream(std::move(upstream_in)) {}

  const std::string key;
  const FanoutOptions options;
  FanoutObserver* const observer;
  const std::string epoch;
  const std::unique_ptr<EventStream> upstream;
  uint64_t ids_assigned = 0;        // Driver thread only.
  std::atomic<bool> queued{false};  // In the hub's ready_ list.

  absl::Mutex mu;
  std::deque<RingEvent> ring ABSL_GUARDED_BY(mu);
  uint64_t first_seq ABSL_GUARDED_BY(mu) = 0;  // The sequence of ring[0].
  std::optional<std::string> last_evicted_id ABSL_GUARDED_BY(mu);
  // The newest sequence of each id in the ring.
  absl::flat_hash_map<std::string, uint64_t> seq_by_id ABSL_GUARDED_BY(mu);
  std::optional<absl::Status> end ABSL_GUARDED_BY(mu);
  bool closed ABSL_GUARDED_BY(mu) = false;  // Cancelled after lingering.
  std::vector<std::shared_ptr<Notifier>> notifiers ABSL_GUARDED_BY(mu);
  int64_t subscribers ABSL_GUARDED_BY(mu) = 0;
  int64_t peak_subscribers ABSL_GUARDED_BY(mu) = 0;
  absl::Time linger_until ABSL_GUARDED_BY(mu) = absl::InfiniteFuture();

  uint64_t next_seq() const ABSL_SHARED_LOCKS_REQUIRED(mu) {
    return first_seq + ring.size();
  }
  size_t capacity() const {
    return std::max(options.replay_events, kMinRingEvents);
  }
  // The first sequence that may be replayed at `now`.
  uint64_t WindowStart(absl::Time now) const ABSL_SHARED_LOCKS_REQUIRED(mu) {
    uint64_t start =
        next_seq() - std::min<uint64_t>(ring.size(), options.replay_events);
    if (options.replay_age.has_value()) {
      while (start < next_seq() &&
             ring[start - first_seq].at < now - *options.replay_age) {
        ++start;
      }
    }
    return start;
  }
  // The id of the event before sequence `seq` (>= first_seq).
  std::optional<std::string> IdBefore(uint64_t seq) const
      ABSL_SHARED_LOCKS_REQUIRED(mu) {
    if (seq > first_seq) return ring[seq - 1 - first_seq].id;
    return last_evicted_id;
  }
  void Join(std::shared_ptr<Notifier> notifier)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    notifiers.push_back(std::move(notifier));
    ++subscribers;
    peak_subscribers = std::max(peak_subscribers, subscribers);
    linger_until = absl::InfiniteFuture();
  }
  // Removes a subscriber; true if the call must now linger.
  bool Leave(const Notifier* notifier) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto it = std::find_if(notifiers.begin(), notifiers.end(),
                           [notifier](const std::shared_ptr<Notifier>& n) {
                             return n.get() == notifier;
                           });
    SSE_GATEWAY_DCHECK(it != notifiers.end());
    if (it != notifiers.end()) {
      std::swap(*it, notifiers.back());
      notifiers.pop_back();
    }
    --subscribers;
    if (subscribers > 0 || end.has_value() || closed) return false;
    linger_until = absl::Now() + options.linger;
    return true;
  }
  // Appends `batch` to the ring and records `ended`; returns who to notify
  // and sets `*peak` to the most subscribers seen.
  std::vector<std::shared_ptr<Notifier>> Publish(
      std::vector<RingEvent>* batch, const std::optional<absl::Status>& ended,
      int64_t* peak) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    for (RingEvent& event : *batch) Append(std::move(event));
    if (ended.has_value() && !closed) end = *ended;
    *peak = peak_subscribers;
    return notifiers;
  }
  // Appends one framed event, evicting the oldest beyond capacity().
  void Append(RingEvent event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (event.id.has_value()) seq_by_id[*event.id] = next_seq();
    ring.push_back(std::move(event));
    while (ring.size() > capacity()) {
      RingEvent& oldest = ring.front();
      if (oldest.id.has_value()) {
        auto it = seq_by_id.find(*oldest.id);
        if (it != seq_by_id.end() && it->second == first_seq) {
          seq_by_id.erase(it);
        }
      }
      last_evicted_id = std::move(oldest.id);
      ring.pop_front();
      ++first_seq;
    }
  }
};

// One subscriber: a cursor into its call's ring.
class FanoutHub::Subscription : public EventStream {
 public:
  Subscription(FanoutHub* hub, std::shared_ptr<SharedCall> call,
               std::shared_ptr<Notifier> notifier, uint64_t cursor,
               std::optional<SseMessage> gap)
      : hub_(hub),
        call_(std::move(call)),
        notifier_(std::move(notifier)),
        gap_(std::move(gap)),
        cursor_(cursor) {
    hub_->subscriptions_.fetch_add(1);
  }

  ~Subscription() override {
    Cancel();
    hub_->subscriptions_.fetch_sub(1);
  }

  NextResult Next(absl::Duration timeout, SseMessage* message) override {
    if (done_) return NextResult::kEnd;
    if (gap_.has_value()) {
      *message = std::move(*gap_);
      gap_.reset();
      return NextResult::kMessage;
    }
    NextResult result = NextResult::kTimeout;
    int64_t lag = -1;
    bool fell_behind = false;
    bool linger = false;
    if (timeout > absl::ZeroDuration()) {
      absl::MutexLock lock(&call_->mu);
      call_->mu.AwaitWithTimeout(absl::Condition(this, &Subscription::HasNews),
                                 timeout);
    }
    {
      // Shared: the loops read one ring at once without waiting for each
      // other; only the hub's thread (appending) and leaving subscribers
      // take it exclusively.
      absl::ReaderMutexLock lock(&call_->mu);
      if (cancelled_.load(std::memory_order_relaxed)) {
        final_status_ = absl::CancelledError("the subscriber cancelled");
        result = NextResult::kEnd;
      } else if (cursor_ < call_->first_seq) {
        final_status_ = ReconnectStatus(
            absl::StrCat("the subscriber fell more than ", call_->capacity(),
                         " events behind the shared stream"));
        fell_behind = true;
        result = NextResult::kEnd;
      } else if (cursor_ < call_->next_seq()) {
        const RingEvent& event = call_->ring[cursor_ - call_->first_seq];
        message->id.reset();
        message->event.reset();
        message->data.reset();
        message->retry_ms.reset();
        if (first_event_) message->retry_ms = call_->options.retry_ms;
        message->framed = event.framed;
        ++cursor_;
        lag = static_cast<int64_t>(call_->next_seq() - cursor_);
        result = NextResult::kMessage;
      } else if (call_->end.has_value()) {
        final_status_ = *call_->end;
        result = NextResult::kEnd;
      }
    }
    if (result == NextResult::kEnd) {
      absl::MutexLock lock(&call_->mu);
      if (attached_) {
        attached_ = false;
        linger = call_->Leave(notifier_.get());
      }
    }
    if (result == NextResult::kEnd) done_ = true;
    if (result == NextResult::kMessage) first_event_ = false;
    if (linger) hub_->StartLinger(call_);
    if (call_->observer != nullptr) {
      if (fell_behind) call_->observer->FellBehind();
      if (lag >= 0) call_->observer->Lag(lag);
    }
    return result;
  }

  absl::Status FinalStatus() const override { return final_status_; }

  void Cancel() override {
    bool linger = false;
    {
      absl::MutexLock lock(&call_->mu);
      if (cancelled_.load(std::memory_order_relaxed)) return;
      cancelled_.store(true, std::memory_order_relaxed);
      if (attached_) {
        attached_ = false;
        linger = call_->Leave(notifier_.get());
      }
    }
    notifier_->Set(nullptr);
    if (linger) hub_->StartLinger(call_);
  }

  std::vector<std::pair<std::string, std::string>> ResponseMetadata()
      const override {
    return call_->upstream->ResponseMetadata();
  }

  bool SetReadyCallback(std::function<void()> on_ready) override {
    notifier_->Set(std::move(on_ready));
    return true;
  }

 private:
  bool HasNews() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(call_->mu) {
    return cancelled_.load(std::memory_order_relaxed) ||
           cursor_ < call_->next_seq() || call_->end.has_value();
  }

  FanoutHub* const hub_;
  const std::shared_ptr<SharedCall> call_;
  const std::shared_ptr<Notifier> notifier_;
  // Consumer thread only.
  std::optional<SseMessage> gap_;
  bool first_event_ = true;
  bool done_ = false;
  absl::Status final_status_;

  uint64_t cursor_;  // Consumer thread only.
  // Written under call_->mu held exclusively; read under it held shared.
  std::atomic<bool> cancelled_{false};
  bool attached_ ABSL_GUARDED_BY(call_->mu) = true;
};

FanoutHub::FanoutHub() : driver_([this] { Run(); }) {}

FanoutHub::~FanoutHub() {
  SSE_GATEWAY_DCHECK(subscriptions_.load() == 0);
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  driver_.join();
  absl::flat_hash_map<SharedCall*, std::shared_ptr<SharedCall>> live;
  {
    absl::MutexLock lock(&mu_);
    live.swap(live_);
    calls_.clear();
    ready_.clear();
    lingering_.clear();
  }
  for (auto& [unused, call] : live) {
    call->upstream->SetReadyCallback(nullptr);
    call->upstream->Cancel();
  }
}

int64_t FanoutHub::shared_calls() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(live_.size());
}

absl::StatusOr<std::unique_ptr<EventStream>> FanoutHub::Subscribe(
    const SharedCallSpec& spec,
    const std::optional<std::string>& last_event_id) {
  const absl::Time now = absl::Now();
  auto notifier = std::make_shared<Notifier>();
  std::shared_ptr<SharedCall> call;
  uint64_t cursor = 0;
  std::optional<SseMessage> gap;
  bool opened = false;
  bool dedicated = false;
  int64_t replayed = -1;
  {
    absl::MutexLock lock(&mu_);
    auto it = calls_.find(spec.key);
    if (it == calls_.end()) {
      absl::StatusOr<std::unique_ptr<EventStream>> upstream =
          spec.open_shared(last_event_id);
      if (!upstream.ok()) return upstream.status();
      call = std::make_shared<SharedCall>(spec.key, spec.options, spec.observer,
                                          std::move(*upstream));
      calls_.emplace(spec.key, call);
      live_.emplace(call.get(), call);
      opened = true;
      absl::MutexLock call_lock(&call->mu);
      // The call resumes after the opener's id: subscribers resuming from the
      // same id (browsers moved from a failed replica) start at its first
      // event too.
      if (last_event_id.has_value() && !last_event_id->empty()) {
        call->last_evicted_id = *last_event_id;
      }
      call->Join(notifier);
    } else {
      call = it->second;
      absl::MutexLock call_lock(&call->mu);
      const uint64_t window = call->WindowStart(now);
      if (!last_event_id.has_value() || last_event_id->empty()) {
        cursor = call->next_seq();
      } else {
        auto found = call->seq_by_id.find(*last_event_id);
        if (found != call->seq_by_id.end() && found->second + 1 >= window) {
          cursor = found->second + 1;
          replayed = static_cast<int64_t>(call->next_seq() - cursor);
        } else if (call->IdBefore(window) == *last_event_id) {
          cursor = window;
          replayed = static_cast<int64_t>(call->next_seq() - cursor);
        } else if (call->options.on_gap == GapPolicy::kDedicated) {
          dedicated = true;
        } else {
          cursor = window;
          gap = GapMessage(*last_event_id, call->IdBefore(window));
          replayed = static_cast<int64_t>(call->next_seq() - cursor);
        }
      }
      if (!dedicated) call->Join(notifier);
    }
  }
  if (spec.observer != nullptr) {
    if (opened) spec.observer->SharedCallOpened();
    if (dedicated) spec.observer->Gap(GapPolicy::kDedicated);
    if (gap.has_value()) spec.observer->Gap(GapPolicy::kSignal);
    if (replayed >= 0) spec.observer->Replayed(replayed);
  }
  if (dedicated) return spec.open_dedicated(last_event_id);
  if (opened) {
    SharedCall* raw = call.get();
    call->upstream->SetReadyCallback([this, raw] { MarkReady(raw); });
    MarkReady(raw);
  }
  return std::make_unique<Subscription>(
      this, std::move(call), std::move(notifier), cursor, std::move(gap));
}

void FanoutHub::MarkReady(SharedCall* call) {
  if (call->queued.exchange(true)) return;
  absl::MutexLock lock(&mu_);
  ready_.push_back(call);
}

void FanoutHub::StartLinger(const std::shared_ptr<SharedCall>& call) {
  absl::MutexLock lock(&mu_);
  lingering_.push_back(call);
  linger_changed_ = true;
}

bool FanoutHub::Drain(const std::shared_ptr<SharedCall>& call) {
  call->queued.store(false);
  std::vector<RingEvent> batch;
  batch.reserve(8);
  std::optional<absl::Status> ended;
  const absl::Time now = absl::Now();
  while (batch.size() < kDrainBatch && !ended.has_value()) {
    SseMessage message;
    switch (call->upstream->Next(absl::ZeroDuration(), &message)) {
      case EventStream::NextResult::kTimeout:
        break;
      case EventStream::NextResult::kEnd:
        ended = call->upstream->FinalStatus();
        continue;
      case EventStream::NextResult::kMessage: {
        message.retry_ms.reset();  // Each subscriber's first event has it.
        if (call->options.assign_ids) {
          message.id = absl::StrCat(call->epoch, "-", ++call->ids_assigned);
        }
        auto framed = std::make_shared<std::string>();
        const absl::Status status = AppendSseMessage(message, framed.get());
        if (!status.ok()) {
          call->upstream->Cancel();
          ended = absl::InternalError(
              absl::StrCat("cannot frame event: ", status.message()));
          continue;
        }
        batch.push_back(
            RingEvent{std::move(message.id), std::move(framed), now});
        continue;
      }
    }
    break;
  }
  if (batch.empty() && !ended.has_value()) return false;
  std::vector<std::shared_ptr<Notifier>> notifiers;
  int64_t peak = 0;
  if (ended.has_value()) {
    // An ended call leaves calls_ as it ends, so that no one joins it then.
    absl::MutexLock lock(&mu_);
    auto it = calls_.find(call->key);
    if (it != calls_.end() && it->second == call) calls_.erase(it);
    absl::MutexLock call_lock(&call->mu);
    notifiers = call->Publish(&batch, ended, &peak);
  } else {
    absl::MutexLock call_lock(&call->mu);
    notifiers = call->Publish(&batch, ended, &peak);
  }
  for (const std::shared_ptr<Notifier>& notifier : notifiers) {
    notifier->Notify();
  }
  if (ended.has_value()) {
    call->upstream->SetReadyCallback(nullptr);
    {
      absl::MutexLock lock(&mu_);
      live_.erase(call.get());
    }
    if (call->observer != nullptr) call->observer->SharedCallClosed(peak);
    return false;
  }
  return batch.size() == kDrainBatch;
}

absl::Time FanoutHub::CloseLingering(absl::Time now) {
  std::vector<std::shared_ptr<SharedCall>> to_close;
  std::vector<int64_t> peaks;
  absl::Time next = absl::InfiniteFuture();
  {
    absl::MutexLock lock(&mu_);
    linger_changed_ = false;
    std::vector<std::shared_ptr<SharedCall>> still;
    for (std::shared_ptr<SharedCall>& call : lingering_) {
      absl::MutexLock call_lock(&call->mu);
      if (call->end.has_value() || call->closed || call->subscribers > 0) {
        continue;
      }
      if (call->linger_until <= now) {
        call->closed = true;
        call->end = absl::CancelledError("the shared call lingered out");
        auto it = calls_.find(call->key);
        if (it != calls_.end() && it->second == call) calls_.erase(it);
        peaks.push_back(call->peak_subscribers);
        to_close.push_back(call);
        continue;
      }
      next = std::min(next, call->linger_until);
      still.push_back(call);
    }
    lingering_.swap(still);
  }
  for (size_t i = 0; i < to_close.size(); ++i) {
    SharedCall& call = *to_close[i];
    call.upstream->SetReadyCallback(nullptr);
    call.upstream->Cancel();
    {
      absl::MutexLock lock(&mu_);
      live_.erase(&call);
    }
    if (call.observer != nullptr) call.observer->SharedCallClosed(peaks[i]);
  }
  return next;
}

void FanoutHub::Run() {
  absl::Time next_linger = absl::InfiniteFuture();
  while (true) {
    std::vector<std::shared_ptr<SharedCall>> ready;
    {
      absl::MutexLock lock(&mu_);
      auto has_work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_ || !ready_.empty() || linger_changed_;
      };
      mu_.AwaitWithDeadline(absl::Condition(&has_work), next_linger);
      if (stop_) return;
      for (SharedCall* raw : ready_) {
        auto it = live_.find(raw);  // Gone: it ended or closed meanwhile.
        if (it != live_.end()) ready.push_back(it->second);
      }
      ready_.clear();
    }
    for (const std::shared_ptr<SharedCall>& call : ready) {
      if (Drain(call)) MarkReady(call.get());
    }
    next_linger = CloseLingering(absl::Now());
  }
}

}  // namespace sse_gateway
