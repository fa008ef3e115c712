// Http2Connection: one HTTP/2 client connection of the load generator and the
// SSE streams it carries, in cleartext with prior knowledge ("h2c": the
// connection starts with the client preface; no TLS, no Upgrade). Like
// SseConnection a state machine driven by epoll readiness: non-blocking TCP
// connect → the preface and SETTINGS, and one GET per AddStream (the same
// header fields each) → per stream, the response's :status and its DATA
// parsed by the stream's own EventStreamParser → each stream ends, cleanly
// or with an SseConnection::Failure, and finally the connection.
//
// libnghttp2 does the framing, HPACK and flow control on memory buffers
// (nghttp2_session_mem_recv / nghttp2_session_mem_send); the connection owns
// the socket and writes what nghttp2 produces, waiting for EPOLLOUT when the
// socket is full. Its receive windows are Chrome's (6 MiB per stream, 15 MiB
// for the connection, WINDOW_UPDATEs automatic), so flow control never holds
// back the events of an idle stream; server push is off.
//
// Streams record their events exactly as SseConnection does
// (RecordStreamEvent into the worker's ConnectionContext, the same receive
// time CLOCK_REALTIME of the recv() that read them) and report their first
// event and their end to an Http2StreamObserver (the worker). How a stream
// ends:
//   - :status other than 200: kBadStatus (the stream is reset, CANCEL);
//   - a malformed event stream: kBadResponse (reset);
//   - the server ends the stream (END_STREAM): kEnded after an "end" event,
//     else kClosedEarly;
//   - the server resets it (RST_STREAM with an error, e.g. REFUSED_STREAM
//     past its SETTINGS_MAX_CONCURRENT_STREAMS, or above the last stream id
//     of a GOAWAY): kReset;
//   - CloseStreamsWithoutFirstEvent: kTimeout (reset);
//   - the connection ends: every open stream gets its failure: the connect
//     errors as SseConnection; the peer closed: kEnded / kClosedEarly per
//     stream as above; ECONNRESET: kReset; another socket error: kReadError;
//     an HTTP/2 protocol error: kBadResponse. Streams added after that fail
//     at once the same way.
//
// Not thread-safe: a connection, its context and its observer belong to one
// worker thread; the context, the header fields, the observer and the epoll
// instance must outlive it.

#ifndef SSE_GATEWAY_BENCH_HTTP2_CONNECTION_H_
#define SSE_GATEWAY_BENCH_HTTP2_CONNECTION_H_

#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "bench/event_stream_parser.h"
#include "bench/http2_request.h"
#include "bench/sse_connection.h"
#include "bench/subscription_stats.h"

struct nghttp2_session;

namespace sse_gateway {

class Http2Connection;

// One stream of an Http2Connection, as its observer sees it.
class Http2Stream final : private StreamEventSink {
 public:
  using Failure = SseConnection::Failure;

  bool closed() const { return closed_; }
  Failure failure() const { return failure_; }
  int status_code() const { return status_code_; }
  // MonotonicNanos when the stream was added (the origin of its time to
  // first event) and when its first event came (0: not yet).
  int64_t start_ns() const { return start_ns_; }
  int64_t first_event_ns() const { return first_event_ns_; }
  bool got_first_event() const { return first_event_ns_ != 0; }

 private:
  friend class Http2Connection;

  Http2Stream(Http2Connection* connection, int64_t start_ns);

  // StreamEventSink:
  bool OnStreamEvent(const StreamEvent& event) override;

  Http2Connection* const connection_;
  const int64_t start_ns_;
  int32_t id_ = -1;  // The HTTP/2 stream id; -1 before it was submitted.
  EventStreamParser events_;
  SubscriptionTracker subscriptions_;
  int status_code_ = 0;     // The final :status; 0 before it.
  int pending_status_ = 0;  // :status of the HEADERS being received.
  bool headers_done_ = false;
  bool saw_end_event_ = false;
  bool closed_ = false;
  Failure failure_ = Failure::kNone;
  int64_t first_event_ns_ = 0;
};

// Told about the streams of an Http2Connection (the worker's accounting).
// Called from inside the connection's methods; must not call back into it.
class Http2StreamObserver {
 public:
  virtual ~Http2StreamObserver() = default;
  // The TCP connect completed (connection.connected_ns()).
  virtual void OnHttp2Connected(const Http2Connection& connection) = 0;
  virtual void OnHttp2FirstEvent(const Http2Stream& stream) = 0;
  // The stream ended with stream.failure() (kNone never: see the file
  // comment); called once per stream, also for one that fails in AddStream.
  virtual void OnHttp2StreamClosed(const Http2Stream& stream) = 0;
};

class Http2Connection {
 public:
  using Failure = SseConnection::Failure;
  using StartResult = SseConnection::StartResult;

