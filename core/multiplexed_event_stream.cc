#include "core/multiplexed_event_stream.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/check.h"
#include "core/json_string.h"
#include "core/sse_framer.h"

namespace sse_gateway {
namespace {

// The gap signal of a fan-out subscription (FanoutHub's kGapEventName; not
// included here to keep the multiplexer independent of the hub).
constexpr absl::string_view kGapEvent = "gap";

// Without ready callbacks, a waiting Next() looks again this often.
constexpr absl::Duration kPollInterval = absl::Milliseconds(5);

std::vector<std::string> NamesOf(
    const std::vector<MultiplexedSubscription>& subscriptions) {
  std::vector<std::string> names;
  names.reserve(subscriptions.size());
  for (const MultiplexedSubscription& s : subscriptions)
    names.push_back(s.name);
  return names;
}

}  // namespace

MultiplexedEventStream::MultiplexedEventStream(
    std::vector<MultiplexedSubscription> subscriptions, absl::Time start_by)
    : fingerprint_(CompoundIdFingerprint(NamesOf(subscriptions))),
      start_by_(start_by) {
  SSE_GATEWAY_DCHECK(!subscriptions.empty());
  slots_.reserve(subscriptions.size());
  for (MultiplexedSubscription& subscription : subscriptions) {
    const bool ended =
        subscription.position.state == CompoundEntry::State::kEnded;
    SSE_GATEWAY_DCHECK(ended == (subscription.stream == nullptr));
    Slot slot;
    slot.live = !ended;
    slot.reported = ended;  // Nothing to report for one not reopened.
    slot.ready = std::make_unique<std::atomic<bool>>(true);
    slot.subscription = std::move(subscription);
    slots_.push_back(std::move(slot));
  }
  for (Slot& slot : slots_) {
    if (!slot.live) continue;
    std::atomic<bool>* ready = slot.ready.get();
    if (!slot.subscription.stream->SetReadyCallback([this, ready] {
          ready->store(true);
          OnChildReady();
        })) {
      all_notify_ = false;
    }
  }
}

MultiplexedEventStream::~MultiplexedEventStream() {
  // No child callback may run into a half-destroyed stream.
  for (Slot& slot : slots_) {
    if (slot.subscription.stream != nullptr) {
      slot.subscription.stream->SetReadyCallback({});
    }
  }
  for (Slot& slot : slots_) {
    if (slot.live) slot.subscription.stream->Cancel();
    if (!slot.reported) {
      Report(slot, absl::CancelledError("the multiplexed stream ended"),
             /*ended_by_itself=*/false);
    }
  }
}

void MultiplexedEventStream::OnChildReady() {
  absl::MutexLock lock(&mu_);
  signalled_ = true;
  signalled_cv_.SignalAll();
  if (on_ready_) on_ready_();
}

bool MultiplexedEventStream::SetReadyCallback(std::function<void()> on_ready) {
  absl::MutexLock lock(&mu_);
  on_ready_ = std::move(on_ready);
  return all_notify_;
}

void MultiplexedEventStream::Cancel() {
  if (cancelled_.exchange(true)) return;
  // The streams are not destroyed before this object is: safe from any
  // thread (EventStream::Cancel is).
  for (Slot& slot : slots_) {
    if (slot.subscription.stream != nullptr) {
      slot.subscription.stream->Cancel();
    }
  }
  OnChildReady();
}

absl::Time MultiplexedEventStream::Deadline() const {
  if (ended_) return absl::InfiniteFuture();
  absl::Time deadline = started_ ? absl::InfiniteFuture() : start_by_;
  for (const Slot& slot : slots_) {
    if (slot.live) {
      deadline = std::min(deadline, slot.subscription.stream->Deadline());
    }
  }
  return deadline;
}

EventStream::NextResult MultiplexedEventStream::Next(absl::Duration timeout,
                                                     SseMessage* message) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      signalled_ = false;
    }
    const NextResult result = TryNext(message);
    if (result != NextResult::kTimeout) return result;
    const absl::Time now = absl::Now();
    if (now >= deadline) return NextResult::kTimeout;
    absl::Time wake = deadline;
    if (!all_notify_) wake = std::min(wake, now + kPollInterval);
    if (!started_) wake = std::min(wake, start_by_);
    absl::MutexLock lock(&mu_);
    while (!signalled_ && absl::Now() < wake) {
      signalled_cv_.WaitWithDeadline(&mu_, wake);
    }
  }
}

