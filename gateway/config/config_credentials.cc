// The credential sections of the config: forward_headers,
// token_query_param, response_headers and cors.

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/grpc_stream_call.h"
#include "core/status_macros.h"
#include "gateway/config/config.h"
#include "gateway/config/config_internal.h"
#include "gateway/route/cors_config.h"
#include "gateway/route/metadata_forwarding.h"
#include "yaml-cpp/yaml.h"

namespace sse_gateway {
namespace config_internal {

// response_headers entries: metadata keys that can become HTTP headers and
// do not clash with a header the gateway sets itself.
absl::Status CheckResponseHeaderName(absl::string_view name) {
  for (absl::string_view own :
       {"content-type", "content-length", "transfer-encoding", "connection",
        "keep-alive", "cache-control", "x-accel-buffering", "vary", "allow",
        "retry-after", "date", "server", "set-cookie", "trailer", "upgrade"}) {
    if (name == own) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", name, "\" is set by the gateway and cannot be copied"));
    }
  }
  if (absl::StartsWith(name, "access-control-")) {
    return absl::InvalidArgumentError("CORS headers are set by the gateway");
  }
  RETURN_IF_ERROR(CheckGrpcMetadata(name, ""));
  if (absl::EndsWith(name, "-bin")) {
    return absl::InvalidArgumentError(
        "binary (-bin) metadata cannot be copied to a header");
  }
  return absl::OkStatus();
}

// cors: {allowed_origins, allow_credentials, max_age_s}.
absl::StatusOr<CorsConfig> ParseCorsConfig(const ConfigReader& reader,
                                           const YAML::Node& node) {
  if (!node.IsMap()) return reader.Error("cors", "must be a map");
  RETURN_IF_ERROR(reader.CheckKeys(
      node, "cors", {"allowed_origins", "allow_credentials", "max_age_s"}));
  CorsConfig cors;
  if (!node["allowed_origins"]) {
    return reader.Error("cors.allowed_origins", "is required");
  }
  const YAML::Node& origins = node["allowed_origins"];
  if (!origins.IsSequence() || origins.size() == 0) {
    return reader.Error("cors.allowed_origins",
                        "must be a non-empty list of origins");
  }
  for (size_t i = 0; i < origins.size(); ++i) {
    ASSIGN_OR_RETURN(
        std::string origin,
        reader.String(origins[i],
                      absl::StrCat("cors.allowed_origins[", i, "]")));
    cors.allowed_origins.push_back(origin);
  }
  if (node["allow_credentials"]) {
    ASSIGN_OR_RETURN(bool credentials, reader.Bool(node["allow_credentials"],
                                                   "cors.allow_credentials"));
    cors.allow_credentials = credentials;
  }
  if (node["max_age_s"]) {
    ASSIGN_OR_RETURN(int64_t max_age, reader.NonNegativeInt(node["max_age_s"],
                                                            "cors.max_age_s"));
    cors.max_age = absl::Seconds(max_age);
  }
  if (absl::Status status = CheckCorsConfig(cors); !status.ok()) {
    // "allowed_origins[2]: problem" -> key "cors.allowed_origins[2]".
    absl::string_view message = status.message();
    size_t colon = message.find(": ");
    if (colon == absl::string_view::npos) return reader.Error("cors", message);
    return reader.Error(absl::StrCat("cors.", message.substr(0, colon)),
                        message.substr(colon + 2));
  }
  return cors;
}

// forward_headers, token_query_param, response_headers and cors.
absl::Status ParseCredentialsConfig(const ConfigReader& reader,
                                    const YAML::Node& root,
                                    GatewayConfig* config) {
  if (root["forward_headers"]) {
    ASSIGN_OR_RETURN(std::vector<std::string> names,
                     ParseNameList(reader, root["forward_headers"],
                                   "forward_headers", &CheckForwardHeaderName));
    config->forward_headers = std::move(names);
  }
  if (root["token_query_param"]) {
    ASSIGN_OR_RETURN(std::string param, reader.String(root["token_query_param"],
                                                      "token_query_param"));
    if (param.empty()) {
      return reader.Error("token_query_param", "must not be empty");
    }
    config->token_query_param = param;
  }
  if (root["response_headers"]) {
    ASSIGN_OR_RETURN(
        std::vector<std::string> names,
        ParseNameList(reader, root["response_headers"], "response_headers",
                      &CheckResponseHeaderName));
    config->response_headers = std::move(names);
  }
  if (root["cors"]) {
    ASSIGN_OR_RETURN(CorsConfig cors, ParseCorsConfig(reader, root["cors"]));
    config->cors = std::move(cors);
  }
  return absl::OkStatus();
}

}  // namespace config_internal
}  // namespace sse_gateway
