#include "gateway/gateway.h"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/read_file.h"
#include "core/status_macros.h"
#include "gateway/http/http_status.h"
#include "gateway/http/listener.h"
#include "gateway/http/query_string.h"
#include "gateway/http/request_context.h"
#include "gateway/http/tls_server_context.h"
#include "gateway/readiness_check.h"
#include "gateway/sse/event_stream_response.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace sse_gateway {
namespace {

// What a `compression:` block means for the streams it applies to: none when
// absent or disabled.
std::optional<SseCompression> SseCompressionFor(
    const std::optional<CompressionConfig>& config) {
  if (!config.has_value() || !config->enabled) return std::nullopt;
  SseCompression compression;
  compression.gzip = config->gzip;
  compression.br = config->br;
  CompressionSettings settings;
  settings.level = static_cast<int>(config->level);
  settings.window_bits = static_cast<int>(config->window_bits);
  compression.gzip_settings = settings;
  compression.br_settings = settings;
  return compression;
}

// Event-loop threads: `configured`, or when it is 0 one per core, at most
// eight.
size_t LoopThreads(int64_t configured) {
  if (configured > 0) return static_cast<size_t>(configured);
  // The loops do all of the gateway's HTTP work; gRPC's own threads are
  // few and mostly wait.
  const size_t cores = std::max(1u, std::thread::hardware_concurrency());
  return std::clamp<size_t>(cores, 1, 8);
}

// max_connections, or when it is 0 what the process's open-files limit
// allows, keeping kReservedFiles for backend channels, logs and the loops.
int64_t MaxConnections(int64_t configured) {
  constexpr int64_t kReservedFiles = 512;
  if (configured > 0) return configured;
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) != 0 ||
      files.rlim_cur == RLIM_INFINITY) {
    return 0;  // No limit known.
  }
  return std::max<int64_t>(
      64, static_cast<int64_t>(files.rlim_cur) - kReservedFiles);
}

// At most the first 256 bytes of a path sent by a client, for a message.
absl::string_view Abbreviated(absl::string_view path) {
  return path.substr(0, 256);
}

// 405 with `Allow: <allow>` and a JSON body.
void WriteMethodNotAllowed(const httplib::Request& request,
                           absl::string_view path, absl::string_view allow,
                           httplib::Response& response) {
  WriteErrorResponse(
      absl::UnimplementedError(absl::StrCat(
          "method ", request.method, " is not allowed on ", Abbreviated(path))),
      response);
  response.status = 405;
  response.set_header("Allow", std::string(allow));
}

absl::Status ConfigError(const GatewayConfig& config, absl::string_view key,
                         const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(config.file, ": ", key, ": ",
                                                  status.message()));
}

