#include "core/stream_compressor.h"

#include <brotli/decode.h>
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <ostream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace sse_gateway {
namespace {

// A streaming decoder of one compressed body, fed the compressor's output a
// piece at a time; Feed() returns everything that piece lets it decode.
class Decoder {
 public:
  virtual ~Decoder() = default;
  static std::unique_ptr<Decoder> For(ContentEncoding encoding);
  // Decodes as much of the stream as `input` completes, appending the
  // output to `*out`. Error on corrupt input.
  virtual absl::Status Feed(absl::string_view input, std::string* out) = 0;
  // Whether the end of the compressed stream (trailer, last meta-block) was
  // read.
  virtual bool ended() const = 0;
};

class GzipDecoder final : public Decoder {
 public:
  GzipDecoder() {
    // 15 + 16: any window, gzip wrapper only.
    EXPECT_EQ(inflateInit2(&z_, 15 + 16), Z_OK);
  }
  ~GzipDecoder() override { inflateEnd(&z_); }

  absl::Status Feed(absl::string_view input, std::string* out) override {
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
    z_.avail_in = static_cast<uInt>(input.size());
    char buffer[4096];
    while (true) {
      z_.next_out = reinterpret_cast<Bytef*>(buffer);
      z_.avail_out = sizeof(buffer);
      const int rc = inflate(&z_, Z_SYNC_FLUSH);
      out->append(buffer, sizeof(buffer) - z_.avail_out);
      if (rc == Z_STREAM_END) {
        ended_ = true;
        if (z_.avail_in != 0) return absl::DataLossError("bytes after end");
        return absl::OkStatus();
      }
      if (rc == Z_BUF_ERROR) return absl::OkStatus();  // Needs more input.
      if (rc != Z_OK) {
        return absl::DataLossError(
            absl::StrCat("inflate: ", rc, " ", z_.msg ? z_.msg : ""));
      }
      if (z_.avail_in == 0 && z_.avail_out != 0) return absl::OkStatus();
    }
  }

  bool ended() const override { return ended_; }

 private:
  z_stream z_{};
  bool ended_ = false;
};

class BrotliStreamDecoder final : public Decoder {
 public:
  BrotliStreamDecoder()
      : state_(BrotliDecoderCreateInstance(nullptr, nullptr, nullptr)) {}
  ~BrotliStreamDecoder() override { BrotliDecoderDestroyInstance(state_); }

  absl::Status Feed(absl::string_view input, std::string* out) override {
    size_t available_in = input.size();
    const uint8_t* next_in = reinterpret_cast<const uint8_t*>(input.data());
    while (true) {
      uint8_t buffer[4096];
      size_t available_out = sizeof(buffer);
      uint8_t* next_out = buffer;
      const BrotliDecoderResult result = BrotliDecoderDecompressStream(
          state_, &available_in, &next_in, &available_out, &next_out, nullptr);
      out->append(reinterpret_cast<char*>(buffer),
                  sizeof(buffer) - available_out);
      switch (result) {
        case BROTLI_DECODER_RESULT_SUCCESS:
          ended_ = true;
          if (available_in != 0) return absl::DataLossError("bytes after end");
          return absl::OkStatus();
        case BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT:
          // With its output full, the decoder can say so while it still
          // holds output (uncompressed meta-blocks): drain that first.
          if (BrotliDecoderHasMoreOutput(state_)) continue;
          return absl::OkStatus();
        case BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT:
          continue;
        case BROTLI_DECODER_RESULT_ERROR:
          return absl::DataLossError(
              BrotliDecoderErrorString(BrotliDecoderGetErrorCode(state_)));
      }
    }
  }

  bool ended() const override { return ended_; }

 private:
  BrotliDecoderState* state_;
  bool ended_ = false;
};

std::unique_ptr<Decoder> Decoder::For(ContentEncoding encoding) {
  if (encoding == ContentEncoding::kGzip) {
    return std::make_unique<GzipDecoder>();
  }
  return std::make_unique<BrotliStreamDecoder>();
}

// One SSE frame like the demo's ticks.
std::string TickFrame(int seq, std::mt19937* rng) {
  std::uniform_int_distribution<int> cents(10000, 20000);
  std::uniform_int_distribution<int> nanos(0, 999999999);
  const int price = cents(*rng);
  return absl::StrCat("id: ", seq, "\nevent: tick\ndata: {\"seq\":\"", seq,
                      "\",\"symbol\":\"ACME\",\"price\":", price / 100, ".",
                      price % 100,
                      ",\"time\":\"2026-12-05T08:", 10 + seq / 60 % 50, ":",
                      10 + seq % 50, ".", nanos(*rng), "Z\"}\n\n");
}

std::string RandomBytes(size_t size, std::mt19937* rng) {
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>((*rng)() & 0xff);
  return bytes;
}

struct Case {
  ContentEncoding encoding;
  CompressionSettings settings;
};

std::ostream& operator<<(std::ostream& os, const Case& c) {
  return os << ContentEncodingToken(c.encoding) << "_level" << c.settings.level
            << "_window" << c.settings.window_bits << "_memory"
            << c.settings.memory_level;
}

std::string CaseName(const testing::TestParamInfo<Case>& info) {
  const CompressionSettings& s = info.param.settings;
  std::string name =
      absl::StrCat(ContentEncodingToken(info.param.encoding), "_level", s.level,
                   "_window", s.window_bits, "_memory", s.memory_level);
  for (char& c : name) {
    if (c == '-') c = 'm';
  }
  return name;
}

class StreamCompressorTest : public testing::TestWithParam<Case> {
 protected:
  // Brotli's two fastest qualities (0, 1) compress every flushed block on
  // its own, without the blocks before it.
  bool KeepsHistory() const {
    absl::StatusOr<CompressionSettings> resolved =
        ResolveCompressionSettings(GetParam().encoding, GetParam().settings);
    return GetParam().encoding == ContentEncoding::kGzip ||
           (resolved.ok() && resolved->level >= 2);
  }
  // Brotli's best qualities compress about 1 MB/s: large inputs are made
  // smaller for them.
  size_t LargeScale() const {
    return GetParam().encoding == ContentEncoding::kBrotli &&
                   GetParam().settings.level >= 10
               ? 1
               : 4;
  }
  std::unique_ptr<StreamCompressor> NewCompressor() {
    absl::StatusOr<std::unique_ptr<StreamCompressor>> compressor =
        StreamCompressor::Create(GetParam().encoding, GetParam().settings);
    EXPECT_TRUE(compressor.ok()) << compressor.status();
    return compressor.ok() ? *std::move(compressor) : nullptr;
  }
  std::unique_ptr<Decoder> NewDecoder() {
    return Decoder::For(GetParam().encoding);
  }
};

// The "no event waits" property: after every call, what was written so far
// decodes to exactly what was given so far.
TEST_P(StreamCompressorTest, EveryEventDecodesFromItsOwnPrefix) {
  std::unique_ptr<StreamCompressor> compressor = NewCompressor();
  ASSERT_NE(compressor, nullptr);
  std::unique_ptr<Decoder> decoder = NewDecoder();
  std::mt19937 rng(1);
  std::string given, decoded;
  size_t wire_bytes = 0;
  for (int seq = 1; seq <= 500; ++seq) {
    const std::string frame = TickFrame(seq, &rng);
    given += frame;
    std::string out;
    ASSERT_TRUE(compressor->CompressAndFlush(frame, &out).ok());
    ASSERT_FALSE(out.empty());
    wire_bytes += out.size();
    ASSERT_TRUE(decoder->Feed(out, &decoded).ok()) << "event " << seq;
    ASSERT_EQ(decoded, given) << "event " << seq;
    ASSERT_FALSE(decoder->ended());
  }
  std::string tail;
  ASSERT_TRUE(compressor->Finish(&tail).ok());
  ASSERT_TRUE(decoder->Feed(tail, &decoded).ok());
  EXPECT_TRUE(decoder->ended());
  EXPECT_EQ(decoded, given);
  // History across events: the ticks compress well below their size, which
  // they could not one at a time (each is ~110 bytes).
  if (KeepsHistory()) {
    EXPECT_LT(wire_bytes + tail.size(), given.size() * 6 / 10);
  }
}

TEST_P(StreamCompressorTest, SeveralEventsInOneWrite) {
  std::unique_ptr<StreamCompressor> compressor = NewCompressor();
  ASSERT_NE(compressor, nullptr);
  std::unique_ptr<Decoder> decoder = NewDecoder();
  std::mt19937 rng(2);
  std::string given, decoded;
  for (int write = 0; write < 50; ++write) {
    std::string batch;
    for (int i = 0; i <= write % 7; ++i)
      batch += TickFrame(write * 10 + i, &rng);
    given += batch;
    std::string out;
    ASSERT_TRUE(compressor->CompressAndFlush(batch, &out).ok());
    ASSERT_TRUE(decoder->Feed(out, &decoded).ok());
    ASSERT_EQ(decoded, given);
  }
}

TEST_P(StreamCompressorTest, HistoryIsKeptAcrossCalls) {
  std::unique_ptr<StreamCompressor> compressor = NewCompressor();
  ASSERT_NE(compressor, nullptr);
  std::mt19937 rng(3);
  // 200 bytes no one can compress on their own, then the same again.
  const std::string event = RandomBytes(200, &rng);
  std::string first, second;
  ASSERT_TRUE(compressor->CompressAndFlush(event, &first).ok());
  ASSERT_TRUE(compressor->CompressAndFlush(event, &second).ok());
  EXPECT_GT(first.size(), event.size());
  if (KeepsHistory()) {
    EXPECT_LT(second.size(), 40u);
  } else {
    EXPECT_GT(second.size(), event.size());
  }
}

TEST_P(StreamCompressorTest, EmptyInputsAppendNothing) {
  std::unique_ptr<StreamCompressor> compressor = NewCompressor();
  ASSERT_NE(compressor, nullptr);
  std::unique_ptr<Decoder> decoder = NewDecoder();
  std::string out = "kept";
  ASSERT_TRUE(compressor->CompressAndFlush("", &out).ok());
  EXPECT_EQ(out, "kept");
  out.clear();
  ASSERT_TRUE(compressor->CompressAndFlush("data: a\n\n", &out).ok());
  std::string decoded;
  ASSERT_TRUE(decoder->Feed(out, &decoded).ok());
  EXPECT_EQ(decoded, "data: a\n\n");
  out.clear();
  ASSERT_TRUE(compressor->CompressAndFlush("", &out).ok());
  ASSERT_TRUE(compressor->CompressAndFlush("", &out).ok());
  EXPECT_EQ(out, "");
  ASSERT_TRUE(compressor->CompressAndFlush(":\n\n", &out).ok());
  ASSERT_TRUE(compressor->Finish(&out).ok());
  ASSERT_TRUE(decoder->Feed(out, &decoded).ok());
  EXPECT_TRUE(decoder->ended());
  EXPECT_EQ(decoded, "data: a\n\n:\n\n");
}

TEST_P(StreamCompressorTest, FinishWithNothingGivenIsAnEmptyBody) {
  std::unique_ptr<StreamCompressor> compressor = NewCompressor();
  ASSERT_NE(compressor, nullptr);
  std::string out;
  ASSERT_TRUE(compressor->Finish(&out).ok());
  EXPECT_FALSE(out.empty());
  std::unique_ptr<Decoder> decoder = NewDecoder();
  std::string decoded;
  ASSERT_TRUE(decoder->Feed(out, &decoded).ok());
  EXPECT_TRUE(decoder->ended());
  EXPECT_EQ(decoded, "");
}

TEST_P(StreamCompressorTest, NothingAfterFinish) {
  std::unique_ptr<StreamCompressor> compressor = NewCompressor();
  ASSERT_NE(compressor, nullptr);
  std::string out;
  ASSERT_TRUE(compressor->CompressAndFlush("data: a\n\n", &out).ok());
  EXPECT_GT(compressor->state_bytes(), 0u);
  ASSERT_TRUE(compressor->Finish(&out).ok());
  EXPECT_EQ(compressor->state_bytes(), 0u);
  const size_t size = out.size();
  EXPECT_EQ(compressor->CompressAndFlush("x", &out).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(compressor->CompressAndFlush("", &out).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(compressor->Finish(&out).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(out.size(), size);
}

TEST_P(StreamCompressorTest, LargeInputs) {
  std::unique_ptr<StreamCompressor> compressor = NewCompressor();
  ASSERT_NE(compressor, nullptr);
  std::unique_ptr<Decoder> decoder = NewDecoder();
  std::mt19937 rng(4);
  std::string given, decoded;
  // Incompressible (output larger than input), then very compressible, then
  // a mix, each in one call.
  std::string mixed;
  const size_t scale = LargeScale();
  while (mixed.size() < scale * (3u << 18)) {
    mixed += TickFrame(static_cast<int>(mixed.size()), &rng);
    mixed += RandomBytes(rng() % 300, &rng);
  }
  for (const std::string& input :
       {RandomBytes(scale * (5u << 18), &rng),
        std::string(scale * (4u << 18), 'x'), mixed}) {
    given += input;
    std::string out;
    ASSERT_TRUE(compressor->CompressAndFlush(input, &out).ok());
    ASSERT_TRUE(decoder->Feed(out, &decoded).ok());
    ASSERT_EQ(decoded.size(), given.size());
    ASSERT_TRUE(decoded == given);
  }
  std::string out;
  ASSERT_TRUE(compressor->Finish(&out).ok());
  ASSERT_TRUE(decoder->Feed(out, &decoded).ok());
  EXPECT_TRUE(decoder->ended());
}

TEST_P(StreamCompressorTest, OutputIsAppended) {
  std::unique_ptr<StreamCompressor> compressor = NewCompressor();
  ASSERT_NE(compressor, nullptr);
  std::string out = "prefix";
  ASSERT_TRUE(compressor->CompressAndFlush("data: a\n\n", &out).ok());
  ASSERT_TRUE(compressor->Finish(&out).ok());
  ASSERT_EQ(absl::string_view(out).substr(0, 6), "prefix");
  std::unique_ptr<Decoder> decoder = NewDecoder();
  std::string decoded;
  ASSERT_TRUE(decoder->Feed(absl::string_view(out).substr(6), &decoded).ok());
  EXPECT_EQ(decoded, "data: a\n\n");
}

INSTANTIATE_TEST_SUITE_P(
    Settings, StreamCompressorTest,
    testing::Values(Case{ContentEncoding::kGzip, {}},
                    Case{ContentEncoding::kGzip, {1, 9, 1}},
                    Case{ContentEncoding::kGzip, {9, 15, 9}},
                    Case{ContentEncoding::kBrotli, {}},
                    Case{ContentEncoding::kBrotli, {0, 10, -1}},
                    Case{ContentEncoding::kBrotli, {5, 16, -1}},
                    Case{ContentEncoding::kBrotli, {11, 24, -1}}),
    CaseName);

TEST(ContentEncodingTest, Tokens) {
  EXPECT_EQ(ContentEncodingToken(ContentEncoding::kIdentity), "identity");
  EXPECT_EQ(ContentEncodingToken(ContentEncoding::kGzip), "gzip");
  EXPECT_EQ(ContentEncodingToken(ContentEncoding::kBrotli), "br");
}

// Expects InvalidArgument whose message starts with `field`.
void ExpectRefused(ContentEncoding encoding, CompressionSettings settings,
                   absl::string_view field) {
  const absl::Status status = CheckCompressionSettings(encoding, settings);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument)
      << ContentEncodingToken(encoding) << " " << field;
  EXPECT_TRUE(absl::StartsWith(status.message(), absl::StrCat(field, " ")))
      << status;
  // Create refuses the same settings the same way.
  if (encoding != ContentEncoding::kIdentity) {
    absl::StatusOr<std::unique_ptr<StreamCompressor>> compressor =
        StreamCompressor::Create(encoding, settings);
    EXPECT_EQ(compressor.status(), status);
  }
}

TEST(CheckCompressionSettingsTest, RangesAndDefaults) {
  for (ContentEncoding encoding :
       {ContentEncoding::kIdentity, ContentEncoding::kGzip,
        ContentEncoding::kBrotli}) {
    EXPECT_TRUE(CheckCompressionSettings(encoding, {}).ok());
  }
  EXPECT_TRUE(CheckCompressionSettings(ContentEncoding::kGzip, {1, 9, 1}).ok());
  EXPECT_TRUE(
      CheckCompressionSettings(ContentEncoding::kGzip, {9, 15, 9}).ok());
  EXPECT_TRUE(
      CheckCompressionSettings(ContentEncoding::kBrotli, {0, 10, -1}).ok());
  EXPECT_TRUE(
      CheckCompressionSettings(ContentEncoding::kBrotli, {11, 24, -1}).ok());
}

TEST(CheckCompressionSettingsTest, RefusesOutOfRange) {
  ExpectRefused(ContentEncoding::kGzip, {0, -1, -1}, "level");
  ExpectRefused(ContentEncoding::kGzip, {10, -1, -1}, "level");
  ExpectRefused(ContentEncoding::kGzip, {-2, -1, -1}, "level");
  ExpectRefused(ContentEncoding::kGzip, {-1, 8, -1}, "window_bits");
  ExpectRefused(ContentEncoding::kGzip, {-1, 16, -1}, "window_bits");
  ExpectRefused(ContentEncoding::kGzip, {-1, -1, 0}, "memory_level");
  ExpectRefused(ContentEncoding::kGzip, {-1, -1, 10}, "memory_level");
  ExpectRefused(ContentEncoding::kBrotli, {12, -1, -1}, "level");
  ExpectRefused(ContentEncoding::kBrotli, {-1, 9, -1}, "window_bits");
  ExpectRefused(ContentEncoding::kBrotli, {-1, 25, -1}, "window_bits");
  ExpectRefused(ContentEncoding::kBrotli, {-1, -1, 8}, "memory_level");
  ExpectRefused(ContentEncoding::kIdentity, {1, -1, -1}, "level");
  ExpectRefused(ContentEncoding::kIdentity, {-1, 15, -1}, "window_bits");
  ExpectRefused(ContentEncoding::kIdentity, {-1, -1, 8}, "memory_level");
}

TEST(StreamCompressorCreateTest, RefusesIdentity) {
  EXPECT_EQ(
      StreamCompressor::Create(ContentEncoding::kIdentity, {}).status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(ResolveCompressionSettingsTest, FillsDefaults) {
  absl::StatusOr<CompressionSettings> gzip =
      ResolveCompressionSettings(ContentEncoding::kGzip, {});
  ASSERT_TRUE(gzip.ok());
  EXPECT_GE(gzip->level, 1);
  EXPECT_GE(gzip->window_bits, 9);
  EXPECT_GE(gzip->memory_level, 1);
  absl::StatusOr<CompressionSettings> kept =
      ResolveCompressionSettings(ContentEncoding::kGzip, {3, 12, 4});
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->level, 3);
  EXPECT_EQ(kept->window_bits, 12);
  EXPECT_EQ(kept->memory_level, 4);
  absl::StatusOr<CompressionSettings> br =
      ResolveCompressionSettings(ContentEncoding::kBrotli, {});
  ASSERT_TRUE(br.ok());
  EXPECT_GE(br->level, 0);
  EXPECT_GE(br->window_bits, 10);
  EXPECT_EQ(br->memory_level, -1);
  EXPECT_EQ(ResolveCompressionSettings(ContentEncoding::kBrotli, {-1, 30, -1})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

// The state is what zlib documents for its settings: 2^(window_bits + 2) +
// 2^(memory_level + 9) bytes plus its fixed state of a few KiB.
TEST(StreamCompressorMemoryTest, GzipStateFollowsItsSettings) {
  for (const CompressionSettings& settings :
       {CompressionSettings{6, 9, 1}, CompressionSettings{6, 10, 2},
        CompressionSettings{6, 15, 8}}) {
    absl::StatusOr<std::unique_ptr<StreamCompressor>> compressor =
        StreamCompressor::Create(ContentEncoding::kGzip, settings);
    ASSERT_TRUE(compressor.ok());
    const size_t expected = (size_t{1} << (settings.window_bits + 2)) +
                            (size_t{1} << (settings.memory_level + 9));
    EXPECT_GE((*compressor)->state_bytes(), expected);
    EXPECT_LE((*compressor)->state_bytes(), expected + 8 * 1024);
    std::string out;
    ASSERT_TRUE((*compressor)->CompressAndFlush("data: x\n\n", &out).ok());
    EXPECT_LE((*compressor)->state_bytes(), expected + 8 * 1024);
  }
}

// The defaults' memory, as measured by bench/compression_bench (see
// core/stream_compressor.cc): a change of defaults must be deliberate.
TEST(StreamCompressorMemoryTest, DefaultsStayWithinTheirChosenMemory) {
  std::mt19937 rng(5);
  std::vector<std::string> ticks;
  for (int seq = 1; seq <= 300; ++seq) ticks.push_back(TickFrame(seq, &rng));
  for (const auto& [encoding, limit] :
       {std::pair<ContentEncoding, size_t>{ContentEncoding::kGzip, 16 * 1024},
        std::pair<ContentEncoding, size_t>{ContentEncoding::kBrotli,
                                           320 * 1024}}) {
    absl::StatusOr<std::unique_ptr<StreamCompressor>> compressor =
        StreamCompressor::Create(encoding, {});
    ASSERT_TRUE(compressor.ok());
    std::string out;
    for (const std::string& tick : ticks) {
      ASSERT_TRUE((*compressor)->CompressAndFlush(tick, &out).ok());
    }
    EXPECT_LE((*compressor)->state_bytes(), limit)
        << ContentEncodingToken(encoding);
    EXPECT_GT((*compressor)->state_bytes(), limit / 2)
        << ContentEncodingToken(encoding);
  }
}

}  // namespace
}  // namespace sse_gateway
