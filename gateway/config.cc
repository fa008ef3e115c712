#include "gateway/config.h"

#include <algorithm>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/grpc_stream_call.h"
#include "gateway/config_internal.h"
#include "gateway/metadata_forwarding.h"
#include "yaml-cpp/yaml.h"

namespace sse_gateway {
namespace {
using config_internal::CheckRouteBackends;
using config_internal::ConfigReader;
using config_internal::ParseBackends;
using config_internal::ParseCredentialsConfig;
using config_internal::ParseListenTls;
using config_internal::ResolvePath;

absl::Status CheckEventName(absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("must not be empty");
  for (char c : name) {
    if (c == '\r' || c == '\n' || c == '\0') {
      return absl::InvalidArgumentError("must not contain CR, LF or NUL");
    }
  }
  if (name == kEndEventName) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", kEndEventName, "\" is reserved for the gateway's final event"));
  }
  if (name == "error") {
    return absl::InvalidArgumentError(
        "\"error\" collides with EventSource's own error event");
  }
  return absl::OkStatus();
}

absl::Status CheckRoutePath(absl::string_view path) {
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError("must start with '/'");
  }
  for (absl::string_view reserved : {kHealthzPath, kReadyzPath, kMetricsPath}) {
    if (path == reserved) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", path, "\" is served by the gateway itself"));
    }
  }
  for (char c : path) {
    if (c == '?' || c == '#' || c == '%' ||
        absl::ascii_isspace(static_cast<unsigned char>(c)) ||
        absl::ascii_iscntrl(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(
          "must be a plain path without query, fragment, escapes or spaces");
    }
  }
  return absl::OkStatus();
}

absl::Status ParseJsonOptions(const ConfigReader& reader,
                              const YAML::Node& node, const std::string& key,
                              JsonOptions* options) {
  if (!node.IsMap()) return reader.Error(key, "must be a map");
  absl::Status status = reader.CheckKeys(
      node, key, {"emit_defaults", "use_proto_names", "enums_as_ints"});
  if (!status.ok()) return status;
  const std::pair<const char*, bool*> fields[] = {
      {"emit_defaults", &options->emit_defaults},
      {"use_proto_names", &options->use_proto_names},
      {"enums_as_ints", &options->enums_as_ints},
  };
  for (const auto& [name, target] : fields) {
    if (!node[name]) continue;
    absl::StatusOr<bool> value =
        reader.Bool(node[name], absl::StrCat(key, ".", name));
    if (!value.ok()) return value.status();
    *target = *value;
  }
  return absl::OkStatus();
}

absl::Status ParseRouteBackend(const ConfigReader& reader,
                               const YAML::Node& node, const std::string& key,
                               RouteConfig* route) {
  if (!node["backend"]) return absl::OkStatus();
  absl::StatusOr<std::string> name =
      reader.String(node["backend"], key + ".backend");
  if (!name.ok()) return name.status();
  if (name->empty()) return reader.Error(key + ".backend", "must not be empty");
  route->backend = *name;
  return absl::OkStatus();
}

