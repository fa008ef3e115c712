// LoadgenWorker: one thread of the load generator. It owns an epoll
// instance and its share of the SseConnections and runs one of two loads:
//
//  - stream: opens `connections` streams at `ramp_per_s`, keeps them open
//    and reads their events until *stop is set, then closes them all.
//  - churn: keeps `concurrency` cycles in flight, each connect → first event
//    → close, claiming cycles from a counter shared by all workers until
//    `cycles` have been claimed and finished.
//
// With `http2` (stream mode only) the streams are HTTP/2 streams over h2c
// connections (Http2Connection), `streams_per_connection` to a connection:
// stream k of the worker goes on its connection k / streams_per_connection,
// which is opened when its first stream is due; the counters below then
// count streams (started, first events, failed, open), and the connect
// histogram TCP connections. A connection's failure fails its streams, and
// the ones due on it later (a failed connection is not replaced).
//
// Connections are made from `source_addresses` in turn when given (see
// SseConnection::Start). A connect that fails with EADDRNOTAVAIL (no ephemeral
// port free) is retried shortly after and counted in connect_retries. A
// connection with no first event within `first_event_timeout_ns` of its start
// is closed as a timeout.
//
// Thread safety: Run() executes on the worker's thread. progress() may be
// read from any thread at any time (relaxed atomics, each counter exact but
// not a consistent snapshot across counters); results() only after Run()
// returned.

#ifndef SSE_GATEWAY_BENCH_LOADGEN_WORKER_H_
#define SSE_GATEWAY_BENCH_LOADGEN_WORKER_H_

#include <netinet/in.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "bench/bench_stats.h"
#include "bench/event_stream_parser.h"
#include "bench/http2_connection.h"
#include "bench/http2_request.h"
#include "bench/sse_connection.h"
#include "bench/subscription_stats.h"

namespace sse_gateway {

struct LoadgenWorkerOptions {
  sockaddr_in address{};
  std::string request;  // The complete HTTP request bytes.
  // HTTP/2 (h2c with prior knowledge, stream mode only): `request`'s head is
  // sent as each stream's header fields (Http2HeadersFromRequest, scheme
  // http), `streams_per_connection` streams to a connection.
  bool http2 = false;
  int64_t streams_per_connection = 1;
  // Local addresses to connect from, in turn; empty: the kernel's choice.
  std::vector<in_addr> source_addresses;
  EventFormat format = EventFormat::kSse;
  bool churn = false;
  // stream mode: this worker's share.
  int64_t connections = 0;
  double ramp_per_s = 2000;
  // churn mode: this worker's in-flight cycles and the shared claim counter
  // (owned by the caller) of `cycles` in total.
  int64_t concurrency = 0;
  std::atomic<int64_t>* cycles_claimed = nullptr;
  int64_t cycles = 0;
  int64_t first_event_timeout_ns = 60'000'000'000;
  // A multiplexed stream's subscriptions (see subscription_stats.h); not
  // enabled: events are not attributed to subscriptions.
  SubscriptionConfig subscriptions;
  // Owned by the caller. `measuring`: record event latencies now. `stop`:
  // close everything and return.
  const std::atomic<bool>* measuring = nullptr;
  const std::atomic<bool>* stop = nullptr;
};

// Counters published while running (cumulative).
struct LoadgenProgress {
  std::atomic<int64_t> started{0};       // Connections (cycles) started.
  std::atomic<int64_t> first_events{0};  // Connections with a first event.
  // Connections that failed before their first event.
  std::atomic<int64_t> failed_before_first_event{0};
  std::atomic<int64_t> failed{0};       // All failed connections.
  std::atomic<int64_t> cycles_done{0};  // Churn cycles that succeeded.
  std::atomic<int64_t> open{0};  // Streams open right now (HTTP/1: sockets).
  std::atomic<int64_t> events{0};
  std::atomic<int64_t> body_bytes{0};
  std::atomic<int64_t> connect_retries{0};
};

// Final results of a worker.
struct LoadgenResults {
  LatencyHistogram latency;  // Events while measuring (us).
  LatencyHistogram ttfe;     // Start of connect → first event (us).
  LatencyHistogram connect;  // Start of connect → TCP established (us).
  std::array<int64_t, static_cast<size_t>(SseConnection::Failure::kCount)>
      failures{};
  std::map<int, int64_t> bad_status_codes;  // Status → connections.
  int64_t syn_retransmits = 0;
  int64_t comments = 0;
  int64_t goaways = 0;                // HTTP/2 GOAWAY frames received.
  SubscriptionResults subscriptions;  // When options.subscriptions is enabled.
};

class LoadgenWorker final : private Http2StreamObserver {
 public:
  explicit LoadgenWorker(LoadgenWorkerOptions options);
  ~LoadgenWorker() override;

