// The `http2:` section of the config: HTTP/2 on the listening side and the
// limits each HTTP/2 connection gets (gateway/http/http2_options.h).

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "gateway/config/config.h"
#include "gateway/config/config_internal.h"
#include "yaml-cpp/yaml.h"

namespace sse_gateway {
namespace config_internal {
namespace {

// The most a window may be (RFC 9113 6.9.1).
constexpr int64_t kMaxWindow = (int64_t{1} << 31) - 1;

}  // namespace

absl::Status ParseHttp2(const ConfigReader& reader, const YAML::Node& root,
                        GatewayConfig* config) {
  const YAML::Node& node = root["http2"];
  if (!node) return absl::OkStatus();
  if (!node.IsMap()) return reader.Error("http2", "must be a map");
  RETURN_IF_ERROR(reader.CheckKeys(
      node, "http2",
      {"enabled", "max_concurrent_streams", "initial_window_size",
       "connection_window_size", "max_header_list_bytes", "reset_burst",
       "resets_per_second"}));
  Http2Config http2;
  RETURN_IF_ERROR(ParseFields(
      node, "http2",
      {Field(reader, "enabled", &http2.enabled, &ConfigReader::Bool),
       Field(reader, "max_concurrent_streams", &http2.max_concurrent_streams,
             &ConfigReader::PositiveInt),
       Field(reader, "initial_window_size", &http2.initial_window_size,
             &ConfigReader::PositiveInt),
       Field(reader, "connection_window_size", &http2.connection_window_size,
             &ConfigReader::PositiveInt),
       Field(reader, "max_header_list_bytes", &http2.max_header_list_bytes,
             &ConfigReader::PositiveInt),
       Field(reader, "reset_burst", &http2.reset_burst,
             &ConfigReader::PositiveInt),
       Field(reader, "resets_per_second", &http2.resets_per_second,
             &ConfigReader::PositiveInt)}));
  struct Bound {
    const char* key;
    int64_t value;
    int64_t min;
    int64_t max;
  };
  for (const Bound& bound : {
           Bound{"max_concurrent_streams", http2.max_concurrent_streams, 1,
                 10000},
           Bound{"initial_window_size", http2.initial_window_size, 1,
                 kMaxWindow},
           Bound{"connection_window_size", http2.connection_window_size, 65535,
                 kMaxWindow},
           // A translated head must fit HttpServer's 128 KiB.
           Bound{"max_header_list_bytes", http2.max_header_list_bytes, 1024,
                 65536},
           Bound{"reset_burst", http2.reset_burst, 1, 1000000},
           Bound{"resets_per_second", http2.resets_per_second, 1, 1000000},
       }) {
    if (bound.value < bound.min || bound.value > bound.max) {
      return reader.Error(
          absl::StrCat("http2.", bound.key),
          absl::StrCat("must be between ", bound.min, " and ", bound.max));
    }
  }
  config->http2 = http2;
  return absl::OkStatus();
}

}  // namespace config_internal
}  // namespace sse_gateway
