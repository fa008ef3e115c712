#include "gateway/gateway.h"

#include <sys/socket.h>

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
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel(config.backend, grpc::InsecureChannelCredentials());
  std::unique_ptr<Gateway> gateway(
      new Gateway(config, *std::move(schema), std::move(channel)));

  if (config.index_page.has_value()) {
    absl::StatusOr<std::string> page = ReadFile(*config.index_page);
    if (!page.ok()) return ConfigError(config, "index_page", page.status());
    gateway->index_page_ = *std::move(page);
  }
  for (size_t i = 0; i < config.routes.size(); ++i) {
    const RouteConfig& route = config.routes[i];
    absl::StatusOr<std::unique_ptr<StreamMethod>> method = StreamMethod::Create(
        gateway->schema_.get(), gateway->channel_, route.upstream);
    if (!method.ok()) {
      // StreamMethod's messages start with the option name ("method: ...").
      return absl::Status(method.status().code(),
                          absl::StrCat(config.file, ": routes[", i, "].",
                                       method.status().message()));
    }
    gateway->routes_.emplace(
        route.path, std::make_unique<StreamRoute>(
                        route.path, *std::move(method), config.open_wait));
  }
  return gateway;
}

Gateway::Gateway(GatewayConfig config, std::unique_ptr<Schema> schema,
                 std::shared_ptr<grpc::Channel> channel)
    : config_(std::move(config)),
      schema_(std::move(schema)),
      channel_(std::move(channel)) {
  server_.new_task_queue = [] { return new ConnectionThreads(); };
  server_.set_socket_options([this](int socket) {
    int yes = 1;
    setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    listen_socket_ = socket;
  });
  server_.set_tcp_nodelay(true);
  server_.set_pre_routing_handler(
      [this](const httplib::Request& request, httplib::Response& response) {
        Dispatch(request, response);
        return httplib::Server::HandlerResponse::Handled;
      });
}

Gateway::~Gateway() { Stop(); }

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

void Gateway::Stop() {
  absl::MutexLock lock(&stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  server_.stop();
  if (serve_thread_.joinable()) serve_thread_.join();
}

void Gateway::Dispatch(const httplib::Request& request,
                       httplib::Response& response) {
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
