// GatewayConfig: the gateway's configuration, read from a YAML file.
//
// The YAML keys are a public contract, documented in docs/configuration.md.
// Loading checks everything that can be checked without the backend's schema:
// types, required keys, unknown keys (typos are errors, not silently ignored),
// addresses, duplicate paths, event names. Schema-dependent checks (unknown
// method, id_field...) happen when the Gateway is created. Every error message
// starts with the file name and the key, e.g.
//   gw.yaml: routes[1].path: duplicate path "/v1/ticks" (also routes[0])
//
// A plain value type; not synchronized.

#ifndef SSE_GATEWAY_GATEWAY_CONFIG_CONFIG_H_
#define SSE_GATEWAY_GATEWAY_CONFIG_CONFIG_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/fanout_hub.h"
#include "core/stream_method.h"
#include "gateway/route/cors_config.h"

namespace sse_gateway {

// Paths the gateway serves itself (health, readiness, metrics); no route may
// use them.
inline constexpr absl::string_view kHealthzPath = "/healthz";
inline constexpr absl::string_view kReadyzPath = "/readyz";
inline constexpr absl::string_view kMetricsPath = "/metrics";

struct ListenAddress {
  std::string host;  // "127.0.0.1", "0.0.0.0", "::1"...
  int port = 0;      // 0: pick a free port
};

// TLS on the listening side (top-level `tls`): the gateway serves HTTPS.
// Paths are resolved against the config file's directory; the files are read
// when the gateway is created.
struct ListenTlsConfig {
  std::string cert_file;  // PEM certificate chain, leaf first
  std::string key_file;   // PEM private key of the leaf certificate
};

// TLS to a backend (backend_tls, backends[].tls). File paths are resolved
// against the config file's directory; they are read when the gateway starts.
struct BackendTlsConfig {
  std::string key;          // config key, for error messages ("backend_tls")
  std::string ca_file;      // PEM roots; empty: the system's roots
  std::string cert_file;    // PEM client certificate chain (mTLS); with key
  std::string key_file;     // PEM client private key; with cert_file
  std::string server_name;  // name checked in the server certificate
};

// One backend: its gRPC target and a pool of `channels` channels to it.
struct BackendConfig {
  std::string key;   // config key, for error messages ("backends[1]")
  std::string name;  // routes name it; "default" for the top-level backend
  std::string address;
  std::optional<BackendTlsConfig> tls;  // none: plaintext
  int channels = 1;                     // 1..kMaxBackendChannels
};

// The name of the backend given by the top-level `backend` key.
inline constexpr absl::string_view kDefaultBackendName = "default";
inline constexpr int kMaxBackendChannels = 64;

// A route's `fanout:` block: requests that would open the same upstream call
// share one (see core/fanout_hub.h and docs/configuration.md).
struct FanoutConfig {
  int64_t replay_events = 1000;              // replay_events
  std::optional<absl::Duration> replay_age;  // replay_ms
  absl::Duration linger = absl::Seconds(5);  // linger_ms
  // on_gap; default: dedicated when the route has a resume_field, else
  // signal.
  GapPolicy on_gap = GapPolicy::kSignal;
  // public: share across users; no per-user metadata on the shared call.
  bool is_public = false;
};

// The most replay_events a route may keep.
inline constexpr int64_t kMaxReplayEvents = 1000000;

// The `multiplex:` block: one endpoint where an EventSource carries several
// routes' streams (see gateway/route/multiplex_route.h).
struct MultiplexConfig {
  std::string path;                // the endpoint; required
  int64_t max_subscriptions = 16;  // per request, 1..64
  // Ends a multiplexed response after this long with a retry hint; the
  // subscriptions' own routes' max_duration_ms do not apply to it.
  std::optional<absl::Duration> max_duration;
};

// The most subscriptions multiplex.max_subscriptions may allow.
inline constexpr int64_t kMaxMultiplexSubscriptions = 64;

// The `http2:` block: HTTP/2 on the listening side (ALPN h2 with `tls`, h2c
// with prior knowledge without). See gateway/http/http2_options.h.
struct Http2Config {
  bool enabled = false;
  int64_t max_concurrent_streams = 256;      // 1..10000
  int64_t initial_window_size = 65535;       // 1..2^31-1
  int64_t connection_window_size = 1 << 20;  // 65535..2^31-1
  int64_t max_header_list_bytes = 65536;     // 1024..65536
  int64_t reset_burst = 1000;                // >= 1
  int64_t resets_per_second = 33;            // >= 1
};

// A `compression:` block (top level: every route's default; in a route:
// that route's, replacing the default). Present means on unless `enabled:
// false`. See docs/configuration.md (Compression).
struct CompressionConfig {
  bool enabled = true;
  bool gzip = true;  // offer gzip
  bool br = true;    // offer Brotli (preferred)
  // -1: the measured default of each coding (core/stream_compressor.h).
  int64_t level = -1;
  int64_t window_bits = -1;
};

struct RouteConfig {
  std::string path;              // GET path served as text/event-stream
  std::string backend;           // backend name; empty: the only backend
  StreamMethodOptions upstream;  // the backend method and how to render it
                                 // (upstream.timeout from timeout_ms)
  std::optional<absl::Duration> heartbeat;  // overrides the global one
  int64_t max_streams = 0;                  // 0: no per-route limit
  std::optional<absl::Duration> max_duration;
  std::optional<FanoutConfig> fanout;  // none: one upstream call per request
  // Overrides GatewayConfig::compression for this route.
  std::optional<CompressionConfig> compression;
};

struct GatewayConfig {
  std::string file;  // the config file's path, used in error messages
  ListenAddress listen;
  std::optional<ListenTlsConfig> tls;           // none: plain HTTP
  std::string backend;                          // gRPC target of the backend
  std::optional<BackendTlsConfig> backend_tls;  // TLS to `backend`
  // From the `backends` key; exactly one of `backend` and `backends` is set.
  std::vector<BackendConfig> backends;
  std::vector<std::string> descriptor_sets;  // resolved against the file's dir
  std::optional<std::string> index_page;     // resolved; served at GET /
  // How long response headers are held back waiting for the backend's first
  // message or final status (so an early failure gets a real HTTP status).
  absl::Duration open_wait = absl::Seconds(1);
  // Keep-alive comment after this long without a write (InfiniteDuration:
  // never, from heartbeat_ms: 0).
  absl::Duration heartbeat = absl::Seconds(15);
  // A client that accepts no bytes for this long is dropped.
  absl::Duration write_timeout = absl::Seconds(30);
  // The whole request head (and a TLS handshake) must arrive within this,
  // from the accept or from the first byte of a keep-alive request.
  absl::Duration head_timeout = absl::Seconds(10);
  // A keep-alive connection with no request for this long is closed.
  absl::Duration idle_timeout = absl::Seconds(5);
  // Connections open at once; beyond it a new one is closed at once. 0: the
  // process's open-files limit less 512.
  int64_t max_connections = 0;
  // Event-loop threads serving connections; 0: one per core (at most 8).
  int64_t event_loops = 0;
  int64_t max_streams = 0;  // 0: no global limit
  // On SIGTERM/SIGINT, how long open streams may take to close.
  absl::Duration drain_timeout = absl::Seconds(10);
  // Where the access log goes: "stderr", "stdout", "off", or a file path
  // (resolved against the config file's directory; appended to).
  std::string access_log = "stderr";
  // Access-log lines waiting for a slow sink; beyond this they are dropped
  // (counted in /metrics) so that logging never blocks a stream.
  int64_t access_log_queue_lines = 4096;
  // The most metadata a request may send upstream, counted as HTTP/2 does
  // (name + value + 32 bytes per entry): forwarded headers, Grpc-Metadata-*,
  // X-Forwarded-For, the token and Last-Event-ID. Above it the request is
  // refused with 431 before any call; it stays well under the 8 KiB a gRPC
  // backend accepts by default, so that no request can break the backend
  // connection every other stream shares.
  int64_t max_metadata_bytes = 4096;
  // Credentials and browsers (docs/configuration.md): request headers sent
  // to the backend as metadata (lower-cased), the query parameter carrying a
  // bearer token, the backend initial-metadata keys copied to the SSE
  // response headers, and CORS (none: no CORS headers).
  std::vector<std::string> forward_headers = {"authorization"};
  std::optional<std::string> token_query_param;
  std::vector<std::string> response_headers;
  std::optional<CorsConfig> cors;
  // Every server-streaming method with a google.api.http `get:` rule becomes
  // a route (path template, default options); explicit routes win.
  bool routes_from_annotations = false;
  std::vector<RouteConfig> routes;
  std::optional<MultiplexConfig> multiplex;  // none: no multiplex endpoint
  Http2Config http2;                         // off unless http2.enabled
  // Every route's compression unless it has its own; none: off.
  std::optional<CompressionConfig> compression;
};

// The backends of `config`: `backends`, or else one backend named "default"
// made of `backend` and `backend_tls` (one channel).
std::vector<BackendConfig> EffectiveBackends(const GatewayConfig& config);

// Reads and validates the YAML config at `path`.
absl::StatusOr<GatewayConfig> LoadConfigFile(const std::string& path);

// Parses and validates `yaml`. `file` names the source in error messages;
// relative paths in the config are resolved against `base_dir`.
absl::StatusOr<GatewayConfig> ParseConfig(absl::string_view yaml,
                                          const std::string& file,
                                          const std::string& base_dir);

// Parses "host:port" or "[v6-host]:port" (port 0-65535).
absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view text);

// Checks a gRPC target: "host:port", "[v6]:port", or a scheme-prefixed target
// ("dns:///host:port", "unix:/path", "ipv4:...").
absl::Status CheckBackendAddress(absl::string_view target);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_CONFIG_CONFIG_H_