  // Receive windows announced to the server (Chrome's).
  static constexpr int32_t kStreamWindowBytes = 6 << 20;
  static constexpr int32_t kConnectionWindowBytes = 15 << 20;

  // `headers` (the request's fields, Http2HeadersFromRequest) and the other
  // arguments are owned by the caller and must outlive the connection.
  Http2Connection(ConnectionContext* context,
                  const std::vector<Http2Header>* headers,
                  Http2StreamObserver* observer);
  ~Http2Connection();

  Http2Connection(const Http2Connection&) = delete;
  Http2Connection& operator=(const Http2Connection&) = delete;

  // Opens a non-blocking socket and starts connecting, as
  // SseConnection::Start does (epoll data = this). After kRetryLater it may
  // be called again; after kFailed the connection is closed (streams added
  // later fail at once).
  StartResult Start(int epoll_fd, const sockaddr_in& address,
                    const in_addr* source, int64_t start_ns);

  // Adds a stream started at `start_ns` (MonotonicNanos): its request goes
  // out as soon as the connection is up. On a closed connection the stream
  // fails at once (the observer is told before this returns).
  void AddStream(int64_t start_ns);

  // Handles the epoll events reported for this connection.
  void HandleIo(uint32_t epoll_events);

  // Resets every open stream that has had no first event since before
  // `started_before_ns` (kTimeout).
  void CloseStreamsWithoutFirstEvent(int64_t started_before_ns);

  // Stops: closes the socket and forgets the open streams without telling
  // the observer (they are not failures). Returns how many were open.
  int64_t Abandon();

  bool closed() const { return phase_ == Phase::kClosed; }
  bool connected() const { return connected_ns_ != 0; }
  // The failure that closed the connection (kNone while open).
  Failure failure() const { return failure_; }
  int64_t start_ns() const { return start_ns_; }
  int64_t connected_ns() const { return connected_ns_; }
  int64_t open_streams() const { return open_streams_; }
  const std::vector<std::unique_ptr<Http2Stream>>& streams() const {
    return streams_;
  }

 private:
  friend class Http2Stream;
  friend struct Http2Callbacks;

  enum class Phase { kIdle, kConnecting, kOpen, kClosed };

  // Creates the nghttp2 session and queues SETTINGS; false if nghttp2
  // cannot (then the connection is closed).
  bool CreateSession();
  void OnConnectReady();
  // Writes what nghttp2 has to send until it has nothing more or the socket
  // is full (then waits for EPOLLOUT).
  void Flush();
  void ReadOnce();
  void SetInterest(uint32_t events);
  // Ends the connection: every open stream gets `failure` (for kEnded and
  // kClosedEarly, the one that fits each stream).
  void Close(Failure failure);
  // Ends `stream` with `failure` and tells the observer; resets it at the
  // server first when `reset`.
  void CloseStream(Http2Stream* stream, Failure failure, bool reset);

  // nghttp2 callbacks (Http2Callbacks forwards to them).
  void OnHeader(int32_t stream_id, absl::string_view name,
                absl::string_view value);
  void OnHeadersFrame(int32_t stream_id);
  void OnData(int32_t stream_id, const uint8_t* data, size_t size);
  void OnStreamClose(int32_t stream_id, uint32_t error_code);
  Http2Stream* StreamOf(int32_t stream_id) const;

  ConnectionContext* const context_;
  const std::vector<Http2Header>* const headers_;
  Http2StreamObserver* const observer_;
  nghttp2_session* session_ = nullptr;
  Phase phase_ = Phase::kIdle;
  Failure failure_ = Failure::kNone;
  int fd_ = -1;
  int epoll_fd_ = -1;
  uint32_t interest_ = 0;
  std::string output_;  // Produced by nghttp2, not yet written.
  size_t output_sent_ = 0;
  int64_t start_ns_ = 0;
  int64_t connected_ns_ = 0;
  int64_t open_streams_ = 0;
  std::vector<std::unique_ptr<Http2Stream>> streams_;
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_BENCH_HTTP2_CONNECTION_H_
