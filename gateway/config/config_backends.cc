// The backend sections of the config: backend, backend_tls, backends, and
// tls on the listening side.

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
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

// backend_tls / backends[].tls: {ca_file, cert_file, key_file, server_name}.
absl::StatusOr<BackendTlsConfig> ParseBackendTls(const ConfigReader& reader,
                                                 const YAML::Node& node,
                                                 const std::string& key,
                                                 const std::string& base_dir) {
  if (!node.IsMap()) return reader.Error(key, "must be a map");
  RETURN_IF_ERROR(reader.CheckKeys(
      node, key, {"ca_file", "cert_file", "key_file", "server_name"}));
  BackendTlsConfig tls;
  tls.key = key;
  const std::pair<const char*, std::string*> fields[] = {
      {"ca_file", &tls.ca_file},
      {"cert_file", &tls.cert_file},
      {"key_file", &tls.key_file},
      {"server_name", &tls.server_name},
  };
  for (const auto& [name, target] : fields) {
    if (!node[name]) continue;
    std::string field_key = absl::StrCat(key, ".", name);
    ASSIGN_OR_RETURN(std::string value, reader.String(node[name], field_key));
    if (value.empty()) return reader.Error(field_key, "must not be empty");
    *target = std::string(name) == "server_name" ? value
                                                 : ResolvePath(base_dir, value);
  }
  if (!tls.cert_file.empty() && tls.key_file.empty()) {
    return reader.Error(key + ".cert_file", "needs key_file as well (mTLS)");
  }
  if (tls.cert_file.empty() && !tls.key_file.empty()) {
    return reader.Error(key + ".key_file", "needs cert_file as well (mTLS)");
  }
  return tls;
}

// backends[i]: {name, address, tls, channels}.
absl::StatusOr<BackendConfig> ParseBackendEntry(const ConfigReader& reader,
                                                const YAML::Node& node,
                                                const std::string& key,
                                                const std::string& base_dir) {
  if (!node.IsMap()) return reader.Error(key, "must be a map");
  RETURN_IF_ERROR(
      reader.CheckKeys(node, key, {"name", "address", "tls", "channels"}));
  BackendConfig backend;
  backend.key = key;
  for (const char* required : {"name", "address"}) {
    if (!node[required]) {
      return reader.Error(absl::StrCat(key, ".", required), "is required");
    }
  }
  ASSIGN_OR_RETURN(std::string name,
                   reader.String(node["name"], key + ".name"));
  if (name.empty()) return reader.Error(key + ".name", "must not be empty");
  backend.name = name;
  ASSIGN_OR_RETURN(std::string address,
                   reader.String(node["address"], key + ".address"));
  if (absl::Status status = CheckBackendAddress(address); !status.ok()) {
    return reader.Error(key + ".address", status.message());
  }
  backend.address = address;
  if (node["tls"]) {
    ASSIGN_OR_RETURN(
        BackendTlsConfig tls,
        ParseBackendTls(reader, node["tls"], key + ".tls", base_dir));
    backend.tls = std::move(tls);
  }
  if (node["channels"]) {
    ASSIGN_OR_RETURN(
        int64_t channels,
        reader.NonNegativeInt(node["channels"], key + ".channels"));
    if (channels < 1 || channels > kMaxBackendChannels) {
      return reader.Error(key + ".channels",
                          absl::StrCat("must be 1 to ", kMaxBackendChannels));
    }
    backend.channels = static_cast<int>(channels);
  }
  return backend;
}

// The top-level backend, backend_tls and backends keys: exactly one of
// `backend` and `backends`.
absl::Status ParseBackends(const ConfigReader& reader, const YAML::Node& root,
                           const std::string& base_dir, GatewayConfig* config) {
  if (root["backend"] && root["backends"]) {
    return reader.Error("backends",
                        "give either backend or backends, not both");
  }
  if (!root["backend"] && !root["backends"]) {
    return reader.Error("backend", "is required (or backends)");
  }
  if (root["backend"]) {
    ASSIGN_OR_RETURN(std::string backend,
                     reader.String(root["backend"], "backend"));
    absl::Status status = CheckBackendAddress(backend);
    if (!status.ok()) return reader.Error("backend", status.message());
    config->backend = backend;
    if (root["backend_tls"]) {
      ASSIGN_OR_RETURN(BackendTlsConfig tls,
                       ParseBackendTls(reader, root["backend_tls"],
                                       "backend_tls", base_dir));
      config->backend_tls = std::move(tls);
    }
    return absl::OkStatus();
  }
  if (root["backend_tls"]) {
    return reader.Error("backend_tls",
                        "goes with backend; use backends[].tls with backends");
  }
  const YAML::Node& list = root["backends"];
  if (!list.IsSequence() || list.size() == 0) {
    return reader.Error("backends", "must be a non-empty list of backends");
  }
  absl::flat_hash_map<std::string, size_t> seen_names;
  for (size_t i = 0; i < list.size(); ++i) {
    std::string key = absl::StrCat("backends[", i, "]");
    ASSIGN_OR_RETURN(BackendConfig backend,
                     ParseBackendEntry(reader, list[i], key, base_dir));
    auto [it, inserted] = seen_names.emplace(backend.name, i);
    if (!inserted) {
      return reader.Error(key + ".name",
                          absl::StrCat("duplicate name \"", backend.name,
                                       "\" (also backends[", it->second, "])"));
    }
    config->backends.push_back(std::move(backend));
  }
  return absl::OkStatus();
}

absl::Status CheckRouteBackends(const ConfigReader& reader,
                                const GatewayConfig& config) {
  std::vector<BackendConfig> backends = EffectiveBackends(config);
  std::vector<std::string> names;
  for (const BackendConfig& backend : backends) names.push_back(backend.name);
  for (size_t i = 0; i < config.routes.size(); ++i) {
    const std::string& name = config.routes[i].backend;
    std::string key = absl::StrCat("routes[", i, "].backend");
    if (name.empty()) {
      if (backends.size() > 1) {
        return reader.Error(
            key, absl::StrCat("is required with several backends (one of: ",
                              absl::StrJoin(names, ", "), ")"));
      }
      continue;
    }
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      return reader.Error(
          key, absl::StrCat("unknown backend \"", name,
                            "\" (known: ", absl::StrJoin(names, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

// tls: {cert_file, key_file}, both required; the gateway serves HTTPS.
absl::Status ParseListenTls(const ConfigReader& reader, const YAML::Node& root,
                            const std::string& base_dir,
                            GatewayConfig* config) {
  const YAML::Node& node = root["tls"];
  if (!node) return absl::OkStatus();
  if (!node.IsMap()) return reader.Error("tls", "must be a map");
  RETURN_IF_ERROR(reader.CheckKeys(node, "tls", {"cert_file", "key_file"}));
  ListenTlsConfig tls;
  const std::pair<const char*, std::string*> fields[] = {
      {"cert_file", &tls.cert_file},
      {"key_file", &tls.key_file},
  };
  for (const auto& [name, target] : fields) {
    std::string field_key = absl::StrCat("tls.", name);
    if (!node[name]) return reader.Error(field_key, "is required");
    ASSIGN_OR_RETURN(std::string value, reader.String(node[name], field_key));
    if (value.empty()) return reader.Error(field_key, "must not be empty");
    *target = ResolvePath(base_dir, value);
  }
  config->tls = std::move(tls);
  return absl::OkStatus();
}
}  // namespace config_internal
}  // namespace sse_gateway