absl::StatusOr<RouteConfig> ParseRoute(const ConfigReader& reader,
                                       const YAML::Node& node,
                                       const std::string& key) {
  if (!node.IsMap()) return reader.Error(key, "must be a map");
  absl::Status status =
      reader.CheckKeys(node, key,
                       {"path", "method", "event", "id_field", "resume_field",
                        "retry_ms", "json", "heartbeat_ms", "max_streams",
                        "max_duration_ms", "timeout_ms", "backend"});
  if (!status.ok()) return status;

  RouteConfig route;
  for (const char* required : {"path", "method"}) {
    if (!node[required]) {
      return reader.Error(absl::StrCat(key, ".", required), "is required");
    }
  }
  const std::pair<const char*, std::string*> strings[] = {
      {"path", &route.path},
      {"method", &route.upstream.method},
      {"id_field", &route.upstream.id_field},
      {"resume_field", &route.upstream.resume_field},
  };
  for (const auto& [name, target] : strings) {
    if (!node[name]) continue;
    absl::StatusOr<std::string> value =
        reader.String(node[name], absl::StrCat(key, ".", name));
    if (!value.ok()) return value.status();
    *target = *value;
  }
  status = CheckRoutePath(route.path);
  if (!status.ok()) return reader.Error(key + ".path", status.message());
  if (route.upstream.method.empty()) {
    return reader.Error(key + ".method", "must not be empty");
  }
  if (node["event"]) {
    absl::StatusOr<std::string> event =
        reader.String(node["event"], key + ".event");
    if (!event.ok()) return event.status();
    status = CheckEventName(*event);
    if (!status.ok()) return reader.Error(key + ".event", status.message());
    route.upstream.event = *event;
  }
  if (node["retry_ms"]) {
    absl::StatusOr<int64_t> retry =
        reader.NonNegativeInt(node["retry_ms"], key + ".retry_ms");
    if (!retry.ok()) return retry.status();
    route.upstream.retry_ms = *retry;
  }
  if (node["json"]) {
    status = ParseJsonOptions(reader, node["json"], key + ".json",
                              &route.upstream.json);
    if (!status.ok()) return status;
  }
  if (node["heartbeat_ms"]) {
    absl::StatusOr<absl::Duration> heartbeat =
        reader.Heartbeat(node["heartbeat_ms"], key + ".heartbeat_ms");
    if (!heartbeat.ok()) return heartbeat.status();
    route.heartbeat = *heartbeat;
  }
  if (node["max_streams"]) {
    absl::StatusOr<int64_t> max =
        reader.NonNegativeInt(node["max_streams"], key + ".max_streams");
    if (!max.ok()) return max.status();
    route.max_streams = *max;
  }
  if (node["max_duration_ms"]) {
    absl::StatusOr<absl::Duration> duration = reader.PositiveMillis(
        node["max_duration_ms"], key + ".max_duration_ms");
    if (!duration.ok()) return duration.status();
    route.max_duration = *duration;
  }
  if (node["timeout_ms"]) {
    absl::StatusOr<absl::Duration> timeout =
        reader.PositiveMillis(node["timeout_ms"], key + ".timeout_ms");
    if (!timeout.ok()) return timeout.status();
    route.upstream.timeout = *timeout;
  }
  status = ParseRouteBackend(reader, node, key, &route);
  if (!status.ok()) return status;
  return route;
}

// Every route names a known backend, and names one when there are several.
// routes_from_annotations: bool; needs a single backend (the annotated
// methods are served by it).
absl::Status ParseAnnotationRouting(const ConfigReader& reader,
                                    const YAML::Node& root,
                                    GatewayConfig* config) {
  if (!root["routes_from_annotations"]) return absl::OkStatus();
  absl::StatusOr<bool> enabled =
      reader.Bool(root["routes_from_annotations"], "routes_from_annotations");
  if (!enabled.ok()) return enabled.status();
  config->routes_from_annotations = *enabled;
  if (*enabled && EffectiveBackends(*config).size() != 1) {
    return reader.Error("routes_from_annotations",
                        "needs exactly one backend (annotated methods have no "
                        "backend name)");
  }
  return absl::OkStatus();
}

