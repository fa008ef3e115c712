// Http2Session: one HTTP/2 connection's protocol state (libnghttp2) and its
// streams, driven by the Connection that detected HTTP/2 (ALPN "h2" after
// a TLS handshake, or the client preface on plaintext) on its event loop.
//
// Each stream is one request with the HTTP/1 semantics: its decoded header
// fields are translated into an HTTP/1 head (http2_translation.h) and served
// by HttpServer::Serve() exactly like a head read off an HTTP/1 connection;
// the response bytes (a complete response, or a DeferredResponse's decision
// and its StreamingBody) are translated back into HEADERS and DATA frames.
//
// Backpressure per stream: a stream's StreamingBody is pulled only when the
// bytes it produced last have all been taken by nghttp2, which takes them
// only while the stream's send window is open. A stream whose window is
// exhausted therefore stops pulling its EventStream (its upstream reads
// stop) while the other streams go on; one that makes no progress for
// `write_timeout` is reset (a slow client). Output is written to the socket
// in batches of at most kOutputBatchBytes, and the socket's own
// backpressure stalls the whole connection (write_timeout closes it).
//
// Cancellation: a client's RST_STREAM abandons that stream's response at
// once (its upstream call is cancelled); the connection's end abandons all.
// Requests whose streams are reset in the same read as their HEADERS are
// never dispatched (no upstream call is opened for them).
//
// Hardening (Http2Options): SETTINGS_MAX_CONCURRENT_STREAMS, a header list
// limit (431 past it), nghttp2's reset-rate limit (rapid reset), its
// CONTINUATION limit and outbound control-frame flood limit, and the
// draining GOAWAY. Not thread-safe: only the owning loop calls it, except
// the ready callbacks it registers, which only queue the connection.

#ifndef SSE_GATEWAY_GATEWAY_HTTP_HTTP2_SESSION_H_
#define SSE_GATEWAY_GATEWAY_HTTP_HTTP2_SESSION_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gateway/http/async_response.h"
#include "gateway/http/http2_options.h"
#include "gateway/http/http_server.h"
#include "gateway/http/transport.h"

struct nghttp2_session;

namespace sse_gateway {

class ConnectionHost;

// The 24 bytes an HTTP/2 client sends first (RFC 9113 3.4).
inline constexpr absl::string_view kHttp2ClientPreface =
    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

class Http2Session {
 public:
  // What the session needs from the connection that owns it.
  class Transport {
   public:
    virtual ~Transport() = default;
    // One non-blocking I/O step on the connection's socket (transport.h).
    virtual IoStep Send(const char* data, size_t size) = 0;
    virtual IoStep Receive(char* buffer, size_t size) = 0;
    // Wants epoll to report `events` (EPOLLIN, EPOLLOUT) on the socket.
    virtual void SetInterest(uint32_t events) = 0;
    // Queues the connection for Http2Session::OnReady(); callable from any
    // thread, and after the connection has gone (then it does nothing).
    virtual std::function<void()> ReadyCallback() = 0;
  };

  // Bytes written to the socket per batch, and the most the session keeps
  // ready to write.
  static constexpr size_t kOutputBatchBytes = 64 * 1024;

  // `host` and `transport` must outlive the session. `received`: bytes
  // already read from the socket (starting with the client preface on h2c).
  // Null if nghttp2 cannot allocate a session.
  static std::unique_ptr<Http2Session> Create(ConnectionHost* host,
                                              Transport* transport,
                                              const PeerAddress& peer,
                                              absl::string_view received,
                                              absl::Time now);
  ~Http2Session();

  Http2Session(const Http2Session&) = delete;
  Http2Session& operator=(const Http2Session&) = delete;

  // The socket is readable and/or writable.
  void OnEvents(bool readable, bool writable, absl::Time now);
  // A ready callback fired.
  void OnReady(absl::Time now);
  // Every ServerLoops scan: deadlines, write timeouts, idle, draining.
  void OnScan(absl::Time now);
  // Abandons every stream's response for `reason` (the connection ends).
  void Abandon(AbandonReason reason);

  // The connection should be closed (protocol error, flood, the peer gone,
  // GOAWAY done, idle); `reason` says why, for the responses still open.
  bool over() const { return over_; }
  AbandonReason over_reason() const { return over_reason_; }

  size_t open_streams() const { return streams_.size(); }

 private:
  struct Stream;
  class Callbacks;

  Http2Session(ConnectionHost* host, Transport* transport, PeerAddress peer,
               absl::Time now);

  // Feeds `bytes` to nghttp2 (at most kReadBytes at a time, writing the
  // acknowledgements due between); false (and over) on a fatal error.
  bool Receive(absl::string_view bytes);
  // Reads what the socket has; false when the connection is over.
  bool ReadSocket();
  // Serves the requests whose headers completed in the last read.
  void DispatchCompleted(absl::Time now);
  void Dispatch(Stream& stream, absl::Time now);
  // Answers `stream` with a complete response of `status` and a JSON body.
  void RespondError(Stream& stream, int status, absl::string_view json);
  // Submits `response_bytes` (an HTTP/1 response head and maybe a body)
  // as the stream's HEADERS and DATA, with `body` streaming after it.
  void Respond(Stream& stream, absl::string_view response_bytes,
               std::unique_ptr<StreamingBody> body, absl::Time now);
  void Decide(Stream& stream, absl::Time now);
  // Decides the responses and pulls the bodies that may have something;
  // resumes their DATA. True if a body produced anything.
  bool ProduceReady(absl::Time now);
  void Produce(Stream& stream, absl::Time now);
  // Writes, produces and frames until nothing is left or the socket blocks.
  void Pump(absl::Time now);
  // Writes output_; true once all of it is out.
  bool Flush(absl::Time now);
  // Moves frames from nghttp2 into output_; true if it added any.
  bool Fill();
  // Drops the responses of a finished or closed stream.
  void ReleaseResponse(Stream& stream, AbandonReason reason);
  void WatchReady(Stream& stream, bool deferred);
  void UpdateInterest();
  void End(AbandonReason reason);

  // nghttp2 callbacks.
  int OnBeginHeaders(int32_t stream_id);
  int OnHeader(int32_t stream_id, absl::string_view name,
               absl::string_view value);
  int OnFrameReceived(int32_t stream_id, uint8_t type, uint8_t flags,
                      uint8_t category);
  int OnStreamClose(int32_t stream_id);
  ptrdiff_t ReadData(int32_t stream_id, uint8_t* buffer, size_t length,
                     uint32_t* data_flags);

  ConnectionHost* const host_;
  Transport* const transport_;
  const PeerAddress peer_;
  const Http2Options options_;
  nghttp2_session* session_ = nullptr;
  std::map<int32_t, std::unique_ptr<Stream>> streams_;
  // Streams whose request head completed in the current read.
  std::vector<int32_t> completed_;
  std::string output_;
  size_t output_offset_ = 0;
  absl::Time blocked_since_ = absl::InfiniteFuture();
  bool write_wants_read_ = false;  // TLS must read before it can write
  absl::Time idle_since_;
  bool goaway_sent_ = false;
  bool over_ = false;
  AbandonReason over_reason_ = AbandonReason::kClientGone;
  uint32_t interest_ = 0;
  absl::Time now_;  // the time of the current call, for nghttp2 callbacks
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_HTTP_HTTP2_SESSION_H_
