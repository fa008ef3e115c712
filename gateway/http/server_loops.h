// ServerLoops: the gateway's front door and its open responses on a few
// event-loop threads (epoll), so that the thread count never depends on the
// number of connections and no client can hold a thread.
//
// Every loop accepts from the shared listening socket (EPOLLEXCLUSIVE, so a
// new connection wakes one loop) and serves the connections it accepted for
// their whole life (Connection): TLS handshake, request heads, dispatch
// through HttpServer, complete responses, DeferredResponses and their
// StreamingBodies. Beyond `max_connections` open connections, a new one is
// closed at once (counted). Every kScanInterval each loop checks head,
// idle and write timeouts, response deadlines (open_wait, heartbeats,
// max_duration, draining) and bodies that cannot notify. Finished responses
// are destroyed on a reaper thread (a gRPC call's destruction waits for
// gRPC).
//
// Thread-safe. Stop() (or the destructor) closes the listener, abandons
// every connection (AbandonReason::kShutdown), joins the loops and then
// destroys what is left.

#ifndef SSE_GATEWAY_GATEWAY_HTTP_SERVER_LOOPS_H_
#define SSE_GATEWAY_GATEWAY_HTTP_SERVER_LOOPS_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "gateway/http/connection.h"
#include "gateway/http/http_server.h"
#include "gateway/http/reaper.h"
#include "gateway/http/tls_server_context.h"
#include "gateway/http/transport.h"

namespace sse_gateway {

struct ServerLoopsOptions {
  size_t threads = 1;  // event loops (at least 1)
  ConnectionLimits limits;
  int64_t max_connections = 0;  // open at once; 0: no limit
  // Serve HTTPS with it; null: plain HTTP.
  std::shared_ptr<const TlsServerContext> tls;
  // When it turns true, HTTP/2 connections send GOAWAY (not owned; null:
  // never). Must outlive the loops.
  const std::atomic<bool>* draining = nullptr;
};

class ServerLoops {
 public:
  // How often every connection is checked for timeouts and deadlines.
  static constexpr absl::Duration kScanInterval = absl::Milliseconds(100);

  struct Stats {
    int64_t open_connections = 0;
    int64_t accepted = 0;           // connections accepted, ever
    int64_t refused = 0;            // closed at once: max_connections reached
    int64_t head_timeouts = 0;      // closed: head (or handshake) too slow
    int64_t http2_connections = 0;  // served as HTTP/2, ever
  };

  // `server` (not owned) must outlive the loops. Starts the loop threads and
  // the reaper thread; nothing is accepted before Start().
  ServerLoops(HttpServer* server, ServerLoopsOptions options);
  ~ServerLoops();

  ServerLoops(const ServerLoops&) = delete;
  ServerLoops& operator=(const ServerLoops&) = delete;

  // Serves the connections of `listener`, a listening socket (made
  // non-blocking here). Call once.
  void Start(UniqueFd listener);

  // Stops accepting, abandons every connection and joins the threads.
  // Idempotent.
  void Stop();

  Stats stats() const;

  // Responses (undecided, or bodies) not yet destroyed.
  int64_t open_responses() const { return open_responses_.load(); }

 private:
  class Loop;

  HttpServer* const server_;
  const ServerLoopsOptions options_;
  std::atomic<int64_t> open_connections_{0};
  std::atomic<int64_t> accepted_{0};
  std::atomic<int64_t> refused_{0};
  std::atomic<int64_t> head_timeouts_{0};
  std::atomic<int64_t> http2_connections_{0};
  std::atomic<int64_t> open_responses_{0};
  UniqueFd listener_;
  // The listener's own address when it is not a wildcard (then every
  // connection has it as its local address). Set by Start() before any loop
  // accepts; read-only afterwards.
  std::optional<std::pair<std::string, int>> listener_address_;
  std::unique_ptr<Reaper> reaper_;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::atomic<bool> stopped_{false};
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_HTTP_SERVER_LOOPS_H_
