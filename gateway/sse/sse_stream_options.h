// SseStreamOptions: how one SSE response is served (header hold,
// heartbeats, max duration, draining, metrics, outcome reporting). See
// event_stream_response.h.

#ifndef SSE_GATEWAY_GATEWAY_SSE_SSE_STREAM_OPTIONS_H_
#define SSE_GATEWAY_GATEWAY_SSE_SSE_STREAM_OPTIONS_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "core/stream_compressor.h"
#include "gateway/ops/metrics.h"
#include "gateway/ops/stream_outcome.h"

namespace sse_gateway {

// Messages that are ready together are written as one chunk up to this size.
inline constexpr size_t kMaxChunkBytes = 64 * 1024;

// Which content codings a stream may use (negotiated per request from its
// Accept-Encoding, Brotli first) and their settings.
struct SseCompression {
  bool gzip = true;
  bool br = true;
  CompressionSettings gzip_settings;
  CompressionSettings br_settings;
};

struct SseStreamOptions {
  absl::Duration open_wait = absl::Seconds(1);
  // Keep-alive comment after this long without a write; InfiniteDuration()
  // disables heartbeats.
  absl::Duration heartbeat = absl::Seconds(15);
  // Ends the stream after this long with a retry hint; none by default.
  std::optional<absl::Duration> max_duration;
  // The retry hint sent when max_duration or draining ends a stream.
  int64_t reconnect_retry_ms = 1000;
  // When it becomes true, open streams end with the retry hint. Not owned;
  // must outlive every response. May be null.
  const std::atomic<bool>* draining = nullptr;
  // Live counters (events, bytes, heartbeats, time to first message). Not
  // owned; may be null.
  RouteMetrics* metrics = nullptr;
  std::function<void(const StreamOutcome&)> on_finish;
  // Lower-case keys of the stream's ResponseMetadata() copied, when present,
  // to the response headers as they are committed (after the first message,
  // the end, or open_wait). Metadata that arrives later cannot be copied.
  std::vector<std::string> response_headers;
  // Compress the body when the client accepts it (and answer with
  // `Vary: Accept-Encoding`); none: never.
  std::optional<SseCompression> compression;
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_SSE_SSE_STREAM_OPTIONS_H_
