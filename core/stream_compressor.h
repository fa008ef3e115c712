// StreamCompressor: compresses one response body (an event stream) as gzip or
// Brotli a write at a time, flushing after every write, so that each event
// reaches the client as soon as it is written and none waits in the
// compressor for the next.
//
// Contract:
//   - CompressAndFlush(input) ends with a sync flush (zlib Z_SYNC_FLUSH,
//     BROTLI_OPERATION_FLUSH): after every call, the bytes appended so far
//     decode to exactly the input given so far. History is kept across calls
//     (later events refer back to earlier ones), which is where the ratio on
//     small events comes from.
//   - Memory is bounded and chosen: the library state is allocated through
//     counting allocators (state_bytes()), with window and memory levels
//     whose defaults (CompressionSettings' -1 values) were measured by
//     bench/compression_bench (see core/stream_compressor.cc and
//     docs/benchmarks.md, "Compression settings").
//   - Finish() ends the stream (gzip trailer, Brotli's last meta-block) and
//     releases the library state; nothing may be compressed after it.
//   - Errors are absl::Status: InvalidArgument for settings out of range,
//     ResourceExhausted when the library cannot allocate, FailedPrecondition
//     for use after Finish() (or after an earlier error), Internal for a
//     library failure. zlib allocates everything in Create(). Brotli
//     allocates its hash tables and buffers on first use, and Debian's
//     libbrotlienc 1.0.9 is built with its default BROTLI_ENCODER_EXIT_ON_OOM:
//     an allocation failing after Create() ends the process instead of
//     returning an error. Its memory is bounded by the settings (see
//     state_bytes()), so cap the number of Brotli streams rather than rely
//     on an error.
//   - Memory (the library state, measured; docs/benchmarks.md): gzip is
//     2^(window_bits + 2) + 2^(memory_level + 9) bytes plus ~5.8 KiB, all
//     allocated in Create() (defaults: 15.8 KiB). Brotli at quality >= 2 (the
//     first that refers back across flushes) holds fixed hash tables of
//     256 KiB or more whatever the window (defaults: ~313 KiB after the demo's
//     ticks): prefer gzip when a client accepts both.
//
// Nothing here knows about HTTP: the caller negotiates the encoding
// (Accept-Encoding) and writes the returned bytes.
//
// Thread safety: the free functions are stateless and thread-safe. A
// StreamCompressor is one per response and not thread-safe: one thread at a
// time (calls may move between threads with external synchronization).

#ifndef SSE_GATEWAY_CORE_STREAM_COMPRESSOR_H_
#define SSE_GATEWAY_CORE_STREAM_COMPRESSOR_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sse_gateway {

// A response body's content coding.
enum class ContentEncoding { kIdentity, kGzip, kBrotli };

// The HTTP token of `encoding`: "identity", "gzip", "br".
absl::string_view ContentEncodingToken(ContentEncoding encoding);

// Compression knobs; -1 means the encoding's chosen default (see
// ResolveCompressionSettings).
struct CompressionSettings {
  int level = -1;         // gzip 1..9, br 0..11; -1: the encoding's default
  int window_bits = -1;   // gzip 9..15, br 10..24; -1: the chosen default
  int memory_level = -1;  // gzip only, 1..9; -1: the chosen default
};

// Checks `settings` against `encoding`'s ranges. Returns InvalidArgument
// naming the field ("level", "window_bits", "memory_level") when a value is
// out of range, or set (not -1) where it does not apply (memory_level for br,
// any field for identity).
absl::Status CheckCompressionSettings(ContentEncoding encoding,
                                      const CompressionSettings& settings);

// Returns `settings` checked and with every -1 replaced by `encoding`'s
// chosen default (memory_level stays -1 for br; identity has no settings).
// Errors as CheckCompressionSettings.
absl::StatusOr<CompressionSettings> ResolveCompressionSettings(
    ContentEncoding encoding, const CompressionSettings& settings);

// Compresses one response body; see the file comment. Not thread-safe.
class StreamCompressor {
 public:
  virtual ~StreamCompressor() = default;

  // A compressor for `encoding` (kGzip or kBrotli; InvalidArgument for
  // kIdentity) with `settings` (InvalidArgument when out of range).
  // ResourceExhausted if the library cannot allocate its state.
  static absl::StatusOr<std::unique_ptr<StreamCompressor>> Create(
      ContentEncoding encoding, const CompressionSettings& settings);

  // Compresses `input` and flushes: everything given so far can be decoded
  // from what was appended to `*out` (owned by the caller; existing contents
  // are kept). History is kept across calls. An empty `input` appends
  // nothing. On error the compressor is unusable (later calls return
  // FailedPrecondition) and `*out` may hold a partial write, which must not
  // be sent.
  virtual absl::Status CompressAndFlush(absl::string_view input,
                                        std::string* out) = 0;

  // Ends the compressed stream (gzip trailer, Brotli last empty meta-block),
  // appending to `*out`, and releases the library state. Nothing may be
  // compressed after (FailedPrecondition, as is a second Finish).
  virtual absl::Status Finish(std::string* out) = 0;

  // Bytes the compressor's library state holds now (counted through custom
  // allocators; 0 after Finish), for metrics and benchmarks. Brotli
  // allocates part of its state on first use, so this can grow after the
  // first CompressAndFlush.
  virtual size_t state_bytes() const = 0;
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_CORE_STREAM_COMPRESSOR_H_