EventStream::NextResult MultiplexedEventStream::TryNext(SseMessage* message) {
  if (ended_) return NextResult::kEnd;
  if (cancelled_.load()) {
    EndAll(absl::CancelledError("the multiplexed stream was cancelled"));
    return NextResult::kEnd;
  }
  if (!started_ && !TryStart()) {
    return ended_ ? NextResult::kEnd : NextResult::kTimeout;
  }
  if (outbox_next_ < outbox_.size()) {
    *message = std::move(outbox_[outbox_next_++]);
    if (outbox_next_ == outbox_.size()) {
      outbox_.clear();
      outbox_next_ = 0;
    }
    return NextResult::kMessage;
  }
  bool any_live = false;
  const size_t n = slots_.size();
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (cursor_ + k) % n;
    if (!slots_[i].live) continue;
    any_live = true;
    SseMessage raw;
    switch (Poll(i, &raw)) {
      case NextResult::kTimeout:
        continue;
      case NextResult::kMessage:
        cursor_ = (i + 1) % n;
        Deliver(i, std::move(raw), message);
        return NextResult::kMessage;
      case NextResult::kEnd: {
        cursor_ = (i + 1) % n;
        const absl::Status status =
            slots_[i].subscription.stream->FinalStatus();
        if (IsReconnectStatus(status)) {
          EndAll(status);
          return NextResult::kEnd;
        }
        EndSlot(i, status, message);
        return NextResult::kMessage;
      }
    }
  }
  if (!any_live) {
    ended_ = true;
    final_status_ = absl::OkStatus();
    return NextResult::kEnd;
  }
  return NextResult::kTimeout;
}

bool MultiplexedEventStream::TryStart() {
  bool waiting = false;
  for (size_t i = 0; i < slots_.size(); ++i) {
    Slot& slot = slots_[i];
    if (!slot.live || slot.held_first.has_value() || slot.held_end.has_value())
      continue;
    SseMessage raw;
    switch (Poll(i, &raw)) {
      case NextResult::kTimeout:
        waiting = true;
        break;
      case NextResult::kMessage:
        slot.held_first = std::move(raw);
        break;
      case NextResult::kEnd: {
        const absl::Status status = slot.subscription.stream->FinalStatus();
        if (status.ok()) {
          slot.held_end = status;
          break;
        }
        // Failed before its first message: so does the whole request.
        slot.live = false;
        Report(slot, status, /*ended_by_itself=*/true);
        EndAll(IsReconnectStatus(status)
                   ? status
                   : absl::Status(
                         status.code(),
                         absl::StrCat("subscription ", slot.subscription.name,
                                      ": ", status.message())));
        return false;
      }
    }
  }
  if (waiting && absl::Now() < start_by_) return false;
  started_ = true;
  // What arrived while starting goes out in subscription order.
  for (size_t i = 0; i < slots_.size(); ++i) {
    Slot& slot = slots_[i];
    if (slot.held_first.has_value()) {
      SseMessage out;
      SseMessage raw = *std::move(slot.held_first);
      slot.held_first.reset();
      Deliver(i, std::move(raw), &out);
      outbox_.push_back(std::move(out));
    } else if (slot.held_end.has_value()) {
      SseMessage out;
      const absl::Status status = *slot.held_end;
      slot.held_end.reset();
      EndSlot(i, status, &out);
      outbox_.push_back(std::move(out));
    }
  }
  return true;
}

