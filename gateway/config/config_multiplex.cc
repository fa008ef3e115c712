// The `multiplex:` section of the config, and the route-path rules it
// shares with the routes.

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "gateway/config/config.h"
#include "gateway/config/config_internal.h"
#include "yaml-cpp/yaml.h"

namespace sse_gateway {
namespace config_internal {

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

absl::Status ParseMultiplex(const ConfigReader& reader, const YAML::Node& root,
                            GatewayConfig* config) {
  const YAML::Node& node = root["multiplex"];
  if (!node) return absl::OkStatus();
  if (!node.IsMap()) return reader.Error("multiplex", "must be a map");
  RETURN_IF_ERROR(reader.CheckKeys(
      node, "multiplex", {"path", "max_subscriptions", "max_duration_ms"}));
  if (!node["path"]) return reader.Error("multiplex.path", "is required");
  MultiplexConfig multiplex;
  RETURN_IF_ERROR(ParseFields(
      node, "multiplex",
      {Field(reader, "path", &multiplex.path, &ConfigReader::NonEmptyString),
       Field(reader, "max_subscriptions", &multiplex.max_subscriptions,
             &ConfigReader::PositiveInt),
       Field(reader, "max_duration_ms", &multiplex.max_duration,
             &ConfigReader::PositiveMillis)}));
  if (absl::Status path = CheckRoutePath(multiplex.path); !path.ok()) {
    return reader.Error("multiplex.path", path.message());
  }
  for (const RouteConfig& route : config->routes) {
    if (route.path == multiplex.path) {
      return reader.Error(
          "multiplex.path",
          absl::StrCat("\"", multiplex.path, "\" is also a route's path"));
    }
  }
  if (multiplex.path == "/" && config->index_page.has_value()) {
    return reader.Error("multiplex.path", "\"/\" is taken by index_page");
  }
  if (multiplex.max_subscriptions > kMaxMultiplexSubscriptions) {
    return reader.Error(
        "multiplex.max_subscriptions",
        absl::StrCat("must be at most ", kMaxMultiplexSubscriptions));
  }
  config->multiplex = std::move(multiplex);
  return absl::OkStatus();
}

}  // namespace config_internal
}  // namespace sse_gateway
