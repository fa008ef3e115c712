// Gateway: the HTTP server that fronts a gRPC backend, serving each configured
// route as Server-Sent Events. The composition root of gateway/.
//
// Create() does all the work that can fail before serving: it loads the
// descriptor sets, resolves every route's method and fields against them and
// reads the index page; each error names the config file and key. Start()
// binds the listen address and serves on the ServerLoops' event loops:
// connections are accepted, their heads read, their requests dispatched and
// their responses (SSE bodies included) written there, so the number of
// threads never depends on the number of connections. The gateway knows
// nothing of any particular service: everything comes from the config and
// the schema.
//
// With the `tls` key the gateway serves HTTPS (TlsServerContext, loaded and
// checked by Create()) instead of plain HTTP.
//
// Requests: GET on a route path streams (StreamRoute); GET / serves the index
// page when configured; GET /healthz (process alive), /readyz (config loaded,
// every channel of every backend connectable, not draining) and /metrics
// (Prometheus text) are the operations endpoints; another method on a known
// path is 405 with `Allow: GET` (except a CORS preflight on a route path when
// `cors` is configured: see CorsPolicy, which also adds CORS headers to every
// response); any other path is 404. Error bodies are JSON
// {"code": <gRPC code>, "message": "..."}. Every finished stream request
// writes one access-log line (config key access_log).
//
// Stream life (heartbeats, disconnects, slow clients, limits, max duration,
// deadlines) is configured per route; see StreamRoute and ServeEventStream.
//
// Thread-safe. Drain() then Stop() is the graceful shutdown; Stop() alone
// (also run by the destructor) stops accepting, closes every connection and
// cancels the open streams' upstream calls.

#ifndef SSE_GATEWAY_GATEWAY_GATEWAY_H_
#define SSE_GATEWAY_GATEWAY_GATEWAY_H_

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "core/fanout_hub.h"
#include "core/schema.h"
#include "gateway/backend_pool.h"
#include "gateway/config/config.h"
#include "gateway/http/http_server.h"
#include "gateway/http/server_loops.h"
#include "gateway/http/tls_server_context.h"
#include "gateway/ops/access_log.h"
#include "gateway/ops/metrics.h"
#include "gateway/route/cors.h"
#include "gateway/route/multiplex_route.h"
#include "gateway/route/route_table.h"
#include "gateway/route/stream_limiter.h"
#include "gateway/route/stream_route.h"
#include "gateway/route_plan.h"
#include "httplib.h"

namespace sse_gateway {

class Gateway {
 public:
  static absl::StatusOr<std::unique_ptr<Gateway>> Create(
      const GatewayConfig& config);
  ~Gateway();

  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Binds the configured listen address (port 0 picks a free port) and starts
  // serving in the background. Error if the address cannot be bound.
  absl::Status Start();

  // The bound port; valid after a successful Start().
  int port() const { return port_; }

  // Graceful shutdown, first half: refuses new streams (503) and ends every
  // open stream with a retry hint (cancelling its upstream call), then waits
  // up to `timeout` for them to close. Returns whether they all did. Call
  // Stop() afterwards.
  bool Drain(absl::Duration timeout);

  // Streams open right now, over all routes.
  int64_t active_streams() const { return global_limiter_.active(); }

  // Routes served: the config's and those from annotations.
  size_t route_count() const { return routes_.size(); }

  // Stops serving and waits for every connection to close. Idempotent.
  void Stop();

 private:
  // `route_names` label the metrics: route paths and path templates.
  Gateway(GatewayConfig config, std::unique_ptr<Schema> schema,
          std::vector<std::unique_ptr<BackendPool>> backends,
          std::vector<std::string> route_names);

  // Reads the index page, loads the TLS context, sets up CORS. Errors name
  // the config key.
  absl::Status SetUpFrontDoor();
  // Builds `route` (its method resolved against the schema) into routes_.
  absl::Status AddRoute(const PlannedRoute& route);
  // Builds the multiplex endpoint, if configured (after every route).
  absl::Status AddMultiplexRoute();

  // httplib's pre-routing handler: every request is dispatched here.
  void Dispatch(const httplib::Request& request, httplib::Response& response);
  // GET or HEAD of /healthz, /readyz or /metrics; false for anything else.
  bool ServeOperations(const httplib::Request& request, absl::string_view path,
                       httplib::Response& response);

  // The event loops' counters, for /metrics.
  ServerStats CurrentServerStats() const;

  // Counts a finished stream request in the access log.
  void LogStream(const StreamRequestInfo& info, const StreamOutcome& outcome);

  const GatewayConfig config_;
  const std::unique_ptr<Schema> schema_;
  const std::vector<std::unique_ptr<BackendPool>> backends_;
  std::optional<std::string> index_page_;
  std::optional<CorsPolicy> cors_;  // None: no CORS headers.
  std::atomic<bool> draining_{false};
  StreamLimiter global_limiter_;
  Metrics metrics_;
  std::unique_ptr<AccessLog> access_log_;  // Null: access_log is "off".
  RouteTable routes_;
  // The multiplex endpoint, if configured; serves routes_' routes.
  std::unique_ptr<MultiplexRoute> multiplex_;
  // Shared upstream calls of fan-out routes; null when no route has fanout.
  // Destroyed after loops_ (whose streams subscribe to it) and before
  // routes_ (whose StreamMethods opened its calls).
  std::unique_ptr<FanoutHub> fanout_hub_;

  std::shared_ptr<const TlsServerContext> tls_;  // Null: plain HTTP.
  HttpServer server_;
  // Serve every connection; declared after the routes, and stopped by
  // Stop() before they go.
  std::unique_ptr<ServerLoops> loops_;
  int port_ = 0;
  absl::Mutex stop_mu_;
  bool stopped_ ABSL_GUARDED_BY(stop_mu_) = false;
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_GATEWAY_H_
