// Http2Options: how the listening side speaks HTTP/2 (config key `http2`,
// docs/configuration.md). With TLS, ALPN offers "h2" before "http/1.1"; on
// plaintext, a connection whose first bytes are the HTTP/2 client preface
// is served as h2c (prior knowledge). Every value bounds what one client
// can make the gateway hold or do; the defaults are safe for the open
// internet. Plain data, no thread-safety concerns.

#ifndef SSE_GATEWAY_GATEWAY_HTTP_HTTP2_OPTIONS_H_
#define SSE_GATEWAY_GATEWAY_HTTP_HTTP2_OPTIONS_H_

#include <cstdint>

namespace sse_gateway {

struct Http2Options {
  bool enabled = false;
  // SETTINGS_MAX_CONCURRENT_STREAMS: streams one connection may have open;
  // a stream beyond it is refused (RST_STREAM REFUSED_STREAM).
  uint32_t max_concurrent_streams = 256;
  // Our receive windows (SETTINGS_INITIAL_WINDOW_SIZE per stream, and the
  // connection's): how much request data a client may send unacknowledged.
  // The gateway's requests have no body, so small windows cost nothing.
  uint32_t initial_window_size = 65535;
  uint32_t connection_window_size = 1 << 20;
  // SETTINGS_MAX_HEADER_LIST_SIZE: decoded request header bytes (name +
  // value + 32 per field, as HTTP/2 counts them); above it 431, no call.
  uint32_t max_header_list_bytes = 65536;
  // Rapid reset (CVE-2023-44487): streams a client may cancel in a burst,
  // refilled at `resets_per_second`; beyond it the connection gets GOAWAY
  // (nghttp2 says INTERNAL_ERROR) and is closed.
  uint32_t reset_burst = 1000;
  uint32_t resets_per_second = 33;
  // CONTINUATION frames one header block may take (CVE-2024-27316).
  uint32_t max_continuations = 8;
  // Control frames (PING and SETTINGS ACKs...) queued for a client that
  // does not read them; beyond it the connection is closed as a flood.
  uint32_t max_outbound_control_frames = 1000;
};

// Bounds the config accepts for max_concurrent_streams.
inline constexpr uint32_t kMaxHttp2ConcurrentStreams = 10000;

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_HTTP_HTTP2_OPTIONS_H_
