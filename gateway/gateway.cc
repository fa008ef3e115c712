#include "gateway/gateway.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/reflection_client.h"
#include "gateway/annotated_routes.h"
#include "gateway/connection_threads.h"
#include "gateway/event_stream_response.h"
#include "gateway/http_status.h"
#include "gateway/query_string.h"
#include "gateway/tls_server_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace sse_gateway {
namespace {

// Event-loop threads of the StreamPump: one per two cores (gRPC's own
// threads take the rest), at least one, at most four.
size_t PumpThreads() {
  const size_t cores = std::max(1u, std::thread::hardware_concurrency());
  return std::clamp<size_t>(cores / 2, 1, 4);
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

// How long start-up may spend reading a backend's schema by reflection.
constexpr absl::Duration kReflectionTimeout = absl::Seconds(10);

absl::Status ConfigError(const GatewayConfig& config, absl::string_view key,
                         const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(config.file, ": ", key, ": ",
                                                  status.message()));
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The schema from the descriptor sets, or else from every backend's server
// reflection (files merged by name).
absl::StatusOr<std::unique_ptr<Schema>> LoadSchema(
    const GatewayConfig& config,
    const std::vector<std::unique_ptr<BackendPool>>& backends) {
  if (!config.descriptor_sets.empty()) {
    return Schema::LoadDescriptorSetFiles(config.descriptor_sets);
  }
  google::protobuf::FileDescriptorSet merged;
  std::set<std::string> names;
  for (const std::unique_ptr<BackendPool>& backend : backends) {
    absl::StatusOr<google::protobuf::FileDescriptorSet> set =
        FetchSchemaByReflection(backend->channels().front(),
                                kReflectionTimeout);
    if (!set.ok()) {
      return absl::Status(
          set.status().code(),
          absl::StrCat("none given, and backend \"", backend->config().name,
                       "\" (", backend->config().address,
                       "): ", set.status().message()));
    }
    for (google::protobuf::FileDescriptorProto& file : *set->mutable_file()) {
      if (names.insert(file.name()).second)
        *merged.add_file() = std::move(file);
    }
  }
  return Schema::FromDescriptorSet(merged);
}

// The routes the schema's google.api.http annotations declare, as route
// configs with default options, for the methods no explicit route serves.
std::vector<RouteConfig> AnnotatedRouteConfigs(const GatewayConfig& config,
                                               const Schema& schema) {
  std::set<std::string> explicit_methods;
  for (const RouteConfig& route : config.routes) {
    absl::StatusOr<const google::protobuf::MethodDescriptor*> method =
        schema.FindServerStreamingMethod(route.upstream.method);
    if (method.ok()) explicit_methods.insert((*method)->full_name());
  }
  std::vector<RouteConfig> routes;
  for (const AnnotatedRoute& annotated : FindAnnotatedStreamRoutes(schema)) {
    if (explicit_methods.count(annotated.method->full_name()) > 0) continue;
    RouteConfig route;
    route.path = annotated.path_template;
    route.upstream.method = annotated.method_name;
    routes.push_back(std::move(route));
  }
  return routes;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Create(
    const GatewayConfig& config) {
  absl::StatusOr<std::vector<std::unique_ptr<BackendPool>>> backends =
      CreateBackendPools(config);
  if (!backends.ok()) return backends.status();
  absl::StatusOr<std::unique_ptr<Schema>> schema =
      LoadSchema(config, *backends);
  if (!schema.ok()) {
    return ConfigError(config, "descriptor_sets", schema.status());
  }
  // Explicit routes first, then those from annotations (path templates).
  std::vector<RouteConfig> routes = config.routes;
  const size_t explicit_routes = routes.size();
  if (config.routes_from_annotations) {
    std::vector<RouteConfig> annotated =
        AnnotatedRouteConfigs(config, **schema);
    routes.insert(routes.end(), annotated.begin(), annotated.end());
  }
  std::vector<std::string> route_names;
  for (const RouteConfig& route : routes) route_names.push_back(route.path);
  std::unique_ptr<Gateway> gateway(new Gateway(config, *std::move(schema),
                                               *std::move(backends),
                                               std::move(route_names)));

  AccessLogOptions log_options;
  log_options.max_queued_lines =
      static_cast<size_t>(config.access_log_queue_lines);
  Metrics* metrics = &gateway->metrics_;
  log_options.on_dropped = [metrics] { metrics->AccessLogLineDropped(); };
  if (config.access_log == "stderr") {
    gateway->access_log_ = std::make_unique<AccessLog>(stderr, log_options);
  } else if (config.access_log == "stdout") {
    gateway->access_log_ = std::make_unique<AccessLog>(stdout, log_options);
  } else if (config.access_log != "off") {
    absl::StatusOr<std::unique_ptr<AccessLog>> log =
        AccessLog::OpenFile(config.access_log, log_options);
    if (!log.ok()) return ConfigError(config, "access_log", log.status());
    gateway->access_log_ = *std::move(log);
  }
  if (config.index_page.has_value()) {
    absl::StatusOr<std::string> page = ReadFile(*config.index_page);
    if (!page.ok()) return ConfigError(config, "index_page", page.status());
    gateway->index_page_ = *std::move(page);
  }
  if (config.tls.has_value()) {
    absl::StatusOr<std::unique_ptr<TlsServerContext>> tls =
        TlsServerContext::Create(config.tls->cert_file, config.tls->key_file);
    if (!tls.ok()) {  // The message starts with the field: "cert_file: ...".
      return absl::Status(
          tls.status().code(),
          absl::StrCat(config.file, ": tls.", tls.status().message()));
    }
    gateway->server_.set_tls(*std::move(tls));
  }
  if (config.cors.has_value()) {
    gateway->cors_.emplace(*config.cors, config.forward_headers,
                           config.response_headers);
  }
  for (size_t i = 0; i < routes.size(); ++i) {
    const RouteConfig& route = routes[i];
    // Where an error points: the route's key, or the annotation.
    const std::string key =
        i < explicit_routes
            ? absl::StrCat("routes[", i, "]")
            : absl::StrCat("routes_from_annotations (", route.upstream.method,
                           " at ", route.path, ")");
    absl::StatusOr<const BackendPool*> backend =
        FindBackend(gateway->backends_, route.backend);
    if (!backend.ok()) {
      return ConfigError(config, key + ".backend", backend.status());
    }
    absl::StatusOr<std::unique_ptr<StreamMethod>> method = StreamMethod::Create(
        gateway->schema_.get(), (*backend)->channels(), route.upstream);
    if (!method.ok()) {
      // StreamMethod's messages start with the option name ("method: ...").
      return absl::Status(
          method.status().code(),
          absl::StrCat(config.file, ": ", key, ".", method.status().message()));
    }
    std::optional<PathTemplate> path_template;
    if (i >= explicit_routes) {
      absl::StatusOr<PathTemplate> parsed = PathTemplate::Parse(route.path);
      if (!parsed.ok()) return ConfigError(config, key, parsed.status());
      path_template = *std::move(parsed);
    }
    StreamRouteOptions options;
    options.sse.open_wait = config.open_wait;
    options.sse.heartbeat = route.heartbeat.value_or(config.heartbeat);
    options.sse.max_duration = route.max_duration;
    options.sse.reconnect_retry_ms = route.upstream.retry_ms.value_or(1000);
    options.sse.draining = &gateway->draining_;
    options.sse.pump = &gateway->pump_;
    options.sse.metrics = gateway->metrics_.ForRoute(route.path);
    options.max_streams = route.max_streams;
    options.max_metadata_bytes = config.max_metadata_bytes;
    options.global_limiter = &gateway->global_limiter_;
    Gateway* self = gateway.get();
    options.forwarding =
        MetadataForwarding(config.forward_headers, config.token_query_param);
    options.sse.response_headers = config.response_headers;
    options.on_finish = [self](const StreamRequestInfo& info,
                               const StreamOutcome& outcome) {
      self->LogStream(info, outcome);
    };
    auto stream_route = std::make_unique<StreamRoute>(
        route.path, *std::move(method), std::move(options));
    if (path_template.has_value()) {
      gateway->template_routes_.emplace_back(*std::move(path_template),
                                             std::move(stream_route));
    } else {
      gateway->routes_.emplace(route.path, std::move(stream_route));
    }
  }
  std::stable_sort(gateway->template_routes_.begin(),
                   gateway->template_routes_.end(),
                   [](const auto& a, const auto& b) {
                     return a.first.literal_prefix() > b.first.literal_prefix();
                   });
  return gateway;
}

Gateway::Gateway(GatewayConfig config, std::unique_ptr<Schema> schema,
                 std::vector<std::unique_ptr<BackendPool>> backends,
                 std::vector<std::string> route_names)
    : config_(std::move(config)),
      schema_(std::move(schema)),
      backends_(std::move(backends)),
      global_limiter_(config_.max_streams),
      metrics_(std::move(route_names)),
      pump_(PumpThreads()) {
  server_.new_task_queue = [] { return new ConnectionThreads(); };
  server_.set_socket_options([this](int socket) {
    int yes = 1;
    setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    listen_socket_ = socket;
  });
  server_.set_tcp_nodelay(true);
  server_.set_write_timeout(std::chrono::microseconds(
      absl::ToInt64Microseconds(config_.write_timeout)));
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
  record.http_status = outcome.http_status;
  record.grpc_code = outcome.code;
  record.events = outcome.events;
  record.bytes = outcome.bytes;
  record.duration = outcome.duration;
  record.reason = outcome.reason;
  record.last_event_id = info.last_event_id.value_or("");
  access_log_->Write(record);
}

void Gateway::ServeReadiness(httplib::Response& response) {
  const BackendReadiness backends =
      CheckBackendReadiness(backends_, absl::Now() + absl::Seconds(1));
  const bool draining = draining_.load();
  const bool ready = !draining && backends.all_ready;
  response.status = ready ? 200 : 503;
  response.set_header("Cache-Control", "no-store");
  response.set_content(
      absl::StrCat("{\"ready\":", ready ? "true" : "false",
                   ",\"draining\":", draining ? "true" : "false",
                   ",\"backend\":", JsonQuote(backends_[0]->config().address),
                   ",\"backend_state\":\"", backends.first_not_ready_state,
                   "\",\"backends\":", backends.json, "}"),
      "application/json");
}

absl::Status Gateway::Start() {
  const ListenAddress& listen = config_.listen;
  if (listen.port == 0) {
    port_ = server_.bind_to_any_port(listen.host);
    if (port_ < 0) port_ = 0;
  } else if (server_.bind_to_port(listen.host, listen.port)) {
    port_ = listen.port;
  }
  if (port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", listen.host, ":", listen.port,
                     " (address in use, or not an address of this machine)"));
  }
  // httplib listens with a tiny fixed backlog; a burst of browsers connecting
  // at once needs a real one. listen() again only raises the backlog.
  if (listen_socket_ >= 0) ::listen(listen_socket_, SOMAXCONN);
  serve_thread_ = std::thread([this] { server_.listen_after_bind(); });
  // Stop() only takes effect once the accept loop runs; wait for it.
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!server_.is_running()) {
    if (absl::Now() > deadline) {
      return absl::InternalError("the HTTP server did not start");
    }
    absl::SleepFor(absl::Milliseconds(1));
  }
  return absl::OkStatus();
}