  LoadgenWorker(const LoadgenWorker&) = delete;
  LoadgenWorker& operator=(const LoadgenWorker&) = delete;

  // Runs the load (see the file comment). An error only if epoll itself
  // cannot be used, or (http2) the request cannot be sent as HTTP/2 or
  // churn is asked for; connection problems are counted, not returned.
  absl::Status Run();

  const LoadgenProgress& progress() const { return progress_; }
  const LoadgenResults& results() const { return results_; }

 private:
  // Starts `connection` (first attempt at `start_ns`); on EADDRNOTAVAIL
  // queues it for a retry.
  void StartConnection(SseConnection* connection, int64_t start_ns,
                       int64_t now_ns);
  // Opens what the ramp (stream) or the concurrency (churn) allows now.
  void OpenDueConnections(int64_t now_ns);
  // http2: starts the streams due (`due` in all), opening their
  // connections.
  void OpenDueHttp2Streams(int64_t now_ns, int64_t due);
  void StartHttp2Connection(Http2Connection* connection, int64_t start_ns,
                            int64_t now_ns);
  void RetryDueConnections(int64_t now_ns);
  // Records the consequences of HandleIo on `connection`.
  void AfterIo(SseConnection* connection, bool was_connected,
               bool had_first_event);
  void OnClosed(SseConnection* connection);
  // Counts one connection (HTTP/1) or stream (http2) that ended.
  void CountClosed(SseConnection::Failure failure, bool got_first_event,
                   int status_code);
  void CloseTimedOut(int64_t now_ns);
  // A connection object for a new stream or cycle (reused in churn mode).
  SseConnection* NewConnection();
  // The epoll_wait timeout until something is due, in milliseconds.
  int NextTimeoutMs(int64_t now_ns) const;
  void Publish();
  bool ChurnFinished() const;

  // Http2StreamObserver:
  void OnHttp2Connected(const Http2Connection& connection) override;
  void OnHttp2FirstEvent(const Http2Stream& stream) override;
  void OnHttp2StreamClosed(const Http2Stream& stream) override;

  const LoadgenWorkerOptions options_;
  LoadgenProgress progress_;
  LoadgenResults results_;
  ConnectionContext context_;
  std::vector<char> read_buffer_;
  int epoll_fd_ = -1;
  std::vector<std::unique_ptr<SseConnection>> connections_;
  std::vector<SseConnection*> idle_connections_;  // Churn: ready for reuse.
  // Connections waiting to retry connect, with the time to retry at.
  std::vector<std::pair<int64_t, SseConnection*>> retry_queue_;
  // http2: the request's header fields, the connections in stream order,
  // and those waiting to retry connect.
  std::vector<Http2Header> http2_headers_;
  std::vector<std::unique_ptr<Http2Connection>> http2_connections_;
  std::vector<std::pair<int64_t, Http2Connection*>> http2_retry_queue_;
  size_t next_source_ = 0;  // Index into options_.source_addresses.
  int64_t ramp_start_ns_ = 0;
  int64_t started_ = 0;
  int64_t open_ = 0;
  int64_t in_flight_ = 0;  // Churn: cycles started and not finished.
  bool no_more_cycles_ = false;
  int64_t first_events_ = 0;
  int64_t failed_ = 0;
  int64_t failed_before_first_event_ = 0;
  int64_t cycles_done_ = 0;
  int64_t connect_retries_ = 0;
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_BENCH_LOADGEN_WORKER_H_
