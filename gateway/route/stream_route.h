// StreamRoute: serves one configured route, turning a GET request into a
// server-streaming gRPC call and its responses into an SSE response.
//
// Per request, in order:
//   1. Query parameters become request fields (except the token parameter,
//      which becomes `authorization` metadata), forwarded headers become
//      metadata (MetadataForwarding) and a `Grpc-Timeout` header becomes the
//      call's deadline; bad input is a 400 and no upstream call is made.
//      Metadata over `max_metadata_bytes` in all (with Last-Event-ID) is a
//      431: a gRPC backend would otherwise fail the whole connection that
//      other streams share.
//   2. A stream slot is taken from the route's and the gateway's limiters;
//      when either is full the answer is an immediate 503 with Retry-After.
//   3. ServeEventStream opens the stream with the client's Last-Event-ID
//      (which StreamMethod forwards as metadata and resume field) and writes
//      it as Server-Sent Events; the slot is returned when it is over.
//      On a fan-out route the stream is a subscription to the shared call
//      of the request's key (FanoutHub): the request message (resume field
//      excluded) and, unless the route is public, every forwarded metadata
//      value but x-forwarded-for, which is not sent on shared calls. A
//      request with a Grpc-Timeout header gets its own call (its deadline
//      is its own).
//
// Thread-safe: Handle() runs concurrently on connection threads.

#ifndef SSE_GATEWAY_GATEWAY_ROUTE_STREAM_ROUTE_H_
#define SSE_GATEWAY_GATEWAY_ROUTE_STREAM_ROUTE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/fanout_hub.h"
#include "core/stream_method.h"
#include "gateway/http/query_string.h"
#include "gateway/ops/stream_outcome.h"
#include "gateway/route/metadata_forwarding.h"
#include "gateway/route/stream_limiter.h"
#include "gateway/sse/event_stream_response.h"
#include "httplib.h"

namespace sse_gateway {

// What the gateway learns of one finished (or refused) stream request.
struct StreamRequestInfo {
  std::string route;
  std::string remote;    // client "ip:port"
  std::string protocol;  // "HTTP/1.1" or "HTTP/2"
  std::optional<std::string> last_event_id;
};
using StreamFinishedCallback =
    std::function<void(const StreamRequestInfo&, const StreamOutcome&)>;

struct StreamRouteOptions {
  // open_wait, heartbeat, max_duration, reconnect_retry_ms, draining and the
  // route's metrics (which the route also counts starts, ends and refusals
  // in). Its on_finish is set per request by the route.
  SseStreamOptions sse;
  int64_t max_streams = 0;  // 0: no per-route limit
  // The most metadata one request may send upstream (see
  // GatewayConfig::max_metadata_bytes); above it: 431, no call.
  int64_t max_metadata_bytes = 4096;
  // The gateway-wide limiter; not owned, may be null.
  StreamLimiter* global_limiter = nullptr;
  // Called once per request that reached step 2, when it is over.
  StreamFinishedCallback on_finish;
  // Which request headers (and token query parameter) become upstream
  // metadata.
  MetadataForwarding forwarding;

  // Fan-out (the route's `fanout:`): requests whose upstream call would be
  // the same share one through `hub`.
  struct Fanout {
    FanoutHub* hub = nullptr;  // not owned; must outlive the route's streams
    FanoutOptions options;
    // Share across users: no per-user metadata on shared calls.
    bool is_public = false;
    FanoutObserver* observer = nullptr;  // not owned; may be null
  };
  std::optional<Fanout> fanout;
};

class StreamRoute {
 public:
  StreamRoute(std::string path, std::unique_ptr<StreamMethod> method,
              StreamRouteOptions options);

  // Serves one GET request on this route. `path_bindings` are request
  // fields bound by the route's path template (applied before the query's;
  // binding a singular field twice is a 400).
  void Handle(const httplib::Request& request, httplib::Response& response,
              const QueryParams& path_bindings = {}) const;

  // One stream of this route opened for a caller that serves it itself (a
  // multiplexed request): the stream, and what must be called exactly once
  // when it is over (returns the slot, counts and logs it).
  struct OpenedStream {
    std::unique_ptr<EventStream> stream;
    std::function<void(const StreamOutcome&)> finish;
  };

  // Steps 1 to 3 of Handle for `request` (its target, headers and peer),
  // resuming from `last_event_id` instead of the request's Last-Event-ID
  // header, without answering it: every refusal is the error status Handle
  // would answer with (WithHttpStatus for 431; UNAVAILABLE when no slot is
  // free, already counted and logged as a refusal).
  absl::StatusOr<OpenedStream> Open(
      const httplib::Request& request, const QueryParams& path_bindings,
      const std::optional<std::string>& last_event_id) const;

  const std::string& path() const { return path_; }

 private:
  // A request that passed steps 1 and 2 and holds a stream slot, which
  // `finish` gives back.
  struct Admission {
    std::shared_ptr<const google::protobuf::Message> upstream_request;
    Metadata metadata;
    std::optional<absl::Duration> timeout;
    std::function<void(const StreamOutcome&)> finish;
  };

  // Steps 1 and 2; see Open() for the errors.
  absl::StatusOr<Admission> Admit(
      const httplib::Request& request, const QueryParams& path_bindings,
      const std::optional<std::string>& last_event_id) const;

  // Counts and logs a request refused for want of a slot; returns the
  // UNAVAILABLE status it is answered with.
  absl::Status Refuse(const httplib::Request& request,
                      const StreamRequestInfo& info) const;

  // How the admitted request's stream is opened (step 3).
  EventStreamFactory FactoryFor(const Admission& admission) const;

  // The fan-out subscription spec for `request` with `metadata`.
  SharedCallSpec FanoutSpec(
      std::shared_ptr<const google::protobuf::Message> request,
      const Metadata& metadata) const;

  const std::string path_;
  const std::unique_ptr<StreamMethod> method_;
  const StreamRouteOptions options_;
  mutable StreamLimiter limiter_;
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_ROUTE_STREAM_ROUTE_H_
