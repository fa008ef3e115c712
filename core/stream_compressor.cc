#include "core/stream_compressor.h"

#include <brotli/encode.h>
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <utility>

#include "absl/memory/memory.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace sse_gateway {
namespace {

// --- Chosen defaults --------------------------------------------------------
//
// Provisional: picked while bench/compression_bench's grid was still being
// measured (issue 16 is not closed). gzip keeps a 2 KiB window and memLevel 2
// (about 10 KiB of state instead of zlib's 256 KiB); Brotli quality 0-1 keeps
// no history across flushes (50 demo ticks: 0.97-1.04x identity in the
// Chromium test), so quality 3 with a 4 KiB window. Rerun
// `bazel run -c opt //bench:compression_bench` before relying on them.

constexpr int kGzipDefaultLevel = 6;
constexpr int kGzipDefaultWindowBits = 11;
constexpr int kGzipDefaultMemoryLevel = 2;

constexpr int kBrotliDefaultQuality = 3;
constexpr int kBrotliDefaultWindowBits = 12;

// --- Ranges -----------------------------------------------------------------

struct Range {
  int min;
  int max;
};

constexpr Range kGzipLevels = {1, 9};
// 8 is refused: zlib turns it into 9 for raw deflate and refuses it with
// the gzip wrapper.
constexpr Range kGzipWindowBits = {9, 15};
constexpr Range kGzipMemoryLevels = {1, 9};
constexpr Range kBrotliQualities = {BROTLI_MIN_QUALITY, BROTLI_MAX_QUALITY};
constexpr Range kBrotliWindowBits = {BROTLI_MIN_WINDOW_BITS,
                                     BROTLI_MAX_WINDOW_BITS};

absl::Status CheckField(absl::string_view field, int value, Range range,
                        absl::string_view encoding) {
  if (value == -1 || (value >= range.min && value <= range.max)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat(field, " must be in ", range.min, "..", range.max, " for ",
                   encoding, " (or -1 for the default), got ", value));
}

absl::Status CheckUnset(absl::string_view field, int value,
                        absl::string_view encoding) {
  if (value == -1) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      field, " does not apply to ", encoding, " (must be -1), got ", value));
}

// --- Counting allocation ----------------------------------------------------

// Counts the bytes a compression library holds through the allocation
// callbacks it is given; `failed()` records an allocation that failed. Each
// block carries its size in a header of one max_align_t, so blocks stay as
// aligned as malloc's. Not thread-safe (one compressor's library state).
class CountingAllocator {
 public:
  void* Allocate(size_t bytes) {
    if (bytes > SIZE_MAX - kHeaderBytes) {
      failed_ = true;
      return nullptr;
    }
    void* block = std::malloc(kHeaderBytes + bytes);
    if (block == nullptr) {
      failed_ = true;
      return nullptr;
    }
    *static_cast<size_t*>(block) = bytes;
    bytes_ += bytes;
    return static_cast<char*>(block) + kHeaderBytes;
  }

  void Free(void* address) {
    if (address == nullptr) return;
    void* block = static_cast<char*>(address) - kHeaderBytes;
    bytes_ -= *static_cast<size_t*>(block);
    std::free(block);
  }

  size_t bytes() const { return bytes_; }
  bool failed() const { return failed_; }

  // zlib's zalloc / zfree.
  static voidpf ZlibAlloc(voidpf opaque, uInt items, uInt size) {
    const size_t bytes = static_cast<size_t>(items) * size;  // No overflow.
    return static_cast<CountingAllocator*>(opaque)->Allocate(bytes);
  }
  static void ZlibFree(voidpf opaque, voidpf address) {
    static_cast<CountingAllocator*>(opaque)->Free(address);
  }

  // Brotli's brotli_alloc_func / brotli_free_func.
  static void* BrotliAlloc(void* opaque, size_t size) {
    return static_cast<CountingAllocator*>(opaque)->Allocate(size);
  }
  static void BrotliFree(void* opaque, void* address) {
    static_cast<CountingAllocator*>(opaque)->Free(address);
  }

 private:
  static constexpr size_t kHeaderBytes = alignof(std::max_align_t);
  static_assert(kHeaderBytes >= sizeof(size_t));