bool Gateway::Drain(absl::Duration timeout) {
  draining_ = true;
  absl::Time deadline = absl::Now() + timeout;
  while (global_limiter_.active() > 0) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

void Gateway::Stop() {
  absl::MutexLock lock(&stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  server_.stop();
  if (serve_thread_.joinable()) serve_thread_.join();
  pump_.Stop();
}

void Gateway::Dispatch(const httplib::Request& request,
                       httplib::Response& response) {
  // httplib hands header values out as C strings, which would silently cut a
  // value at a NUL; RFC 9110 forbids NUL in field values.
  for (const auto& [name, value] : request.headers) {
    if (value.find('\0') != std::string::npos) {
      WriteErrorResponse(absl::InvalidArgumentError(absl::StrCat(
                             "header ", name, " contains a NUL byte")),
                         response);
      return;
    }
  }
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
  if (cors_.has_value()) {
    if (CorsPolicy::IsPreflight(request) &&
        (routes_.contains(path) ||
         std::any_of(template_routes_.begin(), template_routes_.end(),
                     [&](const auto& entry) {
                       return entry.first.Match(path).has_value();
                     }))) {
      cors_->ServePreflight(request, response);
      return;
    }
    cors_->AddResponseHeaders(request, response);
  }
  if (request.method == "GET" || request.method == "HEAD") {
    if (path == kHealthzPath) {
      response.set_header("Cache-Control", "no-store");
      response.set_content("{\"alive\":true}", "application/json");
      return;
    }
    if (path == kReadyzPath) {
      ServeReadiness(response);
      return;
    }
    if (path == kMetricsPath) {
      response.set_header("Cache-Control", "no-store");
      response.set_content(metrics_.RenderPrometheus(),
                           "text/plain; version=0.0.4; charset=utf-8");
      return;
    }
  }
  auto route = routes_.find(path);
  bool is_index = path == "/" && index_page_.has_value();
  if (route == routes_.end() && !is_index) {
    for (const auto& [path_template, template_route] : template_routes_) {
      std::optional<PathTemplate::Bindings> bindings =
          path_template.Match(path);
      if (!bindings.has_value()) continue;
      if (request.method != "GET") {
        WriteMethodNotAllowed(request, path, "GET", response);
        return;
      }
      template_route->Handle(request, response, *bindings);
      return;
    }
    WriteErrorResponse(
        absl::NotFoundError(absl::StrCat("no route for ", Abbreviated(path))),
        response);
    return;
  }
  if (is_index && (request.method == "GET" || request.method == "HEAD")) {
    response.set_header("Cache-Control", "no-cache");
    response.set_content(*index_page_, "text/html; charset=utf-8");
    return;
  }
  if (request.method != "GET") {
    WriteMethodNotAllowed(request, path, is_index ? "GET, HEAD" : "GET",
                          response);
    return;
  }
  route->second->Handle(request, response);
}

}  // namespace sse_gateway