absl::StatusOr<GatewayConfig> ParseConfigRoot(const YAML::Node& root,
                                              const std::string& file,
                                              const std::string& base_dir) {
  ConfigReader reader(file);
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ": the config must be a YAML (or JSON) map"));
  }
  absl::Status status = reader.CheckKeys(root, "",
                                         {"listen",
                                          "backend",
                                          "backend_tls",
                                          "backends",
                                          "descriptor_sets",
                                          "index_page",
                                          "open_wait_ms",
                                          "heartbeat_ms",
                                          "write_timeout_ms",
                                          "max_streams",
                                          "drain_timeout_ms",
                                          "access_log",
                                          "access_log_queue_lines",
                                          "max_metadata_bytes",
                                          "routes",
                                          "forward_headers",
                                          "token_query_param",
                                          "response_headers",
                                          "cors",
                                          "routes_from_annotations",
                                          "tls"});
  if (!status.ok()) return status;

  GatewayConfig config;
  config.file = file;
  if (!root["listen"]) return reader.Error("listen", "is required");

  absl::StatusOr<std::string> listen = reader.String(root["listen"], "listen");
  if (!listen.ok()) return listen.status();
  absl::StatusOr<ListenAddress> address = ParseListenAddress(*listen);
  if (!address.ok()) return reader.Error("listen", address.status().message());
  config.listen = *address;

  status = ParseBackends(reader, root, base_dir, &config);
  if (!status.ok()) return status;

  status = ParseListenTls(reader, root, base_dir, &config);
  if (!status.ok()) return status;

  // Without descriptor sets the schema comes from server reflection.
  const YAML::Node& sets = root["descriptor_sets"];
  if (sets && (!sets.IsSequence() || sets.size() == 0)) {
    return reader.Error("descriptor_sets",
                        "must be a non-empty list of FileDescriptorSet files "
                        "(leave it out to use server reflection)");
  }
  for (size_t i = 0; sets && i < sets.size(); ++i) {
    std::string key = absl::StrCat("descriptor_sets[", i, "]");
    absl::StatusOr<std::string> path = reader.String(sets[i], key);
    if (!path.ok()) return path.status();
    if (path->empty()) return reader.Error(key, "must not be empty");
    config.descriptor_sets.push_back(ResolvePath(base_dir, *path));
  }

  if (root["index_page"]) {
    absl::StatusOr<std::string> page =
        reader.String(root["index_page"], "index_page");
    if (!page.ok()) return page.status();
    if (page->empty()) return reader.Error("index_page", "must not be empty");
    config.index_page = ResolvePath(base_dir, *page);
  }

  if (root["open_wait_ms"]) {
    absl::StatusOr<int64_t> wait =
        reader.NonNegativeInt(root["open_wait_ms"], "open_wait_ms");
    if (!wait.ok()) return wait.status();
    config.open_wait = absl::Milliseconds(*wait);
  }

  if (root["heartbeat_ms"]) {
    absl::StatusOr<absl::Duration> heartbeat =
        reader.Heartbeat(root["heartbeat_ms"], "heartbeat_ms");
    if (!heartbeat.ok()) return heartbeat.status();
    config.heartbeat = *heartbeat;
  }
  if (root["write_timeout_ms"]) {
    absl::StatusOr<absl::Duration> timeout =
        reader.PositiveMillis(root["write_timeout_ms"], "write_timeout_ms");
    if (!timeout.ok()) return timeout.status();
    config.write_timeout = *timeout;
  }
  if (root["max_streams"]) {
    absl::StatusOr<int64_t> max =
        reader.NonNegativeInt(root["max_streams"], "max_streams");
    if (!max.ok()) return max.status();
    config.max_streams = *max;
  }
  if (root["drain_timeout_ms"]) {
    absl::StatusOr<absl::Duration> drain =
        reader.PositiveMillis(root["drain_timeout_ms"], "drain_timeout_ms");
    if (!drain.ok()) return drain.status();
    config.drain_timeout = *drain;
  }

  if (root["access_log"]) {
    absl::StatusOr<std::string> log =
        reader.String(root["access_log"], "access_log");
    if (!log.ok()) return log.status();
    if (log->empty()) return reader.Error("access_log", "must not be empty");
    config.access_log = (*log == "stderr" || *log == "stdout" || *log == "off")
                            ? *log
                            : ResolvePath(base_dir, *log);
  }

  for (const auto& [key, field] :
       {std::pair{"access_log_queue_lines", &config.access_log_queue_lines},
        std::pair{"max_metadata_bytes", &config.max_metadata_bytes}}) {
    if (!root[key]) continue;
    absl::StatusOr<int64_t> value = reader.NonNegativeInt(root[key], key);
    if (!value.ok()) return value.status();
    if (*value == 0) return reader.Error(key, "must be positive");
    *field = *value;
  }

  status = ParseCredentialsConfig(reader, root, &config);
  if (!status.ok()) return status;

  status = ParseAnnotationRouting(reader, root, &config);
  if (!status.ok()) return status;

  const YAML::Node& routes = root["routes"];
  if (!routes && !config.routes_from_annotations) {
    return reader.Error("routes",
                        "is required (unless routes_from_annotations)");
  }
  if (routes && (!routes.IsSequence() ||
                 (routes.size() == 0 && !config.routes_from_annotations))) {
    return reader.Error("routes", "must be a non-empty list of routes");
  }
  absl::flat_hash_map<std::string, size_t> seen_paths;
  for (size_t i = 0; routes && i < routes.size(); ++i) {
    std::string key = absl::StrCat("routes[", i, "]");
    absl::StatusOr<RouteConfig> route = ParseRoute(reader, routes[i], key);
    if (!route.ok()) return route.status();
    auto [it, inserted] = seen_paths.emplace(route->path, i);
    if (!inserted) {
      return reader.Error(key + ".path",
                          absl::StrCat("duplicate path \"", route->path,
                                       "\" (also routes[", it->second, "])"));
    }
    if (route->path == "/" && config.index_page.has_value()) {
      return reader.Error(key + ".path", "\"/\" is taken by index_page");
    }
    config.routes.push_back(*std::move(route));
  }
  status = CheckRouteBackends(reader, config);
  if (!status.ok()) return status;
  return config;
}

