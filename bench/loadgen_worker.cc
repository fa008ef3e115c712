#include "bench/loadgen_worker.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace sse_gateway {
namespace {

constexpr size_t kReadBufferBytes = 256 << 10;
constexpr int kMaxEpollEvents = 1024;
constexpr int64_t kRetryDelayNs = 20'000'000;          // EADDRNOTAVAIL
constexpr int64_t kTimeoutScanPeriodNs = 250'000'000;  // First-event timeouts
constexpr int kIdleTimeoutMs = 20;  // Bound on noticing *stop.

}  // namespace

LoadgenWorker::LoadgenWorker(LoadgenWorkerOptions options)
    : options_(std::move(options)), read_buffer_(kReadBufferBytes) {
  context_.format = options_.format;
  context_.close_after_first_event = options_.churn;
  context_.measuring = options_.measuring;
  context_.latency = &results_.latency;
  context_.read_buffer = read_buffer_.data();
  context_.read_buffer_size = read_buffer_.size();
  if (options_.subscriptions.enabled()) {
    results_.subscriptions = SubscriptionResults(options_.subscriptions);
    context_.subscriptions = &options_.subscriptions;
    context_.subscription_results = &results_.subscriptions;
  }
}

LoadgenWorker::~LoadgenWorker() {
  connections_.clear();  // Closes any sockets first.
  http2_connections_.clear();
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

SseConnection* LoadgenWorker::NewConnection() {
  if (!idle_connections_.empty()) {
    SseConnection* connection = idle_connections_.back();
    idle_connections_.pop_back();
    connection->Reset();
    return connection;
  }
  connections_.push_back(
      std::make_unique<SseConnection>(&context_, &options_.request));
  return connections_.back().get();
}

void LoadgenWorker::StartConnection(SseConnection* connection, int64_t start_ns,
                                    int64_t now_ns) {
  const in_addr* source = nullptr;
  if (!options_.source_addresses.empty()) {
    source = &options_.source_addresses[next_source_];
    next_source_ = (next_source_ + 1) % options_.source_addresses.size();
  }
  switch (connection->Start(epoll_fd_, options_.address, source, start_ns)) {
    case SseConnection::StartResult::kStarted:
      ++open_;
      return;
    case SseConnection::StartResult::kRetryLater:
      ++connect_retries_;
      retry_queue_.emplace_back(now_ns + kRetryDelayNs, connection);
      return;
    case SseConnection::StartResult::kFailed:
      ++open_;  // OnClosed balances it.
      OnClosed(connection);
      return;
  }
}

void LoadgenWorker::OpenDueConnections(int64_t now_ns) {
  if (options_.churn) {
    while (!no_more_cycles_ && in_flight_ < options_.concurrency) {
      if (options_.cycles_claimed->fetch_add(1) >= options_.cycles) {
        no_more_cycles_ = true;
        break;
      }
      ++in_flight_;
      ++started_;
      StartConnection(NewConnection(), now_ns, now_ns);
    }
    return;
  }
  const double elapsed_s = static_cast<double>(now_ns - ramp_start_ns_) / 1e9;
  const int64_t due = std::min<int64_t>(
      options_.connections,
      static_cast<int64_t>(std::floor(elapsed_s * options_.ramp_per_s)) + 1);
  if (options_.http2) {
    OpenDueHttp2Streams(now_ns, due);
    return;
  }
  while (started_ < due) {
    ++started_;
    StartConnection(NewConnection(), now_ns, now_ns);
  }
}

void LoadgenWorker::OpenDueHttp2Streams(int64_t now_ns, int64_t due) {
  while (started_ < due) {
    const size_t index =
        static_cast<size_t>(started_ / options_.streams_per_connection);
    ++started_;
    if (index == http2_connections_.size()) {
      http2_connections_.push_back(std::make_unique<Http2Connection>(
          &context_, &http2_headers_, static_cast<Http2StreamObserver*>(this)));
      StartHttp2Connection(http2_connections_.back().get(), now_ns, now_ns);
    }
    ++open_;  // OnHttp2StreamClosed balances it, even from AddStream.
    http2_connections_[index]->AddStream(now_ns);
  }
}

void LoadgenWorker::StartHttp2Connection(Http2Connection* connection,
                                         int64_t start_ns, int64_t now_ns) {
  const in_addr* source = nullptr;
  if (!options_.source_addresses.empty()) {
    source = &options_.source_addresses[next_source_];
    next_source_ = (next_source_ + 1) % options_.source_addresses.size();
  }
  // On kFailed its streams fail as they are added.
  if (connection->Start(epoll_fd_, options_.address, source, start_ns) ==
      SseConnection::StartResult::kRetryLater) {
    ++connect_retries_;
    http2_retry_queue_.emplace_back(now_ns + kRetryDelayNs, connection);
  }
}

void LoadgenWorker::RetryDueConnections(int64_t now_ns) {
  if (!http2_retry_queue_.empty()) {
    std::vector<std::pair<int64_t, Http2Connection*>> queue;
    queue.swap(http2_retry_queue_);
    for (const auto& [retry_ns, connection] : queue) {
      if (retry_ns > now_ns) {
        http2_retry_queue_.emplace_back(retry_ns, connection);
      } else {
        StartHttp2Connection(connection, connection->start_ns(), now_ns);
      }
    }
  }
  if (retry_queue_.empty()) return;
  std::vector<std::pair<int64_t, SseConnection*>> due;
  auto not_due = std::stable_partition(
      retry_queue_.begin(), retry_queue_.end(),
      [now_ns](const auto& entry) { return entry.first > now_ns; });
  due.assign(not_due, retry_queue_.end());
  retry_queue_.erase(not_due, retry_queue_.end());
  for (const auto& [unused_time, connection] : due) {
    StartConnection(connection, connection->start_ns(), now_ns);
  }
}

void LoadgenWorker::AfterIo(SseConnection* connection, bool was_connected,
                            bool had_first_event) {
  if (!was_connected && connection->connected()) {
    results_.connect.Record(
        (connection->connected_ns() - connection->start_ns()) / 1000);
  }
  if (!had_first_event && connection->got_first_event()) {
    ++first_events_;
    results_.ttfe.Record(
        (connection->first_event_ns() - connection->start_ns()) / 1000);
  }
  if (connection->closed()) OnClosed(connection);
}

void LoadgenWorker::CountClosed(SseConnection::Failure failure,
                                bool got_first_event, int status_code) {
  --open_;
  if (failure == SseConnection::Failure::kNone) {
    ++cycles_done_;
  } else {
    ++failed_;
    if (!got_first_event) ++failed_before_first_event_;
    ++results_.failures[static_cast<size_t>(failure)];
    if (failure == SseConnection::Failure::kBadStatus) {
      ++results_.bad_status_codes[status_code];
    }
  }
}

void LoadgenWorker::OnHttp2Connected(const Http2Connection& connection) {
  results_.connect.Record((connection.connected_ns() - connection.start_ns()) /
                          1000);
}

void LoadgenWorker::OnHttp2FirstEvent(const Http2Stream& stream) {
  ++first_events_;
  results_.ttfe.Record((stream.first_event_ns() - stream.start_ns()) / 1000);
}

void LoadgenWorker::OnHttp2StreamClosed(const Http2Stream& stream) {
  CountClosed(stream.failure(), stream.got_first_event(), stream.status_code());
}

void LoadgenWorker::OnClosed(SseConnection* connection) {
  CountClosed(connection->failure(), connection->got_first_event(),
              connection->status_code());
  if (options_.churn) {
    --in_flight_;
    idle_connections_.push_back(connection);
  }
}

void LoadgenWorker::CloseTimedOut(int64_t now_ns) {
  for (const auto& connection : http2_connections_) {
    connection->CloseStreamsWithoutFirstEvent(
        now_ns - options_.first_event_timeout_ns + 1);
  }
  for (const auto& connection : connections_) {
    if (connection->closed() || connection->got_first_event() ||
        connection->start_ns() == 0) {
      continue;
    }
    if (now_ns - connection->start_ns() < options_.first_event_timeout_ns) {
      continue;
    }
    const bool waiting_to_retry = std::any_of(
        retry_queue_.begin(), retry_queue_.end(),
        [&](const auto& entry) { return entry.second == connection.get(); });
    if (waiting_to_retry) {
      retry_queue_.erase(
          std::remove_if(retry_queue_.begin(), retry_queue_.end(),
                         [&](const auto& entry) {
                           return entry.second == connection.get();
                         }),
          retry_queue_.end());
      ++open_;  // It was not open; OnClosed balances it.
    }
    connection->Close(SseConnection::Failure::kTimeout);
    OnClosed(connection.get());
  }
}

int LoadgenWorker::NextTimeoutMs(int64_t now_ns) const {
  int64_t next_ns = now_ns + int64_t{kIdleTimeoutMs} * 1'000'000;
  if (!options_.churn && started_ < options_.connections) {
    const int64_t next_due_ns =
        ramp_start_ns_ +
        static_cast<int64_t>(std::ceil(static_cast<double>(started_) * 1e9 /
                                       options_.ramp_per_s));
    next_ns = std::min(next_ns, next_due_ns);
  }
  for (const auto& entry : retry_queue_)
    next_ns = std::min(next_ns, entry.first);
  for (const auto& entry : http2_retry_queue_)
    next_ns = std::min(next_ns, entry.first);
  const int64_t wait_ns = next_ns - now_ns;
  if (wait_ns <= 0) return 0;
  return static_cast<int>((wait_ns + 999'999) / 1'000'000);
}

void LoadgenWorker::Publish() {
  constexpr auto kRelaxed = std::memory_order_relaxed;
  progress_.started.store(started_, kRelaxed);
  progress_.first_events.store(first_events_, kRelaxed);
  progress_.failed_before_first_event.store(failed_before_first_event_,
                                            kRelaxed);
  progress_.failed.store(failed_, kRelaxed);
  progress_.cycles_done.store(cycles_done_, kRelaxed);
  progress_.open.store(open_, kRelaxed);
  progress_.events.store(context_.events, kRelaxed);
  progress_.body_bytes.store(context_.body_bytes, kRelaxed);
  progress_.connect_retries.store(connect_retries_, kRelaxed);
}

bool LoadgenWorker::ChurnFinished() const {
  return options_.churn && no_more_cycles_ && in_flight_ == 0;
}

absl::Status LoadgenWorker::Run() {
  if (options_.http2) {
    if (options_.churn || options_.streams_per_connection < 1) {
      return absl::InvalidArgumentError(
          "http2: stream mode only, and streams_per_connection >= 1");
    }
    absl::StatusOr<std::vector<Http2Header>> headers =
        Http2HeadersFromRequest(options_.request, "http");
    if (!headers.ok()) return headers.status();
    http2_headers_ = *std::move(headers);
  }
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) {
    return absl::InternalError(
        absl::StrCat("epoll_create1: ", std::strerror(errno)));
  }
  if (!options_.churn) connections_.reserve(options_.connections);
  std::vector<epoll_event> events(kMaxEpollEvents);
  ramp_start_ns_ = MonotonicNanos();
  int64_t next_timeout_scan_ns = ramp_start_ns_ + kTimeoutScanPeriodNs;
  absl::Status status;
  while (!options_.stop->load(std::memory_order_relaxed) && !ChurnFinished()) {
    int64_t now_ns = MonotonicNanos();
    RetryDueConnections(now_ns);
    OpenDueConnections(now_ns);
    const int ready = ::epoll_wait(epoll_fd_, events.data(), kMaxEpollEvents,
                                   NextTimeoutMs(now_ns));
    if (ready < 0 && errno != EINTR) {
      status = absl::InternalError(
          absl::StrCat("epoll_wait: ", std::strerror(errno)));
      break;
    }
    for (int i = 0; i < ready; ++i) {
      if (options_.http2) {
        static_cast<Http2Connection*>(events[i].data.ptr)
            ->HandleIo(events[i].events);
        continue;
      }
      auto* connection = static_cast<SseConnection*>(events[i].data.ptr);
      const bool was_connected = connection->connected();
      const bool had_first_event = connection->got_first_event();
      connection->HandleIo(events[i].events);
      AfterIo(connection, was_connected, had_first_event);
    }
    now_ns = MonotonicNanos();
    if (now_ns >= next_timeout_scan_ns) {
      CloseTimedOut(now_ns);
      next_timeout_scan_ns = now_ns + kTimeoutScanPeriodNs;
    }
    Publish();
  }
  // Stop: close whatever is still open (not counted as failures).
  for (const auto& connection : connections_) {
    if (connection->open()) {
      connection->Close(SseConnection::Failure::kNone);
      --open_;
    }
  }
  for (const auto& connection : http2_connections_) {
    open_ -= connection->Abandon();
  }
  results_.syn_retransmits = context_.syn_retransmits;
  results_.comments = context_.comments;
  results_.goaways = context_.goaways;
  Publish();
  return status;
}

}  // namespace sse_gateway