EventStream::NextResult MultiplexedEventStream::Poll(size_t i,
                                                     SseMessage* raw) {
  Slot& slot = slots_[i];
  if (all_notify_ && !slot.ready->exchange(false)) return NextResult::kTimeout;
  const NextResult result =
      slot.subscription.stream->Next(absl::ZeroDuration(), raw);
  // It may hold more; a later callback would also say so.
  if (result != NextResult::kTimeout) slot.ready->store(true);
  return result;
}

void MultiplexedEventStream::Deliver(size_t i, SseMessage raw,
                                     SseMessage* out) {
  Slot& slot = slots_[i];
  if (raw.framed != nullptr) {  // Framed once for many (fan-out): read back.
    absl::StatusOr<SseMessage> parsed = ParseSseFrame(*raw.framed);
    if (!parsed.ok()) {
      slot.subscription.stream->Cancel();
      EndSlot(i,
              absl::InternalError(absl::StrCat("cannot read a shared event: ",
                                               parsed.status().message())),
              out);
      return;
    }
    const std::optional<int64_t> retry_ms = raw.retry_ms;
    raw = *std::move(parsed);
    if (retry_ms.has_value()) raw.retry_ms = retry_ms;
  }
  if (raw.id.has_value()) {
    if (raw.id->size() > kMaxCompoundEntryIdBytes) {
      slot.subscription.stream->Cancel();
      EndSlot(i,
              absl::OutOfRangeError(absl::StrCat(
                  "an event id of ", raw.id->size(),
                  " bytes cannot be resumed in a multiplexed stream (at most ",
                  kMaxCompoundEntryIdBytes, ")")),
              out);
      return;
    }
    slot.subscription.position = CompoundEntry::At(*std::move(raw.id));
  }
  ++slot.messages;
  *out = SseMessage();
  out->id = CompoundId();
  out->event = raw.event == kGapEvent ? absl::StrCat(slot.subscription.name,
                                                     kSubscriptionGapSuffix)
                                      : slot.subscription.name;
  out->data = std::move(raw.data);
  if (raw.retry_ms.has_value() &&
      (!retry_sent_.has_value() || *raw.retry_ms < *retry_sent_)) {
    out->retry_ms = raw.retry_ms;
    retry_sent_ = raw.retry_ms;
  }
}

void MultiplexedEventStream::EndSlot(size_t i, const absl::Status& status,
                                     SseMessage* out) {
  Slot& slot = slots_[i];
  slot.live = false;
  slot.subscription.position = CompoundEntry::Ended();
  Report(slot, status, /*ended_by_itself=*/true);
  *out = SseMessage();
  out->id = CompoundId();
  out->event = absl::StrCat(slot.subscription.name, kSubscriptionEndSuffix);
  out->data = StatusJson(status);
}

void MultiplexedEventStream::EndAll(const absl::Status& status) {
  ended_ = true;
  final_status_ = status;
  for (Slot& slot : slots_) {
    if (!slot.live) continue;
    slot.live = false;
    slot.subscription.stream->Cancel();
    // Reported when the stream is destroyed: by then its consumer has said
    // how the response ended.
  }
}

void MultiplexedEventStream::Report(Slot& slot, const absl::Status& status,
                                    bool ended_by_itself) {
  if (slot.reported) return;
  slot.reported = true;
  if (slot.subscription.on_end) {
    slot.subscription.on_end(status, slot.messages, ended_by_itself);
  }
}

std::string MultiplexedEventStream::CompoundId() const {
  std::vector<CompoundEntry> entries;
  entries.reserve(slots_.size());
  for (const Slot& slot : slots_) entries.push_back(slot.subscription.position);
  return EncodeCompoundEventId(fingerprint_, entries);
}

}  // namespace sse_gateway
