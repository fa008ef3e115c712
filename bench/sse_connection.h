// SseConnection: one client connection of the load generator, a state
// machine driven by epoll readiness: non-blocking TCP connect → write the GET
// request → parse the HTTP response (HttpResponseParser) and its event body
// (EventStreamParser) → closed, either cleanly (churn: after its first event)
// or with a Failure.
//
// The connection counts events and body bytes, and records event latencies,
// into the ConnectionContext of its worker thread. It never allocates per
// event. Not thread-safe: a connection and its context belong to one worker
// thread; the context, the request text and the epoll instance must outlive
// it.

#ifndef SSE_GATEWAY_BENCH_SSE_CONNECTION_H_
#define SSE_GATEWAY_BENCH_SSE_CONNECTION_H_

#include <netinet/in.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "bench/bench_stats.h"
#include "bench/event_stream_parser.h"
#include "bench/http_response_parser.h"
#include "bench/subscription_stats.h"

namespace sse_gateway {

// Per-thread state shared by the connections of one worker. Owned by the
// worker; the plain counters are only touched by the worker thread.
struct ConnectionContext {
  EventFormat format = EventFormat::kSse;
  // Churn mode: close the connection (successfully) after its first event.
  bool close_after_first_event = false;
  // Whether the measurement window is open: only then are latencies
  // recorded. Set by the coordinating thread.
  const std::atomic<bool>* measuring = nullptr;
  LatencyHistogram* latency = nullptr;  // now - sentUnixNanos, microseconds
  char* read_buffer = nullptr;          // Scratch space for recv().
  size_t read_buffer_size = 0;
  // Cumulative counters.
  int64_t events = 0;           // Dispatched events other than "end".
  int64_t body_bytes = 0;       // Decoded HTTP body bytes.
  int64_t syn_retransmits = 0;  // TCP retransmissions seen while connecting.
  int64_t comments = 0;         // SSE comment lines (heartbeats).
  int64_t goaways = 0;          // HTTP/2 GOAWAY frames received.
  // CLOCK_REALTIME of the last recv(); the arrival time of what it read.
  int64_t recv_realtime_ns = 0;
  // A multiplexed stream's subscriptions (not enabled: none) and where their
  // events are recorded (SubscriptionTracker).
  const SubscriptionConfig* subscriptions = nullptr;
  SubscriptionResults* subscription_results = nullptr;
};

// Records one dispatched event of a stream (not its "end" event) into
// `context`: counts it, sets *first_event_ns (MonotonicNanos) if it is 0,
// records its latency (context->recv_realtime_ns − sent_unix_nanos) while
// measuring, and its subscription through `subscriptions` when the context
// tracks them. Both protocols' connections (SseConnection, Http2Connection)
// record their events here, so they measure alike.
void RecordStreamEvent(const StreamEvent& event, ConnectionContext* context,
                       SubscriptionTracker* subscriptions,
                       int64_t* first_event_ns);

class SseConnection final : private HttpResponseSink, private StreamEventSink {
 public:
  // Why a connection ended without success. Keep FailureName in sync.
  enum class Failure {
    kNone,
    kNoFds,           // socket() failed: EMFILE/ENFILE (raise ulimit -n).
    kConnectRefused,  // ECONNREFUSED.
    kConnectError,    // Any other connect error.
    kBadStatus,       // The response status was not 200 (status_code()).
    kBadResponse,     // Malformed HTTP or event stream.
    kClosedEarly,     // The peer closed (or ended the body) first.
    kEnded,           // Like kClosedEarly, after an "end" event.
    kReset,           // ECONNRESET while reading.
    kReadError,       // Any other read or write error.
    kTimeout,         // No first event within the worker's bound.
    kCount,
  };
  static const char* FailureName(Failure failure);

  enum class StartResult {
    kStarted,     // Connecting; epoll will report progress.
    kRetryLater,  // No local address/port free (EADDRNOTAVAIL): try again.
    kFailed,      // Closed with failure().
  };

  // `context` and `request` (the full request bytes) are owned by the
  // caller and must outlive the connection.
  SseConnection(ConnectionContext* context, const std::string* request);
  ~SseConnection() override;

  SseConnection(const SseConnection&) = delete;
  SseConnection& operator=(const SseConnection&) = delete;

  // Forgets the previous connection (which must be closed) for reuse.
  void Reset();

  // Opens a non-blocking socket, starts connecting to `address` and
  // registers it with `epoll_fd` (epoll data = this). With a `source`
  // address (may be null) the socket is bound to it first, its port still
  // chosen at connect time (IP_BIND_ADDRESS_NO_PORT), so connections from
  // several loopback addresses do not compete for one ephemeral port range.
  // `start_ns` (MonotonicNanos) is when this connection was first attempted;
  // it is the origin of the time to first event.
  StartResult Start(int epoll_fd, const sockaddr_in& address,
                    const in_addr* source, int64_t start_ns);

  // Handles the epoll events reported for this connection.
  void HandleIo(uint32_t epoll_events);

  // Ends the connection with `failure` (kNone: a successful end). Closing
  // the socket removes it from epoll.
  void Close(Failure failure);

  bool closed() const { return phase_ == Phase::kClosed; }
  // Whether the socket is open (connecting, sending or reading).
  bool open() const {
    return phase_ != Phase::kIdle && phase_ != Phase::kClosed;
  }
  bool connected() const { return connected_ns_ != 0; }
  bool got_first_event() const { return first_event_ns_ != 0; }
  Failure failure() const { return failure_; }
  int status_code() const { return http_.status_code(); }
  int64_t start_ns() const { return start_ns_; }
  // MonotonicNanos when the TCP connect completed / the first event came;
  // 0 if not (yet).
  int64_t connected_ns() const { return connected_ns_; }
  int64_t first_event_ns() const { return first_event_ns_; }

 private:
  enum class Phase { kIdle, kConnecting, kSending, kReading, kClosed };

  void OnConnectReady();
  void SendRequest();
  void ReadOnce();
  // Closes after the response ended (EOF or end of body).
  void CloseAtEndOfResponse();

  // HttpResponseSink:
  bool OnResponseHeaders(int status_code) override;
  bool OnBody(absl::string_view bytes) override;
  // StreamEventSink:
  bool OnStreamEvent(const StreamEvent& event) override;

  ConnectionContext* const context_;
  const std::string* const request_;
  HttpResponseParser http_;
  EventStreamParser events_;
  SubscriptionTracker subscriptions_;  // Used when the config is enabled.
  Phase phase_ = Phase::kIdle;
  Failure failure_ = Failure::kNone;
  int fd_ = -1;
  int epoll_fd_ = -1;
  size_t request_sent_ = 0;
  int64_t start_ns_ = 0;
  int64_t connected_ns_ = 0;
  int64_t first_event_ns_ = 0;
  bool saw_end_event_ = false;
  // Set by the sinks when they stop parsing: done (churn) or failed.
  bool finished_ = false;
  Failure stop_failure_ = Failure::kNone;
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_BENCH_SSE_CONNECTION_H_
