#include "gateway/config/config.h"

#include <algorithm>
#include <limits>
#include <set>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/grpc_stream_call.h"
#include "core/read_file.h"
#include "core/status_macros.h"
#include "gateway/config/config_internal.h"
#include "gateway/route/metadata_forwarding.h"
#include "gateway/sse/event_names.h"
#include "yaml-cpp/yaml.h"

namespace sse_gateway {
namespace {
using config_internal::CheckRouteBackends;
using config_internal::CheckRoutePath;
using config_internal::ConfigReader;
using config_internal::Field;
using config_internal::ParseBackends;
using config_internal::ParseCompression;
using config_internal::ParseCredentialsConfig;
using config_internal::ParseFields;
using config_internal::ParseHttp2;
using config_internal::ParseListenTls;
using config_internal::ParseMultiplex;
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
  if (name == kGapEventName) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", kGapEventName,
                     "\" is reserved for the gateway's fan-out gap signal"));
  }
  if (name == kErrorEventName) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", kErrorEventName,
                     "\" collides with EventSource's own error event"));
  }
  return absl::OkStatus();
}

absl::Status ParseJsonOptions(const ConfigReader& reader,
                              const YAML::Node& node, const std::string& key,
                              JsonOptions* options) {
  if (!node.IsMap()) return reader.Error(key, "must be a map");
  RETURN_IF_ERROR(reader.CheckKeys(
      node, key, {"emit_defaults", "use_proto_names", "enums_as_ints"}));
  return ParseFields(node, key,
                     {Field(reader, "emit_defaults", &options->emit_defaults,
                            &ConfigReader::Bool),
                      Field(reader, "use_proto_names",
                            &options->use_proto_names, &ConfigReader::Bool),
                      Field(reader, "enums_as_ints", &options->enums_as_ints,
                            &ConfigReader::Bool)});
}

absl::StatusOr<FanoutConfig> ParseFanout(const ConfigReader& reader,
                                         const YAML::Node& node,
                                         const std::string& key,
                                         bool has_resume_field) {
  if (!node.IsMap()) return reader.Error(key, "must be a map");
  RETURN_IF_ERROR(reader.CheckKeys(
      node, key,
      {"replay_events", "replay_ms", "linger_ms", "on_gap", "public"}));
  FanoutConfig fanout;
  fanout.on_gap = has_resume_field ? GapPolicy::kDedicated : GapPolicy::kSignal;
  std::optional<std::string> on_gap;
  RETURN_IF_ERROR(ParseFields(
      node, key,
      {Field(reader, "replay_events", &fanout.replay_events,
             &ConfigReader::NonNegativeInt),
       Field(reader, "replay_ms", &fanout.replay_age,
             &ConfigReader::PositiveMillis),
       Field(reader, "linger_ms", &fanout.linger, &ConfigReader::Millis),
       Field(reader, "on_gap", &on_gap, &ConfigReader::String),
       Field(reader, "public", &fanout.is_public, &ConfigReader::Bool)}));
  if (fanout.replay_events > kMaxReplayEvents) {
    return reader.Error(key + ".replay_events",
                        absl::StrCat("must be at most ", kMaxReplayEvents));
  }
  if (on_gap.has_value()) {
    if (*on_gap == "dedicated") {
      fanout.on_gap = GapPolicy::kDedicated;
    } else if (*on_gap == "signal") {
      fanout.on_gap = GapPolicy::kSignal;
    } else {
      return reader.Error(key + ".on_gap",
                          "must be \"dedicated\" or \"signal\"");
    }
  }
  return fanout;
}

