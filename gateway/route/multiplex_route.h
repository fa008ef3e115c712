// MultiplexRoute: serves the multiplex endpoint (config `multiplex:`), where
// one EventSource carries several routes' streams:
//
//   GET /v1/multiplex?acme=%2Fv1%2Fticks%3Fsymbol%3DACME&news=%2Fv1%2Fnews
//
// Each query parameter is one subscription: its name (1 to 32 characters of
// [A-Za-z0-9_-], unique in the request, not "end" or "error", which the
// browser or the gateway give meaning to) and the path and query of a
// configured route, exact or template. At most `max_subscriptions`.
//
// Per request, in order, every refusal answered before any upstream call is
// kept, with the usual status and a JSON message naming the subscription:
//   1. The names and targets are checked (400; a target that no route serves
//      is 404), and so is the Last-Event-ID: absent or empty, every
//      subscription starts afresh; otherwise it must be a compound id made
//      for these names (compound_event_id.h), or the answer is 400. When the
//      compound id says every subscription has ended the answer is 204, which
//      tells EventSource to stop reconnecting.
//   2. Each subscription not ended is opened through its route's whole
//      pipeline (StreamRoute::Open: request building, forwarded credentials,
//      limits, fan-out, Grpc-Timeout), resumed from its own id. The request's
//      headers are the subscription's, Last-Event-ID excepted. If one cannot
//      be opened, those already opened are cancelled and their slots given
//      back, and the request gets that subscription's error.
//   3. The subscriptions are served as one MultiplexedEventStream, through
//      ServeEventStream (heartbeats per connection, max_duration, draining),
//      whose head waits until every subscription has produced its first
//      message or `open_wait` has passed: one that fails before that fails
//      the request.
// Each subscription is counted and logged on its own route (its events are
// counted on the multiplex endpoint's); the multiplexed response is counted
// and logged as the endpoint's.
//
// Thread-safe: Handle() runs concurrently on the loops. The route table must
// outlive the route.

#ifndef SSE_GATEWAY_GATEWAY_ROUTE_MULTIPLEX_ROUTE_H_
#define SSE_GATEWAY_GATEWAY_ROUTE_MULTIPLEX_ROUTE_H_

#include <cstddef>
#include <string>

#include "gateway/route/route_table.h"
#include "gateway/route/stream_route.h"
#include "gateway/sse/sse_stream_options.h"
#include "httplib.h"

namespace sse_gateway {

// The longest subscription name.
inline constexpr size_t kMaxSubscriptionNameBytes = 32;

struct MultiplexRouteOptions {
  std::string path;  // the endpoint, e.g. "/v1/multiplex"
  int64_t max_subscriptions = 16;
  // The routes subscriptions name; not owned.
  const RouteTable* routes = nullptr;
  // How the multiplexed response is served (heartbeat, open_wait,
  // max_duration, reconnect_retry_ms, draining, the endpoint's metrics). Its
  // on_finish is set per request.
  SseStreamOptions sse;
  // Called once per multiplexed response that was served as a stream.
  StreamFinishedCallback on_finish;
};

class MultiplexRoute {
 public:
  explicit MultiplexRoute(MultiplexRouteOptions options);

  const std::string& path() const { return options_.path; }

  // Serves one GET request on the endpoint.
  void Handle(const httplib::Request& request,
              httplib::Response& response) const;

 private:
  const MultiplexRouteOptions options_;
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_ROUTE_MULTIPLEX_ROUTE_H_
