#include "bench/firehose_backend_service.h"

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "bench/bench_stats.h"

namespace sse_gateway {

// One Stream call. Owns itself: created by FirehoseService::Stream, deleted
// in OnDone (only there). The mutex serializes the reactions (OnWriteDone,
// OnCancel) and the pacer's ticks; at most one write is in flight.
class FirehoseStreamReactor final
    : public grpc::ServerWriteReactor<bench::v1::Event>,
      private StreamPacer::Client {
 public:
  FirehoseStreamReactor(FirehoseService* service,
                        const bench::v1::StreamRequest& request)
      : service_(service),
        count_(request.count()),
        period_ns_(request.rate() == 0 ? 0 : 1'000'000'000 / request.rate()),
        next_seq_(request.after_seq() + 1) {
    service_->active_streams_.fetch_add(1, std::memory_order_relaxed);
    event_.set_payload(std::string(request.payload_bytes(), 'x'));
    absl::MutexLock lock(&mu_);
    next_due_ns_ = MonotonicNanos();
    SendLocked();
  }

  // A refused call: finishes with `status` at once.
  FirehoseStreamReactor(FirehoseService* service, const grpc::Status& status)
      : service_(service), count_(0), period_ns_(0), next_seq_(0) {
    service_->active_streams_.fetch_add(1, std::memory_order_relaxed);
    absl::MutexLock lock(&mu_);
    FinishLocked(status);
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    write_in_flight_ = false;
    if (!ok || cancelled_) {
      // The call is gone (client cancelled or the connection broke).
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "write failed"));
      return;
    }
    if (count_ != 0 && sent_ >= count_) {
      FinishLocked(grpc::Status::OK);
      return;
    }
    if (period_ns_ == 0) {
      SendLocked();
      return;
    }
    next_due_ns_ += period_ns_;
    if (next_due_ns_ <= MonotonicNanos()) {
      SendLocked();  // behind schedule: no need to wait
    } else {
      service_->pacer_.Schedule(this, next_due_ns_);
    }
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    // With a write in flight, OnWriteDone(false) finishes; otherwise the
    // stream waits for a tick that must not send, so finish now.
    if (!write_in_flight_) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
    }
  }

  void OnDone() override {
    // After Forget the pacer holds no reference and runs no tick of ours.
    service_->pacer_.Forget(this);
    service_->active_streams_.fetch_sub(1, std::memory_order_relaxed);
    delete this;
  }

 private:
  void OnPacerTick() override {
    absl::MutexLock lock(&mu_);
    if (finished_ || cancelled_) return;
    SendLocked();
  }

  void SendLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    event_.set_seq(next_seq_++);
    ++sent_;
    write_in_flight_ = true;
    event_.set_sent_unix_nanos(RealtimeNanos());
    StartWrite(&event_);
    service_->events_sent_.fetch_add(1, std::memory_order_relaxed);
  }

  void FinishLocked(const grpc::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    Finish(status);
  }

  FirehoseService* const service_;
  const uint64_t count_;     // 0: unbounded
  const int64_t period_ns_;  // 0: as fast as flow control allows
  absl::Mutex mu_;
  bench::v1::Event event_ ABSL_GUARDED_BY(mu_);  // the message being written
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_);
  uint64_t sent_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t next_due_ns_ ABSL_GUARDED_BY(mu_) = 0;  // CLOCK_MONOTONIC
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

grpc::ServerWriteReactor<bench::v1::Event>* FirehoseService::Stream(
    grpc::CallbackServerContext* /*context*/,
    const bench::v1::StreamRequest* request) {
  if (request->payload_bytes() > kMaxPayloadBytes) {
    return new FirehoseStreamReactor(
        this, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                           absl::StrCat("payload_bytes > ", kMaxPayloadBytes)));
  }
  return new FirehoseStreamReactor(this, *request);
}

}  // namespace sse_gateway