absl::StatusOr<RouteConfig> ParseRoute(const ConfigReader& reader,
                                       const YAML::Node& node,
                                       const std::string& key) {
  if (!node.IsMap()) return reader.Error(key, "must be a map");
  RETURN_IF_ERROR(reader.CheckKeys(
      node, key,
      {"path", "method", "event", "id_field", "resume_field", "retry_ms",
       "json", "heartbeat_ms", "max_streams", "max_duration_ms", "timeout_ms",
       "backend", "fanout", "compression"}));
  for (const char* required : {"path", "method"}) {
    if (!node[required]) {
      return reader.Error(absl::StrCat(key, ".", required), "is required");
    }
  }
  RouteConfig route;
  std::optional<std::string> event;
  RETURN_IF_ERROR(
      ParseFields(node, key,
                  {Field(reader, "path", &route.path, &ConfigReader::String),
                   Field(reader, "method", &route.upstream.method,
                         &ConfigReader::NonEmptyString),
                   Field(reader, "event", &event, &ConfigReader::String),
                   Field(reader, "id_field", &route.upstream.id_field,
                         &ConfigReader::String),
                   Field(reader, "resume_field", &route.upstream.resume_field,
                         &ConfigReader::String),
                   Field(reader, "retry_ms", &route.upstream.retry_ms,
                         &ConfigReader::NonNegativeInt),
                   Field(reader, "heartbeat_ms", &route.heartbeat,
                         &ConfigReader::Heartbeat),
                   Field(reader, "max_streams", &route.max_streams,
                         &ConfigReader::NonNegativeInt),
                   Field(reader, "max_duration_ms", &route.max_duration,
                         &ConfigReader::PositiveMillis),
                   Field(reader, "timeout_ms", &route.upstream.timeout,
                         &ConfigReader::PositiveMillis),
                   Field(reader, "backend", &route.backend,
                         &ConfigReader::NonEmptyString)}));
  if (absl::Status path = CheckRoutePath(route.path); !path.ok()) {
    return reader.Error(key + ".path", path.message());
  }
  if (event.has_value()) {
    if (absl::Status name = CheckEventName(*event); !name.ok()) {
      return reader.Error(key + ".event", name.message());
    }
    route.upstream.event = std::move(event);
  }
  if (node["json"]) {
    RETURN_IF_ERROR(ParseJsonOptions(reader, node["json"], key + ".json",
                                     &route.upstream.json));
  }
  if (node["compression"]) {
    ASSIGN_OR_RETURN(
        route.compression,
        ParseCompression(reader, node["compression"], key + ".compression"));
  }
  if (node["fanout"]) {
    ASSIGN_OR_RETURN(route.fanout,
                     ParseFanout(reader, node["fanout"], key + ".fanout",
                                 !route.upstream.resume_field.empty()));
  }
  return route;
}

