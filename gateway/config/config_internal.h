// The config parser's shared pieces: ConfigReader (typed YAML reads with
// "<file>: <key>: <problem>" errors), path resolution, and the section
// parsers split over config.cc, config_backends.cc and config_credentials.cc.
// Internal to //gateway/config; not an API.

#ifndef SSE_GATEWAY_GATEWAY_CONFIG_CONFIG_INTERNAL_H_
#define SSE_GATEWAY_GATEWAY_CONFIG_CONFIG_INTERNAL_H_

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gateway/config/config.h"
#include "yaml-cpp/yaml.h"

namespace sse_gateway {
namespace config_internal {

// Reads typed values out of YAML nodes, turning every problem into an
// InvalidArgument "<file>: <key>: <problem>" error.
class ConfigReader {
 public:
  explicit ConfigReader(std::string file) : file_(std::move(file)) {}

  absl::Status Error(absl::string_view key, absl::string_view problem) const {
    return absl::InvalidArgumentError(
        absl::StrCat(file_, ": ", key, ": ", problem));
  }

  // Fails on keys of `map` that are not in `known`.
  absl::Status CheckKeys(const YAML::Node& map, absl::string_view where,
                         const std::set<std::string>& known) const {
    for (const auto& item : map) {
      std::string key = item.first.Scalar();
      if (known.count(key) == 0) {
        std::string prefix = where.empty() ? "" : absl::StrCat(where, ".");
        return Error(absl::StrCat(prefix, key),
                     absl::StrCat("unknown key (known keys: ",
                                  absl::StrJoin(known, ", "), ")"));
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> String(const YAML::Node& node,
                                     absl::string_view key) const {
    if (!node.IsScalar()) return Error(key, "must be a string");
    return node.Scalar();
  }

  absl::StatusOr<bool> Bool(const YAML::Node& node,
                            absl::string_view key) const {
    if (node.IsScalar()) {
      std::string v = absl::AsciiStrToLower(node.Scalar());
      if (v == "true") return true;
      if (v == "false") return false;
    }
    return Error(key, "must be true or false");
  }

  absl::StatusOr<int64_t> NonNegativeInt(const YAML::Node& node,
                                         absl::string_view key) const {
    int64_t value;
    if (!node.IsScalar() || !absl::SimpleAtoi(node.Scalar(), &value)) {
      return Error(key, "must be an integer");
    }
    if (value < 0) return Error(key, "must not be negative");
    return value;
  }

  // A duration in milliseconds that must be at least 1.
  absl::StatusOr<absl::Duration> PositiveMillis(const YAML::Node& node,
                                                absl::string_view key) const {
    absl::StatusOr<int64_t> millis = NonNegativeInt(node, key);
    if (!millis.ok()) return millis.status();
    if (*millis == 0) return Error(key, "must be at least 1");
    return absl::Milliseconds(*millis);
  }

  // A duration in milliseconds, 0 allowed.
  absl::StatusOr<absl::Duration> Millis(const YAML::Node& node,
                                        absl::string_view key) const {
    absl::StatusOr<int64_t> millis = NonNegativeInt(node, key);
    if (!millis.ok()) return millis.status();
    return absl::Milliseconds(*millis);
  }

  absl::StatusOr<int64_t> PositiveInt(const YAML::Node& node,
                                      absl::string_view key) const {
    absl::StatusOr<int64_t> value = NonNegativeInt(node, key);
    if (value.ok() && *value == 0) return Error(key, "must be positive");
    return value;
  }

  absl::StatusOr<std::string> NonEmptyString(const YAML::Node& node,
                                             absl::string_view key) const {
    absl::StatusOr<std::string> value = String(node, key);
    if (value.ok() && value->empty()) return Error(key, "must not be empty");
    return value;
  }

  // heartbeat_ms: milliseconds, 0 meaning no heartbeats.
  absl::StatusOr<absl::Duration> Heartbeat(const YAML::Node& node,
                                           absl::string_view key) const {
    absl::StatusOr<int64_t> millis = NonNegativeInt(node, key);
    if (!millis.ok()) return millis.status();
    if (*millis == 0) return absl::InfiniteDuration();
    return absl::Milliseconds(*millis);
  }

 private:
  std::string file_;
};

// One optional key of a map: when present, `parse` reads its node (`key` is
// the full key, for errors) and stores the value.
struct KeyField {
  const char* name;
  std::function<absl::Status(const YAML::Node& node, const std::string& key)>
      parse;
};

// A KeyField that reads the value with `read` (a ConfigReader method) and
// assigns it to `*target` (a T, or a std::optional<T>).
template <typename T, typename Target>
KeyField Field(const ConfigReader& reader, const char* name, Target* target,
               absl::StatusOr<T> (ConfigReader::*read)(const YAML::Node&,
                                                       absl::string_view)
                   const) {
  return {name, [&reader, target, read](const YAML::Node& node,
                                        const std::string& key) {
            absl::StatusOr<T> value = (reader.*read)(node, key);
            if (!value.ok()) return value.status();
            *target = *std::move(value);
            return absl::OkStatus();
          }};
}

// Parses each of `fields` present in `map`; `where` (may be empty) prefixes
// the key names in errors ("routes[0].retry_ms").
inline absl::Status ParseFields(const YAML::Node& map, absl::string_view where,
                                std::initializer_list<KeyField> fields) {
  for (const KeyField& field : fields) {
    if (!map[field.name]) continue;
    const std::string key = where.empty()
                                ? std::string(field.name)
                                : absl::StrCat(where, ".", field.name);
    absl::Status status = field.parse(map[field.name], key);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

inline bool IsAbsolutePath(absl::string_view path) {
  return !path.empty() && path[0] == '/';
}

// `path` resolved against `base_dir` unless it is absolute.
inline std::string ResolvePath(const std::string& base_dir,
                               const std::string& path) {
  if (IsAbsolutePath(path) || base_dir.empty()) return path;
  return absl::StrCat(base_dir, "/", path);
}
// A list of strings at `key`, each checked by `check` (whose message is
// prefixed with "<key>[i]").
inline absl::StatusOr<std::vector<std::string>> ParseNameList(
    const ConfigReader& reader, const YAML::Node& node, const std::string& key,
    absl::Status (*check)(absl::string_view)) {
  if (!node.IsSequence()) return reader.Error(key, "must be a list");
  std::vector<std::string> names;
  for (size_t i = 0; i < node.size(); ++i) {
    std::string item_key = absl::StrCat(key, "[", i, "]");
    absl::StatusOr<std::string> name = reader.String(node[i], item_key);
    if (!name.ok()) return name.status();
    std::string lower = absl::AsciiStrToLower(*name);
    absl::Status status = check(lower);
    if (!status.ok()) return reader.Error(item_key, status.message());
    names.push_back(std::move(lower));
  }
  return names;
}

// backend, backend_tls, backends (config_backends.cc).
absl::Status ParseBackends(const ConfigReader& reader, const YAML::Node& root,
                           const std::string& base_dir, GatewayConfig* config);

// Every route names a configured backend (config_backends.cc).
absl::Status CheckRouteBackends(const ConfigReader& reader,
                                const GatewayConfig& config);

// tls: {cert_file, key_file} (config_backends.cc).
absl::Status ParseListenTls(const ConfigReader& reader, const YAML::Node& root,
                            const std::string& base_dir, GatewayConfig* config);

// forward_headers, token_query_param, response_headers, cors
// (config_credentials.cc).
absl::Status ParseCredentialsConfig(const ConfigReader& reader,
                                    const YAML::Node& root,
                                    GatewayConfig* config);

// multiplex: {path, max_subscriptions, max_duration_ms}
// (config_multiplex.cc). Requires: the routes were parsed (the path must not
// be one of theirs).
absl::Status ParseMultiplex(const ConfigReader& reader, const YAML::Node& root,
                            GatewayConfig* config);

// http2: {enabled, max_concurrent_streams, initial_window_size,
// connection_window_size, max_header_list_bytes, reset_burst,
// resets_per_second} (config_http2.cc).
absl::Status ParseHttp2(const ConfigReader& reader, const YAML::Node& root,
                        GatewayConfig* config);

// A `compression:` block at `key` (config_compression.cc).
absl::StatusOr<CompressionConfig> ParseCompression(const ConfigReader& reader,
                                                   const YAML::Node& node,
                                                   const std::string& key);

// A route path (also the multiplex endpoint's): starts with '/', is not an
// operations endpoint, and holds no query, fragment, escape or space.
absl::Status CheckRoutePath(absl::string_view path);

}  // namespace config_internal
}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_CONFIG_CONFIG_INTERNAL_H_