// The access log `config` asks for (null for "off"); dropped lines are
// counted in `metrics`.
absl::StatusOr<std::unique_ptr<AccessLog>> OpenAccessLog(
    const GatewayConfig& config, Metrics* metrics) {
  AccessLogOptions options;
  options.max_queued_lines = static_cast<size_t>(config.access_log_queue_lines);
  options.on_dropped = [metrics] { metrics->AccessLogLineDropped(); };
  if (config.access_log == "off") return nullptr;
  if (config.access_log == "stderr") {
    return std::make_unique<AccessLog>(stderr, options);
  }
  if (config.access_log == "stdout") {
    return std::make_unique<AccessLog>(stdout, options);
  }
  absl::StatusOr<std::unique_ptr<AccessLog>> log =
      AccessLog::OpenFile(config.access_log, options);
  if (!log.ok()) return ConfigError(config, "access_log", log.status());
  return log;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Create(
    const GatewayConfig& config) {
  ASSIGN_OR_RETURN(std::vector<std::unique_ptr<BackendPool>> backends,
                   CreateBackendPools(config));
  absl::StatusOr<std::unique_ptr<Schema>> schema = LoadSchema(config, backends);
  if (!schema.ok()) {
    return ConfigError(config, "descriptor_sets", schema.status());
  }
  const std::vector<PlannedRoute> routes = PlanRoutes(config, **schema);
  std::vector<std::string> route_names;
  for (const PlannedRoute& route : routes) {
    route_names.push_back(route.config.path);
  }
  if (config.multiplex.has_value()) {
    route_names.push_back(config.multiplex->path);
  }
  std::unique_ptr<Gateway> gateway(new Gateway(
      config, *std::move(schema), std::move(backends), std::move(route_names)));
  ASSIGN_OR_RETURN(gateway->access_log_,
                   OpenAccessLog(config, &gateway->metrics_));
  RETURN_IF_ERROR(gateway->SetUpFrontDoor());
  for (const PlannedRoute& route : routes) {
    RETURN_IF_ERROR(gateway->AddRoute(route));
  }
  RETURN_IF_ERROR(gateway->AddMultiplexRoute());
  return gateway;
}

absl::Status Gateway::SetUpFrontDoor() {
  if (config_.index_page.has_value()) {
    absl::StatusOr<std::string> page = ReadFileToString(*config_.index_page);
    if (!page.ok()) return ConfigError(config_, "index_page", page.status());
    index_page_ = *std::move(page);
  }
  if (config_.tls.has_value()) {
    absl::StatusOr<std::unique_ptr<TlsServerContext>> tls =
        TlsServerContext::Create(config_.tls->cert_file, config_.tls->key_file,
                                 /*offer_h2=*/config_.http2.enabled);
    if (!tls.ok()) {  // The message starts with the field: "cert_file: ...".
      return absl::Status(
          tls.status().code(),
          absl::StrCat(config_.file, ": tls.", tls.status().message()));
    }
    tls_ = *std::move(tls);
  }
  if (config_.cors.has_value()) {
    cors_.emplace(*config_.cors, config_.forward_headers,
                  config_.response_headers);
  }
  return absl::OkStatus();
}

absl::Status Gateway::AddRoute(const PlannedRoute& planned) {
  const RouteConfig& route = planned.config;
  absl::StatusOr<const BackendPool*> backend =
      FindBackend(backends_, route.backend);
  if (!backend.ok()) {
    return ConfigError(config_, planned.key + ".backend", backend.status());
  }
  absl::StatusOr<std::unique_ptr<StreamMethod>> method = StreamMethod::Create(
      schema_.get(), (*backend)->channels(), route.upstream);
  if (!method.ok()) {
    // StreamMethod's messages start with the option name ("method: ...").
    return absl::Status(method.status().code(),
                        absl::StrCat(config_.file, ": ", planned.key, ".",
                                     method.status().message()));
  }
  StreamRouteOptions options;
  options.sse.open_wait = config_.open_wait;
  options.sse.heartbeat = route.heartbeat.value_or(config_.heartbeat);
  options.sse.max_duration = route.max_duration;
  options.sse.reconnect_retry_ms = route.upstream.retry_ms.value_or(1000);
  options.sse.draining = &draining_;
  options.sse.metrics = metrics_.ForRoute(route.path);
  options.sse.response_headers = config_.response_headers;
  options.sse.compression = SseCompressionFor(
      route.compression.has_value() ? route.compression : config_.compression);
  options.max_streams = route.max_streams;
  options.max_metadata_bytes = config_.max_metadata_bytes;
  options.global_limiter = &global_limiter_;
  options.forwarding =
      MetadataForwarding(config_.forward_headers, config_.token_query_param);
  if (route.fanout.has_value()) {
    if (fanout_hub_ == nullptr) fanout_hub_ = std::make_unique<FanoutHub>();
    StreamRouteOptions::Fanout fanout;
    fanout.hub = fanout_hub_.get();
    fanout.options.replay_events =
        static_cast<size_t>(route.fanout->replay_events);
    fanout.options.replay_age = route.fanout->replay_age;
    fanout.options.linger = route.fanout->linger;
    fanout.options.on_gap = route.fanout->on_gap;
    fanout.options.assign_ids = route.upstream.id_field.empty();
    fanout.options.retry_ms = route.upstream.retry_ms;
    fanout.is_public = route.fanout->is_public;
    fanout.observer = options.sse.metrics->EnableFanout();
    options.fanout = std::move(fanout);
  }
  options.on_finish = [this](const StreamRequestInfo& info,
                             const StreamOutcome& outcome) {
    LogStream(info, outcome);
  };
  auto stream_route = std::make_unique<StreamRoute>(
      route.path, *std::move(method), std::move(options));
  if (!planned.is_template) {
    routes_.AddExact(route.path, std::move(stream_route));
    return absl::OkStatus();
  }
  absl::StatusOr<PathTemplate> path_template = PathTemplate::Parse(route.path);
  if (!path_template.ok()) {
    return ConfigError(config_, planned.key, path_template.status());
  }
  routes_.AddTemplate(*std::move(path_template), std::move(stream_route));
  return absl::OkStatus();
}

absl::Status Gateway::AddMultiplexRoute() {
  if (!config_.multiplex.has_value()) return absl::OkStatus();
  const MultiplexConfig& multiplex = *config_.multiplex;
  if (std::optional<RouteTable::Match> taken = routes_.Find(multiplex.path)) {
    return ConfigError(
        config_, "multiplex.path",
        absl::InvalidArgumentError(absl::StrCat(
            "\"", multiplex.path, "\" is also served by the route ",
            taken->route->path())));
  }
  MultiplexRouteOptions options;
  options.path = multiplex.path;
  options.max_subscriptions = multiplex.max_subscriptions;
  options.routes = &routes_;
  options.sse.open_wait = config_.open_wait;
  options.sse.heartbeat = config_.heartbeat;
  options.sse.max_duration = multiplex.max_duration;
  options.sse.compression = SseCompressionFor(config_.compression);
  options.sse.draining = &draining_;
  options.sse.metrics = metrics_.ForRoute(multiplex.path);
  options.on_finish = [this](const StreamRequestInfo& info,
                             const StreamOutcome& outcome) {
    LogStream(info, outcome);
  };
  multiplex_ = std::make_unique<MultiplexRoute>(std::move(options));
  return absl::OkStatus();
}

Gateway::Gateway(GatewayConfig config, std::unique_ptr<Schema> schema,
                 std::vector<std::unique_ptr<BackendPool>> backends,
                 std::vector<std::string> route_names)
    : config_(std::move(config)),
      schema_(std::move(schema)),
      backends_(std::move(backends)),
      global_limiter_(config_.max_streams),
      metrics_(std::move(route_names)) {
  server_.set_pre_routing_handler(
      [this](const httplib::Request& request, httplib::Response& response) {
        Dispatch(request, response);
        return httplib::Server::HandlerResponse::Handled;
      });
}

Gateway::~Gateway() { Stop(); }

void Gateway::LogStream(const StreamRequestInfo& info,
                        const StreamOutcome& outcome) {
  if (access_log_ == nullptr) return;
  StreamRecord record;
  record.route = info.route;
  record.remote = info.remote;
  record.protocol = info.protocol;
  record.http_status = outcome.http_status;
  record.grpc_code = outcome.code;
  record.events = outcome.events;
  record.bytes = outcome.bytes;
  record.duration = outcome.duration;
  record.reason = outcome.reason;
  record.last_event_id = info.last_event_id.value_or("");
  access_log_->Write(record);
}

absl::Status Gateway::Start() {
  ASSIGN_OR_RETURN(Listener listener,
                   ListenOn(config_.listen.host, config_.listen.port));
  port_ = listener.port;
  ServerLoopsOptions options;
  options.threads = LoopThreads(config_.event_loops);
  options.limits.head_timeout = config_.head_timeout;
  options.limits.idle_timeout = config_.idle_timeout;
  options.limits.write_timeout = config_.write_timeout;
  options.max_connections = MaxConnections(config_.max_connections);
  options.tls = tls_;
  options.draining = &draining_;
  const Http2Config& http2 = config_.http2;
  options.limits.http2.enabled = http2.enabled;
  options.limits.http2.max_concurrent_streams =
      static_cast<uint32_t>(http2.max_concurrent_streams);
  options.limits.http2.initial_window_size =
      static_cast<uint32_t>(http2.initial_window_size);
  options.limits.http2.connection_window_size =
      static_cast<uint32_t>(http2.connection_window_size);
  options.limits.http2.max_header_list_bytes =
      static_cast<uint32_t>(http2.max_header_list_bytes);
  options.limits.http2.reset_burst = static_cast<uint32_t>(http2.reset_burst);
  options.limits.http2.resets_per_second =
      static_cast<uint32_t>(http2.resets_per_second);
  // What httplib's Keep-Alive response header announces.
  server_.set_keep_alive_max_count(
      static_cast<size_t>(options.limits.max_requests));
  server_.set_keep_alive_timeout(
      std::max<time_t>(1, absl::ToInt64Seconds(absl::Ceil(config_.idle_timeout,
                                                          absl::Seconds(1)))));
  loops_ = std::make_unique<ServerLoops>(&server_, std::move(options));
  loops_->Start(std::move(listener.socket));
  return absl::OkStatus();
}

ServerStats Gateway::CurrentServerStats() const {
  ServerStats stats;
  if (loops_ == nullptr) return stats;
  const ServerLoops::Stats loops = loops_->stats();
  stats.open_connections = loops.open_connections;
  stats.accepted_connections = loops.accepted;
  stats.refused_connections = loops.refused;
  stats.head_timeouts = loops.head_timeouts;
  stats.http2_connections = loops.http2_connections;
  return stats;
}

bool Gateway::Drain(absl::Duration timeout) {
  draining_ = true;
  return global_limiter_.AwaitIdle(absl::Now() + timeout);
}

void Gateway::Stop() {
  absl::MutexLock lock(&stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  if (loops_ != nullptr) loops_->Stop();
}

bool Gateway::ServeOperations(const httplib::Request& request,
                              absl::string_view path,
                              httplib::Response& response) {
  if (request.method != "GET" && request.method != "HEAD") return false;
  if (path == kHealthzPath) {
    response.set_header("Cache-Control", "no-store");
    response.set_content("{\"alive\":true}", "application/json");
    return true;
  }
  if (path == kReadyzPath) {
    // Decided on the loop, which asks the channels to connect and looks
    // again at every scan: no thread waits for them.
    RequestContext::Current()->Defer(std::make_unique<ReadinessCheck>(
        &backends_, &draining_, response.headers, request.method == "HEAD",
        absl::Now()));
    return true;
  }
  if (path == kMetricsPath) {
    response.set_header("Cache-Control", "no-store");
    response.set_content(metrics_.RenderPrometheus(CurrentServerStats()),
                         "text/plain; version=0.0.4; charset=utf-8");
    return true;
  }
  return false;
}

void Gateway::Dispatch(const httplib::Request& request,
                       httplib::Response& response) {
  // Routing is on the path exactly as sent: httplib's request.path is
  // decoded (even "%u006d"-style escapes), which let "/%6detrics" reach
  // /metrics and decoded template variables twice. Exact routes match the
  // raw bytes; template variables are decoded once, by PathTemplate.
  const absl::string_view path = PathOfTarget(request.target);
  if (!PercentDecode(path, /*plus_is_space=*/false,
                     /*keep_escaped_slash=*/false)
           .has_value()) {
    WriteErrorResponse(
        absl::InvalidArgumentError(absl::StrCat(
            "the path ", Abbreviated(path),
            " has a malformed percent-escape (% must be followed by two "
            "hex digits)")),
        response);
    return;
  }
  const std::optional<RouteTable::Match> route = routes_.Find(path);
  const bool is_multiplex = multiplex_ != nullptr && path == multiplex_->path();
  if (cors_.has_value()) {
    if (CorsPolicy::IsPreflight(request) &&
        (route.has_value() || is_multiplex)) {
      cors_->ServePreflight(request, response);
      return;
    }
    cors_->AddResponseHeaders(request, response);
  }
  if (ServeOperations(request, path, response)) return;
  if (path == "/" && index_page_.has_value()) {
    if (request.method != "GET" && request.method != "HEAD") {
      WriteMethodNotAllowed(request, path, "GET, HEAD", response);
      return;
    }
    response.set_header("Cache-Control", "no-cache");
    response.set_content(*index_page_, "text/html; charset=utf-8");
    return;
  }
  if (is_multiplex) {
    if (request.method != "GET") {
      WriteMethodNotAllowed(request, path, "GET", response);
      return;
    }
    multiplex_->Handle(request, response);
    return;
  }
  if (!route.has_value()) {
    WriteErrorResponse(
        absl::NotFoundError(absl::StrCat("no route for ", Abbreviated(path))),
        response);
    return;
  }
  if (request.method != "GET") {
    WriteMethodNotAllowed(request, path, "GET", response);
    return;
  }
  route->route->Handle(request, response, route->bindings);
}

}  // namespace sse_gateway
