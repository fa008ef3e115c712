#include "gateway/gateway.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gateway/connection_threads.h"
#include "gateway/event_stream_response.h"
#include "gateway/http_status.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace sse_gateway {
namespace {

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

}  // namespace

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Create(
    const GatewayConfig& config) {
  absl::StatusOr<std::unique_ptr<Schema>> schema =
      Schema::LoadDescriptorSetFiles(config.descriptor_sets);
  if (!schema.ok()) {
    return ConfigError(config, "descriptor_sets", schema.status());
  }
  absl::StatusOr<std::vector<std::unique_ptr<BackendPool>>> backends =
      CreateBackendPools(config);
  if (!backends.ok()) return backends.status();
  std::unique_ptr<Gateway> gateway(
      new Gateway(config, *std::move(schema), *std::move(backends)));

  if (config.access_log == "stderr") {
    gateway->access_log_ = std::make_unique<AccessLog>(stderr);
  } else if (config.access_log == "stdout") {
    gateway->access_log_ = std::make_unique<AccessLog>(stdout);
  } else if (config.access_log != "off") {
    gateway->access_log_file_ = std::fopen(config.access_log.c_str(), "a");
    if (gateway->access_log_file_ == nullptr) {
      return ConfigError(config, "access_log",
                         absl::InvalidArgumentError(absl::StrCat(
                             "cannot open ", config.access_log,
                             " for appending: ", std::strerror(errno))));
    }
    gateway->access_log_ =
        std::make_unique<AccessLog>(gateway->access_log_file_);
  }
  if (config.index_page.has_value()) {
    absl::StatusOr<std::string> page = ReadFile(*config.index_page);
    if (!page.ok()) return ConfigError(config, "index_page", page.status());
    gateway->index_page_ = *std::move(page);
  }
  if (config.cors.has_value()) {
    gateway->cors_.emplace(*config.cors, config.forward_headers,
                           config.response_headers);
  }
  for (size_t i = 0; i < config.routes.size(); ++i) {
    const RouteConfig& route = config.routes[i];
    absl::StatusOr<const BackendPool*> backend =
        FindBackend(gateway->backends_, route.backend);
    if (!backend.ok()) {
      return ConfigError(config, absl::StrCat("routes[", i, "].backend"),
                         backend.status());
    }
    absl::StatusOr<std::unique_ptr<StreamMethod>> method = StreamMethod::Create(
        gateway->schema_.get(), (*backend)->channels(), route.upstream);
    if (!method.ok()) {
      // StreamMethod's messages start with the option name ("method: ...").
      return absl::Status(method.status().code(),
                          absl::StrCat(config.file, ": routes[", i, "].",
                                       method.status().message()));
    }
    StreamRouteOptions options;
    options.sse.open_wait = config.open_wait;
    options.sse.heartbeat = route.heartbeat.value_or(config.heartbeat);
    options.sse.max_duration = route.max_duration;
    options.sse.reconnect_retry_ms = route.upstream.retry_ms.value_or(1000);
    options.sse.draining = &gateway->draining_;
    options.sse.metrics = gateway->metrics_.ForRoute(route.path);
    options.max_streams = route.max_streams;
    options.global_limiter = &gateway->global_limiter_;
    Gateway* self = gateway.get();
    options.forwarding =
        MetadataForwarding(config.forward_headers, config.token_query_param);
    options.sse.response_headers = config.response_headers;
    options.on_finish = [self](const StreamRequestInfo& info,
                               const StreamOutcome& outcome) {
      self->LogStream(info, outcome);
    };
    gateway->routes_.emplace(
        route.path, std::make_unique<StreamRoute>(
                        route.path, *std::move(method), std::move(options)));
  }
  return gateway;
}

Gateway::Gateway(GatewayConfig config, std::unique_ptr<Schema> schema,
                 std::vector<std::unique_ptr<BackendPool>> backends)
    : config_(std::move(config)),
      schema_(std::move(schema)),
      backends_(std::move(backends)),
      global_limiter_(config_.max_streams),
      metrics_([this] {
        std::vector<std::string> paths;
        for (const RouteConfig& route : config_.routes) {
          paths.push_back(route.path);
        }
        return paths;
      }()) {
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

Gateway::~Gateway() {
  Stop();
  if (access_log_file_ != nullptr) std::fclose(access_log_file_);
}

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
}

void Gateway::Dispatch(const httplib::Request& request,
                       httplib::Response& response) {
  if (cors_.has_value()) {
    if (CorsPolicy::IsPreflight(request) && routes_.contains(request.path)) {
      cors_->ServePreflight(request, response);
      return;
    }
    cors_->AddResponseHeaders(request, response);
  }
  if (request.method == "GET" || request.method == "HEAD") {
    if (request.path == kHealthzPath) {
      response.set_header("Cache-Control", "no-store");
      response.set_content("{\"alive\":true}", "application/json");
      return;
    }
    if (request.path == kReadyzPath) {
      ServeReadiness(response);
      return;
    }
    if (request.path == kMetricsPath) {
      response.set_header("Cache-Control", "no-store");
      response.set_content(metrics_.RenderPrometheus(),
                           "text/plain; version=0.0.4; charset=utf-8");
      return;
    }
  }
  auto route = routes_.find(request.path);
  bool is_index = request.path == "/" && index_page_.has_value();
  if (route == routes_.end() && !is_index) {
    WriteErrorResponse(
        absl::NotFoundError(absl::StrCat("no route for ", request.path)),
        response);
    return;
  }
  if (is_index && (request.method == "GET" || request.method == "HEAD")) {
    response.set_header("Cache-Control", "no-cache");
    response.set_content(*index_page_, "text/html; charset=utf-8");
    return;
  }
  if (request.method != "GET") {
    response.set_header("Allow", is_index ? "GET, HEAD" : "GET");
    WriteErrorResponse(
        absl::UnimplementedError(absl::StrCat(
            "method ", request.method, " is not allowed on ", request.path)),
        response);
    response.status = 405;
    return;
  }
  route->second->Handle(request, response);
}

}  // namespace sse_gateway
