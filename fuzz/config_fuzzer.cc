// libFuzzer target for config loading (gateway/config/config.h): arbitrary text
// as the YAML config must give a GatewayConfig or an error value, never a
// crash, an abort, an escaped exception or a hang.
//
// Input: the whole YAML document, parsed as "fuzz.yaml" in "/fuzz-base".
//
// Checks: errors are InvalidArgument and start with the file name; an
// accepted config keeps the documented invariants (exactly one of backend
// and backends, valid backend addresses and channel counts, a listen port in
// range, distinct well-formed route paths, legal event names, paths resolved
// against the base directory). ParseListenAddress and CheckBackendAddress
// also get the raw input.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "fuzz/fuzz_check.h"
#include "gateway/config/config.h"
#include "gateway/sse/event_names.h"

namespace sse_gateway {
namespace {

constexpr char kFile[] = "fuzz.yaml";
constexpr char kBaseDir[] = "/fuzz-base";

bool IsResolved(const std::string& path) { return absl::StartsWith(path, "/"); }

void CheckAcceptedConfig(const GatewayConfig& config) {
  FuzzCheck(config.file == kFile, "file name not kept");
  FuzzCheck(config.listen.port >= 0 && config.listen.port <= 65535,
            "listen port out of range");
  FuzzCheck(config.backend.empty() != config.backends.empty(),
            "not exactly one of backend and backends");
  const std::vector<BackendConfig> backends = EffectiveBackends(config);
  FuzzCheck(!backends.empty(), "no backend");
  std::set<std::string> backend_names;
  for (const BackendConfig& backend : backends) {
    FuzzCheck(CheckBackendAddress(backend.address).ok(),
              "bad backend address:", backend.address);
    FuzzCheck(backend.channels >= 1 && backend.channels <= kMaxBackendChannels,
              "channels out of range");
    FuzzCheck(backend_names.insert(backend.name).second,
              "duplicate backend:", backend.name);
  }
  for (const std::string& set : config.descriptor_sets) {
    FuzzCheck(IsResolved(set), "descriptor set not resolved:", set);
  }
  if (config.index_page) {
    FuzzCheck(IsResolved(*config.index_page), "index page not resolved");
  }
  FuzzCheck(config.heartbeat > absl::ZeroDuration(), "heartbeat not positive");
  FuzzCheck(config.write_timeout > absl::ZeroDuration(), "write timeout");
  FuzzCheck(config.drain_timeout > absl::ZeroDuration(), "drain timeout");
  FuzzCheck(config.open_wait >= absl::ZeroDuration(), "open wait negative");
  FuzzCheck(config.max_streams >= 0, "max_streams negative");
  FuzzCheck(!config.routes.empty() || config.routes_from_annotations,
            "no route");

  std::set<std::string> paths;
  for (const RouteConfig& route : config.routes) {
    FuzzCheck(absl::StartsWith(route.path, "/"), "route path:", route.path);
    FuzzCheck(route.path != kHealthzPath && route.path != kReadyzPath &&
                  route.path != kMetricsPath,
              "reserved route path:", route.path);
    FuzzCheck(paths.insert(route.path).second,
              "duplicate route path:", route.path);
    FuzzCheck(route.max_streams >= 0, "route max_streams negative");
    if (!route.backend.empty()) {
      FuzzCheck(backend_names.count(route.backend) == 1,
                "unknown backend:", route.backend);
    }
    if (route.upstream.event) {
      const std::string& event = *route.upstream.event;
      FuzzCheck(!event.empty() && event != kEndEventName &&
                    event != kErrorEventName &&
                    event.find_first_of(std::string("\r\n\0", 3)) ==
                        std::string::npos,
                "illegal event name:", event);
    }
    if (route.upstream.retry_ms) {
      FuzzCheck(*route.upstream.retry_ms >= 0, "negative retry_ms");
    }
  }
}

void FuzzOne(absl::string_view yaml) {
  absl::StatusOr<GatewayConfig> config = ParseConfig(yaml, kFile, kBaseDir);
  if (config.ok()) {
    CheckAcceptedConfig(*config);
  } else {
    FuzzCheck(config.status().code() == absl::StatusCode::kInvalidArgument,
              "error is not InvalidArgument:", config.status().ToString());
    FuzzCheck(
        absl::StartsWith(config.status().message(), kFile),
        "error does not start with the file name:", config.status().ToString());
  }

  absl::StatusOr<ListenAddress> address = ParseListenAddress(yaml);
  if (address.ok()) {
    FuzzCheck(address->port >= 0 && address->port <= 65535,
              "port out of range");
  }
  // Any verdict on arbitrary text is fine; only that it returns matters.
  CheckBackendAddress(yaml).IgnoreError();
}

}  // namespace
}  // namespace sse_gateway

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sse_gateway::FuzzOne(
      absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