bool ParsePort(absl::string_view text, int* port) {
  if (text.empty() || text.size() > 5) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  int value;
  if (!absl::SimpleAtoi(text, &value) || value > 65535) return false;
  *port = value;
  return true;
}

// Splits "host:port" / "[v6]:port" into host (without brackets) and port.
absl::Status SplitHostPort(absl::string_view text, std::string* host,
                           int* port) {
  absl::string_view host_part;
  absl::string_view port_part;
  if (absl::StartsWith(text, "[")) {
    size_t close = text.find(']');
    if (close == absl::string_view::npos || close + 1 >= text.size() ||
        text[close + 1] != ':') {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", text, "\" is not of the form [host]:port"));
    }
    host_part = text.substr(1, close - 1);
    port_part = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos || text.find(':') != colon) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", text, "\" is not of the form host:port"));
    }
    host_part = text.substr(0, colon);
    port_part = text.substr(colon + 1);
  }
  if (host_part.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\" has an empty host"));
  }
  for (char c : host_part) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c)) ||
        absl::ascii_iscntrl(static_cast<unsigned char>(c)) || c == '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", text, "\" has an invalid host"));
    }
  }
  if (!ParsePort(port_part, port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\" has an invalid port (want 0-65535)"));
  }
  *host = std::string(host_part);
  return absl::OkStatus();
}

}  // namespace

std::vector<BackendConfig> EffectiveBackends(const GatewayConfig& config) {
  if (!config.backends.empty()) return config.backends;
  BackendConfig backend;
  backend.key = "backend";
  backend.name = std::string(kDefaultBackendName);
  backend.address = config.backend;
  backend.tls = config.backend_tls;
  return {backend};
}

absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view text) {
  ListenAddress address;
  absl::Status status = SplitHostPort(text, &address.host, &address.port);
  if (!status.ok()) return status;
  return address;
}

absl::Status CheckBackendAddress(absl::string_view target) {
  if (target.empty()) return absl::InvalidArgumentError("must not be empty");
  for (const char* scheme :
       {"dns:", "unix:", "unix-abstract:", "ipv4:", "ipv6:"}) {
    if (absl::StartsWith(target, scheme)) {
      if (target.size() == strlen(scheme)) {
        return absl::InvalidArgumentError(
            absl::StrCat("\"", target, "\" names no address"));
      }
      return absl::OkStatus();
    }
  }
  std::string host;
  int port;
  absl::Status status = SplitHostPort(target, &host, &port);
  if (!status.ok()) return status;
  if (port == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", target, "\" has port 0"));
  }
  return absl::OkStatus();
}

absl::StatusOr<GatewayConfig> ParseConfig(absl::string_view yaml,
                                          const std::string& file,
                                          const std::string& base_dir) {
  // yaml-cpp reports errors with exceptions; they stop here.
  try {
    YAML::Node root = YAML::Load(std::string(yaml));
    return ParseConfigRoot(root, file, base_dir);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ": invalid YAML: ", e.what()));
  }
}

absl::StatusOr<GatewayConfig> LoadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open config file"));
  }
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot read config file"));
  }
  size_t slash = path.rfind('/');
  std::string base_dir =
      slash == std::string::npos ? "" : path.substr(0, slash);
  if (slash == 0) base_dir = "/";
  return ParseConfig(text.str(), path, base_dir);
}

}  // namespace sse_gateway