  size_t bytes_ = 0;
  bool failed_ = false;
};

absl::Status ResourceExhausted(absl::string_view what) {
  return absl::ResourceExhaustedError(
      absl::StrCat(what, ": the compression library could not allocate"));
}

absl::Status UsedAfterEnd() {
  return absl::FailedPreconditionError(
      "the compressed stream was finished or failed; nothing more may be "
      "compressed");
}

// --- gzip (zlib)
// --------------------------------------------------------------

// Owns a z_stream set up for gzip deflate and ends it on destruction. Neither
// copyable nor movable: zlib's state points back at its z_stream.
class DeflateStream {
 public:
  // `allocator` must outlive the stream.
  static absl::StatusOr<std::unique_ptr<DeflateStream>> Create(
      const CompressionSettings& settings, CountingAllocator* allocator) {
    auto stream = absl::WrapUnique(new DeflateStream);
    z_stream& z = stream->stream_;
    z.zalloc = &CountingAllocator::ZlibAlloc;
    z.zfree = &CountingAllocator::ZlibFree;
    z.opaque = allocator;
    // +16: a gzip header and trailer instead of zlib's.
    const int rc =
        deflateInit2(&z, settings.level, Z_DEFLATED, settings.window_bits + 16,
                     settings.memory_level, Z_DEFAULT_STRATEGY);
    if (rc == Z_MEM_ERROR) return ResourceExhausted("deflateInit2");
    if (rc != Z_OK) {
      return absl::InternalError(
          absl::StrCat("deflateInit2 failed (", rc, "): ", z.msg ? z.msg : ""));
    }
    stream->initialized_ = true;
    return stream;
  }

  ~DeflateStream() {
    if (initialized_) deflateEnd(&stream_);
  }

  DeflateStream(const DeflateStream&) = delete;
  DeflateStream& operator=(const DeflateStream&) = delete;

  // Runs deflate over all of `input` with `flush` (Z_SYNC_FLUSH or
  // Z_FINISH), appending what it writes to `*out`.
  absl::Status Deflate(absl::string_view input, int flush, std::string* out) {
    z_stream& z = stream_;
    // avail_in is an uInt: feed very large inputs a piece at a time (each
    // piece flushed as asked: correct, and rare enough not to matter).
    constexpr size_t kMaxPiece = size_t{1} << 30;
    do {
      const size_t piece = std::min(input.size(), kMaxPiece);
      const bool last_piece = piece == input.size();
      const int piece_flush = last_piece ? flush : Z_SYNC_FLUSH;
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
      z.avail_in = static_cast<uInt>(piece);
      // First guess at the room needed: the input plus flush marker, gzip
      // header and trailer; grows when deflate fills it. zlib asks for more
      // than 6 bytes of room on a sync flush, so never less than 64.
      size_t room = std::max<size_t>(piece + piece / 8 + 32, 64);
      while (true) {
        room = std::min<size_t>(room, UINT_MAX);
        const size_t old_size = out->size();
        out->resize(old_size + room);
        z.next_out = reinterpret_cast<Bytef*>(&(*out)[old_size]);
        z.avail_out = static_cast<uInt>(room);
        const int rc = deflate(&z, piece_flush);
        out->resize(old_size + room - z.avail_out);
        if (rc == Z_STREAM_END) break;
        // Z_BUF_ERROR: no progress was possible (nothing left to flush).
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
          return absl::InternalError(
              absl::StrCat("deflate failed (", rc, "): ", z.msg ? z.msg : ""));
        }
        // Done when deflate took all input and left room: the flush is
        // complete (zlib's rule for Z_SYNC_FLUSH; Z_FINISH ends above).
        if (z.avail_out != 0 && z.avail_in == 0 && piece_flush != Z_FINISH) {
          break;
        }
        room *= 2;
      }
      input.remove_prefix(piece);
    } while (!input.empty());
    return absl::OkStatus();
  }

 private:
  DeflateStream() = default;

  z_stream stream_{};
  bool initialized_ = false;
};

