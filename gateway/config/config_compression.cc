// `compression:` blocks (top level and per route): which content codings a
// stream may use and their settings, checked against each coding's ranges.

#include <string>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "core/stream_compressor.h"
#include "gateway/config/config.h"
#include "gateway/config/config_internal.h"
#include "yaml-cpp/yaml.h"

namespace sse_gateway {
namespace config_internal {

absl::StatusOr<CompressionConfig> ParseCompression(const ConfigReader& reader,
                                                   const YAML::Node& node,
                                                   const std::string& key) {
  if (!node.IsMap()) return reader.Error(key, "must be a map");
  RETURN_IF_ERROR(reader.CheckKeys(
      node, key, {"enabled", "gzip", "br", "level", "window_bits"}));
  CompressionConfig compression;
  RETURN_IF_ERROR(ParseFields(
      node, key,
      {Field(reader, "enabled", &compression.enabled, &ConfigReader::Bool),
       Field(reader, "gzip", &compression.gzip, &ConfigReader::Bool),
       Field(reader, "br", &compression.br, &ConfigReader::Bool),
       Field(reader, "level", &compression.level,
             &ConfigReader::NonNegativeInt),
       Field(reader, "window_bits", &compression.window_bits,
             &ConfigReader::PositiveInt)}));
  if (compression.enabled && !compression.gzip && !compression.br) {
    return reader.Error(key, "enables neither gzip nor br");
  }
  CompressionSettings settings;
  settings.level = static_cast<int>(compression.level);
  settings.window_bits = static_cast<int>(compression.window_bits);
  for (const auto& [enabled, encoding] :
       {std::pair{compression.gzip, ContentEncoding::kGzip},
        std::pair{compression.br, ContentEncoding::kBrotli}}) {
    if (!enabled) continue;
    if (absl::Status checked = CheckCompressionSettings(encoding, settings);
        !checked.ok()) {
      return reader.Error(key, absl::StrCat(ContentEncodingToken(encoding),
                                            ": ", checked.message()));
    }
  }
  return compression;
}

}  // namespace config_internal
}  // namespace sse_gateway
