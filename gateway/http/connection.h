// Connection: one accepted HTTP/1 connection, served without blocking by
// the event loop that owns it (ServerLoops), through its whole life:
//
//   accept ─▶ TLS handshake (with `tls`) ─▶ request head ─▶ dispatch
//     (HttpServer::Serve) ─▶ a complete response, written ─▶ keep-alive:
//     the next head (or close)
//                        └▶ a DeferredResponse, decided when ready or at its
//                           deadline ─▶ the head, then a StreamingBody
//                           (chunked, or raw until close) ─▶ close
//
// Every read and write is one non-blocking step (transport.h); the loop
// calls back when the socket is ready. Limits: the TLS handshake and the
// whole request head within `head_timeout` (from the accept, or from the
// first byte of a keep-alive request), at most HttpServer::kMaxHeadBytes of
// head, `idle_timeout` between keep-alive requests, and `write_timeout`
// without progress while a write waits (a slow client). A client's FIN is
// not taken for a disconnect: a half-closed client still gets its response
// (the body gets a keep-alive probe, which a client that is gone answers with
// a reset).
//
// Not thread-safe: only the owning loop's thread calls it, except that the
// ready callbacks it registers may run on any thread (they only queue it).

#ifndef SSE_GATEWAY_GATEWAY_HTTP_CONNECTION_H_
#define SSE_GATEWAY_GATEWAY_HTTP_CONNECTION_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "gateway/http/async_response.h"
#include "gateway/http/http2_options.h"
#include "gateway/http/http2_session.h"
#include "gateway/http/http_server.h"
#include "gateway/http/transport.h"

namespace sse_gateway {

class Connection;

struct ConnectionLimits {
  absl::Duration head_timeout = absl::Seconds(10);
  absl::Duration idle_timeout = absl::Seconds(5);
  absl::Duration write_timeout = absl::Seconds(30);
  int max_requests = 100;  // per connection (keep-alive)
  Http2Options http2;      // with http2.enabled: h2 by ALPN, or h2c
};

// What a Connection needs from the loop that owns it.
class ConnectionHost {
 public:
  virtual ~ConnectionHost() = default;
  // Sets the epoll interest of `connection`'s socket to `events` (0: only
  // errors and hang-ups) and records it in registered_events.
  virtual void Watch(Connection* connection, uint32_t events) = 0;
  // Stops watching `connection`'s socket, before it is closed.
  virtual void Forget(Connection* connection) = 0;
  // Queues `connection` for OnReady(); callable from any thread.
  virtual void Wake(const std::shared_ptr<Connection>& connection) = 0;
  // `connection` took a DeferredResponse or a StreamingBody, which will be
  // handed to Reap(): counts it as open until it is destroyed.
  virtual void Adopted() = 0;
  // Destroys `object` (off the loop when its destructor may wait).
  virtual void Reap(std::unique_ptr<Reapable> object) = 0;
  virtual HttpServer& server() = 0;
  virtual const ConnectionLimits& limits() const = 0;
  // A connection closed because its head (or TLS handshake) took too long.
  virtual void CountHeadTimeout() = 0;
  // A connection is now served as HTTP/2.
  virtual void CountHttp2Connection() = 0;
  // The server is draining: HTTP/2 connections send GOAWAY.
  virtual bool draining() const = 0;
};

class Connection : public std::enable_shared_from_this<Connection>,
                   private Http2Session::Transport {
 public:
  // `ssl`: set for a TLS connection (handshake first). `peer` describes
  // `socket` for handlers.
  Connection(ConnectionHost* host, UniqueFd socket, UniqueSsl ssl,
             PeerAddress peer, absl::Time now);
  ~Connection();

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  int socket() const { return socket_.get(); }
  bool finished() const { return phase_ == Phase::kClosed; }

  // The socket is ready (epoll `events`).
  void OnEvents(uint32_t events, absl::Time now);
  // A ready callback fired: the response may have something.
  void OnReady(absl::Time now);
  // Every ServerLoops scan: timeouts, deadlines, bodies that cannot notify.
  void OnScan(absl::Time now);
  // Ends the connection now (server stop), abandoning any response.
  void Abandon(AbandonReason reason);

  // In the loop's ready queue (set by ConnectionHost::Wake).
  std::atomic<bool> queued{false};
  // The epoll interest registered for the socket (kept by the host).
  uint32_t registered_events = 0;

 private:
  enum class Phase {
    kHandshake,  // TLS handshake
    kHead,       // reading a request head (or idle between requests)
    kDeciding,   // a DeferredResponse not decided yet
    kWriting,    // writing a complete response
    kStreaming,  // writing a StreamingBody
    kHttp2,      // HTTP/2: everything is the Http2Session's
    kClosed,
  };

  // Hands the connection to an Http2Session; `received`: bytes read so far.
  void StartHttp2(absl::Time now);
  // Closes the connection if the session is over.
  void CheckHttp2();
  // Http2Session::Transport:
  IoStep Send(const char* data, size_t size) override;
  IoStep Receive(char* buffer, size_t size) override;
  void SetInterest(uint32_t events) override;
  std::function<void()> ReadyCallback() override;

  void Handshake(absl::Time now);
  // Reads what has arrived; false if the connection was closed.
  bool ReadInput();
  // Serves the next complete head in input_, if any.
  void ServeNextHead(absl::Time now);
  void Decide(absl::Time now);
  // Writes the pending output, then more of the body; finishes responses.
  void Service(absl::Time now);
  // Appends what the body produces at `now` to output_ (framed); false
  // when it produced nothing.
  bool AppendProduced(absl::Time now);
  // Writes output_; true once all of it is out.
  bool Flush(absl::Time now);
  // After a complete response: the next request, or close.
  void ResponseDone(absl::Time now);
  // Watches for `extra` (EPOLLIN / EPOLLOUT / 0), plus EPOLLRDHUP until the
  // client half-closed.
  void WatchFor(uint32_t extra);
  // Registers the ready callback of the current response.
  void WatchReady(bool deferred);
  // Ends the connection: any response left is abandoned for `reason`.
  void Close(AbandonReason reason);

  ConnectionHost* const host_;
  UniqueFd socket_;
  UniqueSsl ssl_;
  const PeerAddress peer_;
  Phase phase_;
  std::string input_;   // received, not yet served
  std::string output_;  // being written
  size_t output_offset_ = 0;
  // Head timeout (kHandshake, kHead with bytes), idle timeout (kHead
  // without), or InfiniteFuture().
  absl::Time deadline_;
  // Since when a write has waited without progress; InfiniteFuture() if not.
  absl::Time blocked_since_ = absl::InfiniteFuture();
  int requests_ = 0;
  // kHead between keep-alive requests, no byte of the next one yet.
  bool idle_ = false;
  bool close_after_response_ = false;
  bool peer_half_closed_ = false;  // EPOLLRDHUP seen: no more input.
  bool notifies_ = false;          // the response calls back when ready
  std::unique_ptr<DeferredResponse> deferred_;
  std::unique_ptr<StreamingBody> body_;
  bool chunked_ = true;
  std::unique_ptr<Http2Session> http2_;
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_HTTP_CONNECTION_H_