class GzipCompressor final : public StreamCompressor {
 public:
  static absl::StatusOr<std::unique_ptr<StreamCompressor>> Create(
      const CompressionSettings& settings) {
    auto compressor = absl::WrapUnique(new GzipCompressor);
    absl::StatusOr<std::unique_ptr<DeflateStream>> stream =
        DeflateStream::Create(settings, &compressor->allocator_);
    if (!stream.ok()) return stream.status();
    compressor->stream_ = *std::move(stream);
    return compressor;
  }

  absl::Status CompressAndFlush(absl::string_view input,
                                std::string* out) override {
    if (stream_ == nullptr) return UsedAfterEnd();
    if (input.empty()) return absl::OkStatus();
    return Fail(stream_->Deflate(input, Z_SYNC_FLUSH, out));
  }

  absl::Status Finish(std::string* out) override {
    if (stream_ == nullptr) return UsedAfterEnd();
    absl::Status status = stream_->Deflate("", Z_FINISH, out);
    stream_.reset();
    return status;
  }

  size_t state_bytes() const override { return allocator_.bytes(); }

 private:
  GzipCompressor() = default;

  // Ends the stream on error: a failed deflate leaves it unusable.
  absl::Status Fail(absl::Status status) {
    if (!status.ok()) stream_.reset();
    return status;
  }

  CountingAllocator allocator_;  // Outlives stream_ (declared before it).
  std::unique_ptr<DeflateStream> stream_;  // Null once finished or failed.
};

// --- Brotli -----------------------------------------------------------------

struct BrotliEncoderDeleter {
  void operator()(BrotliEncoderState* state) const {
    BrotliEncoderDestroyInstance(state);
  }
};
using BrotliEncoderPtr =
    std::unique_ptr<BrotliEncoderState, BrotliEncoderDeleter>;

class BrotliCompressor final : public StreamCompressor {
 public:
  static absl::StatusOr<std::unique_ptr<StreamCompressor>> Create(
      const CompressionSettings& settings) {
    auto compressor = absl::WrapUnique(new BrotliCompressor);
    compressor->state_.reset(BrotliEncoderCreateInstance(
        &CountingAllocator::BrotliAlloc, &CountingAllocator::BrotliFree,
        &compressor->allocator_));
    BrotliEncoderState* state = compressor->state_.get();
    if (state == nullptr)
      return ResourceExhausted("BrotliEncoderCreateInstance");
    // The text of an event stream is UTF-8: TEXT mode tunes literal coding.
    if (!BrotliEncoderSetParameter(state, BROTLI_PARAM_MODE,
                                   BROTLI_MODE_TEXT) ||
        !BrotliEncoderSetParameter(state, BROTLI_PARAM_QUALITY,
                                   static_cast<uint32_t>(settings.level)) ||
        !BrotliEncoderSetParameter(
            state, BROTLI_PARAM_LGWIN,
            static_cast<uint32_t>(settings.window_bits))) {
      return absl::InternalError("BrotliEncoderSetParameter refused a value");
    }
    return compressor;
  }

  absl::Status CompressAndFlush(absl::string_view input,
                                std::string* out) override {
    if (state_ == nullptr) return UsedAfterEnd();
    if (input.empty()) return absl::OkStatus();
    return Fail(Run(BROTLI_OPERATION_FLUSH, input, out));
  }

  absl::Status Finish(std::string* out) override {
    if (state_ == nullptr) return UsedAfterEnd();
    absl::Status status = Run(BROTLI_OPERATION_FINISH, "", out);
    state_.reset();
    return status;
  }

  size_t state_bytes() const override { return allocator_.bytes(); }

 private:
  BrotliCompressor() = default;

  // Runs `op` over all of `input` until it is complete, appending the output
  // (taken from the encoder's own buffer) to `*out`. Brotli's rule: repeat
  // the operation until it consumed all input and a call left no output
  // behind (output taken after a call may not be all of it).
  absl::Status Run(BrotliEncoderOperation op, absl::string_view input,
                   std::string* out) {
    BrotliEncoderState* state = state_.get();
    size_t available_in = input.size();
    const uint8_t* next_in = reinterpret_cast<const uint8_t*>(input.data());
    while (true) {
      size_t available_out = 0;
      if (!BrotliEncoderCompressStream(state, op, &available_in, &next_in,
                                       &available_out, nullptr, nullptr)) {
        if (allocator_.failed()) return ResourceExhausted("Brotli encoder");
        return absl::InternalError("BrotliEncoderCompressStream failed");
      }
      if (BrotliEncoderHasMoreOutput(state)) {
        size_t size = 0;
        const uint8_t* output = BrotliEncoderTakeOutput(state, &size);
        out->append(reinterpret_cast<const char*>(output), size);
        continue;
      }
      if (available_in == 0 &&
          (op != BROTLI_OPERATION_FINISH || BrotliEncoderIsFinished(state))) {
        return absl::OkStatus();
      }
    }
  }