// Every route names a known backend, and names one when there are several.
// routes_from_annotations: bool; needs a single backend (the annotated
// methods are served by it).
absl::Status ParseAnnotationRouting(const ConfigReader& reader,
                                    const YAML::Node& root,
                                    GatewayConfig* config) {
  if (!root["routes_from_annotations"]) return absl::OkStatus();
  ASSIGN_OR_RETURN(bool enabled, reader.Bool(root["routes_from_annotations"],
                                             "routes_from_annotations"));
  config->routes_from_annotations = enabled;
  if (enabled && EffectiveBackends(*config).size() != 1) {
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
  RETURN_IF_ERROR(reader.CheckKeys(root, "",
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
                                    "head_timeout_ms",
                                    "idle_timeout_ms",
                                    "max_connections",
                                    "event_loops",
                                    "routes",
                                    "forward_headers",
                                    "token_query_param",
                                    "response_headers",
                                    "cors",
                                    "routes_from_annotations",
                                    "multiplex",
                                    "http2",
                                    "compression",
                                    "tls"}));

  GatewayConfig config;
  config.file = file;
  if (!root["listen"]) return reader.Error("listen", "is required");

  ASSIGN_OR_RETURN(std::string listen, reader.String(root["listen"], "listen"));
  absl::StatusOr<ListenAddress> address = ParseListenAddress(listen);
  if (!address.ok()) return reader.Error("listen", address.status().message());
  config.listen = *address;
  RETURN_IF_ERROR(ParseBackends(reader, root, base_dir, &config));
  RETURN_IF_ERROR(ParseListenTls(reader, root, base_dir, &config));

  // Without descriptor sets the schema comes from server reflection.
  const YAML::Node& sets = root["descriptor_sets"];
  if (sets && (!sets.IsSequence() || sets.size() == 0)) {
    return reader.Error("descriptor_sets",
                        "must be a non-empty list of FileDescriptorSet files "
                        "(leave it out to use server reflection)");
  }
  for (size_t i = 0; sets && i < sets.size(); ++i) {
    std::string key = absl::StrCat("descriptor_sets[", i, "]");
    ASSIGN_OR_RETURN(std::string path, reader.String(sets[i], key));
    if (path.empty()) return reader.Error(key, "must not be empty");
    config.descriptor_sets.push_back(ResolvePath(base_dir, path));
  }

  if (root["index_page"]) {
    ASSIGN_OR_RETURN(std::string page,
                     reader.NonEmptyString(root["index_page"], "index_page"));
    config.index_page = ResolvePath(base_dir, page);
  }

  RETURN_IF_ERROR(ParseFields(
      root, "",
      {Field(reader, "open_wait_ms", &config.open_wait, &ConfigReader::Millis),
       Field(reader, "heartbeat_ms", &config.heartbeat,
             &ConfigReader::Heartbeat),
       Field(reader, "write_timeout_ms", &config.write_timeout,
             &ConfigReader::PositiveMillis),
       Field(reader, "max_streams", &config.max_streams,
             &ConfigReader::NonNegativeInt),
       Field(reader, "drain_timeout_ms", &config.drain_timeout,
             &ConfigReader::PositiveMillis),
       Field(reader, "access_log", &config.access_log,
             &ConfigReader::NonEmptyString),
       Field(reader, "access_log_queue_lines", &config.access_log_queue_lines,
             &ConfigReader::PositiveInt),
       Field(reader, "max_metadata_bytes", &config.max_metadata_bytes,
             &ConfigReader::PositiveInt),
       Field(reader, "head_timeout_ms", &config.head_timeout,
             &ConfigReader::PositiveMillis),
       Field(reader, "idle_timeout_ms", &config.idle_timeout,
             &ConfigReader::PositiveMillis),
       Field(reader, "max_connections", &config.max_connections,
             &ConfigReader::NonNegativeInt),
       Field(reader, "event_loops", &config.event_loops,
             &ConfigReader::NonNegativeInt)}));
  if (config.event_loops > 64) {
    return reader.Error("event_loops", "must be at most 64");
  }
  if (config.access_log != "stderr" && config.access_log != "stdout" &&
      config.access_log != "off") {
    config.access_log = ResolvePath(base_dir, config.access_log);
  }

  RETURN_IF_ERROR(ParseCredentialsConfig(reader, root, &config));

  RETURN_IF_ERROR(ParseAnnotationRouting(reader, root, &config));

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
    ASSIGN_OR_RETURN(RouteConfig route, ParseRoute(reader, routes[i], key));
    auto [it, inserted] = seen_paths.emplace(route.path, i);
    if (!inserted) {
      return reader.Error(key + ".path",
                          absl::StrCat("duplicate path \"", route.path,
                                       "\" (also routes[", it->second, "])"));
    }
    if (route.path == "/" && config.index_page.has_value()) {
      return reader.Error(key + ".path", "\"/\" is taken by index_page");
    }
    config.routes.push_back(std::move(route));
  }
  RETURN_IF_ERROR(CheckRouteBackends(reader, config));
  RETURN_IF_ERROR(ParseMultiplex(reader, root, &config));
  RETURN_IF_ERROR(ParseHttp2(reader, root, &config));
  if (root["compression"]) {
    ASSIGN_OR_RETURN(
        config.compression,
        ParseCompression(reader, root["compression"], "compression"));
  }
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
  RETURN_IF_ERROR(SplitHostPort(text, &address.host, &address.port));
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
  RETURN_IF_ERROR(SplitHostPort(target, &host, &port));
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
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) {
    return absl::Status(text.status().code(),
                        absl::StrCat(path, ": cannot read the config file (",
                                     text.status().message(), ")"));
  }
  size_t slash = path.rfind('/');
  std::string base_dir =
      slash == std::string::npos ? "" : path.substr(0, slash);
  if (slash == 0) base_dir = "/";
  return ParseConfig(*text, path, base_dir);
}

}  // namespace sse_gateway