  absl::Status Fail(absl::Status status) {
    if (!status.ok()) state_.reset();
    return status;
  }

  CountingAllocator allocator_;  // Outlives state_ (declared before it).
  BrotliEncoderPtr state_;       // Null once finished or failed.
};

}  // namespace

absl::string_view ContentEncodingToken(ContentEncoding encoding) {
  switch (encoding) {
    case ContentEncoding::kIdentity:
      return "identity";
    case ContentEncoding::kGzip:
      return "gzip";
    case ContentEncoding::kBrotli:
      return "br";
  }
  return "identity";
}

absl::Status CheckCompressionSettings(ContentEncoding encoding,
                                      const CompressionSettings& settings) {
  const absl::string_view name = ContentEncodingToken(encoding);
  switch (encoding) {
    case ContentEncoding::kIdentity:
      if (absl::Status s = CheckUnset("level", settings.level, name); !s.ok()) {
        return s;
      }
      if (absl::Status s =
              CheckUnset("window_bits", settings.window_bits, name);
          !s.ok()) {
        return s;
      }
      return CheckUnset("memory_level", settings.memory_level, name);
    case ContentEncoding::kGzip:
      if (absl::Status s =
              CheckField("level", settings.level, kGzipLevels, name);
          !s.ok()) {
        return s;
      }
      if (absl::Status s = CheckField("window_bits", settings.window_bits,
                                      kGzipWindowBits, name);
          !s.ok()) {
        return s;
      }
      return CheckField("memory_level", settings.memory_level,
                        kGzipMemoryLevels, name);
    case ContentEncoding::kBrotli:
      if (absl::Status s =
              CheckField("level", settings.level, kBrotliQualities, name);
          !s.ok()) {
        return s;
      }
      if (absl::Status s = CheckField("window_bits", settings.window_bits,
                                      kBrotliWindowBits, name);
          !s.ok()) {
        return s;
      }
      return CheckUnset("memory_level", settings.memory_level, name);
  }
  return absl::InvalidArgumentError("unknown content encoding");
}

absl::StatusOr<CompressionSettings> ResolveCompressionSettings(
    ContentEncoding encoding, const CompressionSettings& settings) {
  if (absl::Status s = CheckCompressionSettings(encoding, settings); !s.ok()) {
    return s;
  }
  CompressionSettings resolved = settings;
  auto fill = [](int& value, int default_value) {
    if (value == -1) value = default_value;
  };
  switch (encoding) {
    case ContentEncoding::kIdentity:
      break;
    case ContentEncoding::kGzip:
      fill(resolved.level, kGzipDefaultLevel);
      fill(resolved.window_bits, kGzipDefaultWindowBits);
      fill(resolved.memory_level, kGzipDefaultMemoryLevel);
      break;
    case ContentEncoding::kBrotli:
      fill(resolved.level, kBrotliDefaultQuality);
      fill(resolved.window_bits, kBrotliDefaultWindowBits);
      break;
  }
  return resolved;
}

absl::StatusOr<std::unique_ptr<StreamCompressor>> StreamCompressor::Create(
    ContentEncoding encoding, const CompressionSettings& settings) {
  if (encoding == ContentEncoding::kIdentity) {
    return absl::InvalidArgumentError(
        "identity is not a compressed encoding: write the bytes as they are");
  }
  absl::StatusOr<CompressionSettings> resolved =
      ResolveCompressionSettings(encoding, settings);
  if (!resolved.ok()) return resolved.status();
  if (encoding == ContentEncoding::kGzip) {
    return GzipCompressor::Create(*resolved);
  }
  return BrotliCompressor::Create(*resolved);
}

}  // namespace sse_gateway
