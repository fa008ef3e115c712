// compression_bench: what gzip and Brotli settings cost and buy on the
// gateway's event streams, to choose core/stream_compressor's defaults.
//
//   bazel run -c opt //bench:compression_bench             # Markdown tables
//   bazel run -c opt //bench:compression_bench -- --json   # JSON lines
//   bazel run -c opt //bench:compression_bench -- --grid=small --rss_streams=0
//
// Workloads (each frame exactly as the gateway writes it: the real
// JsonRenderer and SSE framer, one event per write, so one sync flush per
// event, the worst case for the ratio and the common case at low rates):
//   - ticks: the demo's demo.v1.Tick stream (symbol ACME, prices from the
//     demo backend's TickPrice walk, one tick a second, each sent 0.05-0.9 ms
//     after its second, like the backend's alarm);
//   - firehose64: bench.v1.Event with a 64-byte payload at 1 event/s (the
//     benchmarks' many-streams scenario);
//   - book1k: a synthetic order book event of about 1 KiB (ratio only in
//     the table), to show what the window buys once events approach it.
// For every setting of the grid (gzip level x window_bits x memory_level,
// br quality x lgwin):
//   - wire bytes per event and the ratio to identity (--events per stream);
//   - CPU ns per event (thread CPU time of CompressAndFlush, the least of
//     --repeats streams: other load on the machine only adds to it);
//   - state_bytes() after --events ticks (Brotli allocates as it goes);
//   - RSS growth per stream with --rss_streams compressors alive (from
//     /proc/self/statm), each fed ticks round robin until its window is full
//     (2^window_bits x 2 bytes of input, at most 1,000 events); fewer streams
//     when they would take more than --rss_budget_mib.
// Then the fan-out comparison for --fanout_subscribers subscribers of one
// stream: (a) each subscriber compressing its own copy with history (the
// default settings) against (b) each event compressed once with no history
// (gzip: one raw deflate stream with Z_FULL_FLUSH after every event; Brotli:
// see below) whose bytes every subscriber shares, behind its own gzip header
// and trailer. (b) is checked: streams spliced from shared blocks, joined at
// several events, must decode to the events.

#include <brotli/decode.h>
#include <brotli/encode.h>
#include <malloc.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "bench/bench_stats.h"
#include "core/json_renderer.h"
#include "core/sse_framer.h"
#include "core/sse_message.h"
#include "core/stream_compressor.h"
#include "examples/ticker_service.h"
#include "proto/bench/v1/firehose.pb.h"
#include "proto/demo/v1/ticker.pb.h"

ABSL_FLAG(int, events, 2000, "Events per stream for ratio and CPU.");
ABSL_FLAG(int, repeats, 5,
          "Streams compressed per setting and workload; CPU is the least of "
          "them (the machine's other load only adds).");
ABSL_FLAG(int, rss_streams, 10000,
          "Compressors alive for the RSS measurement (0: skip it).");
ABSL_FLAG(
    int64_t, rss_budget_mib, 6144,
    "Fewer RSS streams for settings whose --rss_streams would need more.");
ABSL_FLAG(int, fanout_subscribers, 1000,
          "Subscribers of one stream in the fan-out comparison.");
ABSL_FLAG(std::string, grid, "full", "full | small");
ABSL_FLAG(bool, json, false, "Print JSON lines instead of Markdown tables.");

namespace sse_gateway {
namespace {

// --- Workloads ---------------------------------------------------------------

struct Workload {
  std::string name;
  std::vector<std::string> frames;
  double mean_frame_bytes = 0;
};

void Finalize(Workload* workload) {
  size_t total = 0;
  for (const std::string& frame : workload->frames) total += frame.size();
  workload->mean_frame_bytes =
      static_cast<double>(total) / workload->frames.size();
}

// Frames one event as the gateway does: id, event "tick", the JSON, and the
// route's retry hint on the first event only.
std::string Frame(uint64_t seq, const std::string& json,
                  std::optional<int64_t> retry_ms) {
  SseMessage message;
  message.id = absl::StrCat(seq);
  message.event = "tick";
  message.data = json;
  message.retry_ms = retry_ms;
  std::string frame;
  const absl::Status status = AppendSseMessage(message, &frame);
  if (!status.ok()) {
    std::fprintf(stderr, "framing: %s\n", status.ToString().c_str());
    std::exit(1);
  }
  return frame;
}

std::string Render(const JsonRenderer& renderer,
                   const google::protobuf::Message& message) {
  std::string json;
  const absl::Status status =
      renderer.Render(message.SerializeAsString(), &json);
  if (!status.ok()) {
    std::fprintf(stderr, "rendering: %s\n", status.ToString().c_str());
    std::exit(1);
  }
  return json;
}

const absl::Time kStart = absl::FromCivil(
    absl::CivilSecond(2026, 12, 5, 8, 28, 0), absl::UTCTimeZone());

Workload TickWorkload(int count) {
  Workload workload{"ticks"};
  const JsonRenderer renderer(demo::v1::Tick::descriptor(), JsonOptions());
  std::mt19937_64 rng(7);
  // The demo backend's alarm: a tick every interval (1 s by default), sent a
  // little after it is due.
  const absl::Duration phase = absl::Nanoseconds(rng() % 1'000'000'000);
  demo::v1::Tick tick;
  for (int seq = 1; seq <= count; ++seq) {
    const absl::Time at = kStart + phase + absl::Seconds(seq) +
                          absl::Nanoseconds(50'000 + rng() % 850'000);
    const int64_t seconds = absl::ToUnixSeconds(at);
    tick.set_seq(seq);
    tick.set_symbol("ACME");
    tick.set_price(TickPrice("ACME", seq));
    tick.mutable_time()->set_seconds(seconds);
    tick.mutable_time()->set_nanos(static_cast<int32_t>(
        (at - absl::FromUnixSeconds(seconds)) / absl::Nanoseconds(1)));
    workload.frames.push_back(
        Frame(seq, Render(renderer, tick),
              seq == 1 ? std::optional<int64_t>(2000) : std::nullopt));
  }
  Finalize(&workload);
  return workload;
}

Workload FirehoseWorkload(int count) {
  Workload workload{"firehose64"};
  const JsonRenderer renderer(bench::v1::Event::descriptor(), JsonOptions());
  std::mt19937_64 rng(8);
  bench::v1::Event event;
  event.set_payload(std::string(64, 'x'));
  const int64_t start_nanos = absl::ToUnixNanos(kStart);
  for (int seq = 1; seq <= count; ++seq) {
    event.set_seq(seq);
    event.set_sent_unix_nanos(start_nanos + int64_t{1'000'000'000} * seq +
                              static_cast<int64_t>(rng() % 2'000'000));
    workload.frames.push_back(
        Frame(seq, Render(renderer, event),
              seq == 1 ? std::optional<int64_t>(1000) : std::nullopt));
  }
  Finalize(&workload);
  return workload;
}

// A larger event to show what the window buys once events approach it: an
// order book of 10 levels a side (about 1 KiB of JSON), built by hand (no
// proto in the repository has this shape), mid price from the demo's walk.
Workload BookWorkload(int count) {
  Workload workload{"book1k"};
  std::mt19937_64 rng(9);
  const absl::Duration phase = absl::Nanoseconds(rng() % 1'000'000'000);
  for (int seq = 1; seq <= count; ++seq) {
    const absl::Time at = kStart + phase + absl::Milliseconds(250 * seq) +
                          absl::Nanoseconds(rng() % 1'000'000);
    const int64_t mid_cents =
        static_cast<int64_t>(std::llround(TickPrice("ACME", seq) * 100));
    std::string json = absl::StrCat(
        "{\"seq\":\"", seq, "\",\"symbol\":\"ACME\",\"time\":\"",
        absl::FormatTime("%Y-%m-%dT%H:%M:%E9SZ", at, absl::UTCTimeZone()),
        "\"");
    for (const int side : {-1, 1}) {
      absl::StrAppend(&json, side < 0 ? ",\"bids\":[" : "],\"asks\":[");
      for (int level = 0; level < 10; ++level) {
        const int64_t cents =
            mid_cents +
            side * (level * 5 + 1 + static_cast<int64_t>(rng() % 3));
        absl::StrAppend(
            &json, level == 0 ? "" : ",", "{\"price\":", cents / 100, ".",
            absl::Dec(cents % 100, absl::kZeroPad2), ",\"size\":", rng() % 5000,
            ",\"orders\":", 1 + rng() % 40, "}");
      }
    }
    json += "]}";
    workload.frames.push_back(Frame(
        seq, json, seq == 1 ? std::optional<int64_t>(1000) : std::nullopt));
  }
  Finalize(&workload);
  return workload;
}

// --- Measurement helpers -----------------------------------------------------

int64_t ThreadCpuNanos() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

int64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size_pages = 0, resident_pages = 0;
  statm >> size_pages >> resident_pages;
  return resident_pages * sysconf(_SC_PAGESIZE);
}

double Least(const std::vector<double>& values) {
  return *std::min_element(values.begin(), values.end());
}

void Die(absl::string_view what, const absl::Status& status) {
  std::fprintf(stderr, "%s: %s\n", std::string(what).c_str(),
               status.ToString().c_str());
  std::exit(1);
}

std::unique_ptr<StreamCompressor> NewCompressor(
    ContentEncoding encoding, const CompressionSettings& settings) {
  absl::StatusOr<std::unique_ptr<StreamCompressor>> compressor =
      StreamCompressor::Create(encoding, settings);
  if (!compressor.ok()) Die("StreamCompressor::Create", compressor.status());
  return *std::move(compressor);
}

struct Setting {
  ContentEncoding encoding;
  CompressionSettings settings;  // Resolved: no -1 but br's memory_level.

  std::string Label() const {
    if (encoding == ContentEncoding::kIdentity) return "identity";
    if (encoding == ContentEncoding::kGzip) {
      return absl::StrCat("gzip ", settings.level, "/", settings.window_bits,
                          "/", settings.memory_level);
    }
    return absl::StrCat("br ", settings.level, "/", settings.window_bits);
  }
};

Setting Resolved(ContentEncoding encoding, CompressionSettings settings) {
  absl::StatusOr<CompressionSettings> resolved =
      ResolveCompressionSettings(encoding, settings);
  if (!resolved.ok()) Die("ResolveCompressionSettings", resolved.status());
  return Setting{encoding, *resolved};
}

struct StreamResult {
  double bytes_per_event = 0;
  double ratio = 0;  // wire bytes / identity bytes
  double cpu_ns_per_event = 0;
  size_t state_bytes = 0;
};

// Compresses every frame of `workload` as one stream, --repeats times.
StreamResult MeasureStream(const Setting& setting, const Workload& workload,
                           int repeats) {
  StreamResult result;
  size_t identity = 0;
  for (const std::string& frame : workload.frames) identity += frame.size();
  std::vector<double> cpu;
  std::string out;
  out.reserve(1 << 16);
  for (int r = 0; r < repeats; ++r) {
    std::unique_ptr<StreamCompressor> compressor =
        NewCompressor(setting.encoding, setting.settings);
    size_t wire = 0;
    const int64_t start = ThreadCpuNanos();
    for (const std::string& frame : workload.frames) {
      out.clear();
      const absl::Status status = compressor->CompressAndFlush(frame, &out);
      if (!status.ok()) Die("CompressAndFlush", status);
      wire += out.size();
    }
    const int64_t cpu_ns = ThreadCpuNanos() - start;
    cpu.push_back(static_cast<double>(cpu_ns) / workload.frames.size());
    result.bytes_per_event = static_cast<double>(wire) / workload.frames.size();
    result.ratio = static_cast<double>(wire) / identity;
    result.state_bytes = compressor->state_bytes();
  }
  result.cpu_ns_per_event = Least(cpu);
  return result;
}

struct RssResult {
  int streams = 0;
  int events_per_stream = 0;
  double kib_per_stream = 0;
};

// RSS growth with many compressors alive, each fed ticks until its window
// is full.
RssResult MeasureRss(const Setting& setting, const Workload& ticks,
                     size_t state_bytes_hint) {
  RssResult result;
  const int wanted = absl::GetFlag(FLAGS_rss_streams);
  if (wanted <= 0) return result;
  const int64_t budget = absl::GetFlag(FLAGS_rss_budget_mib) << 20;
  const int64_t per_stream = static_cast<int64_t>(state_bytes_hint) + 4096;
  result.streams = static_cast<int>(
      std::max<int64_t>(1, std::min<int64_t>(wanted, budget / per_stream)));
  const double window_bytes = std::ldexp(2.0, setting.settings.window_bits);
  result.events_per_stream = static_cast<int>(std::min<double>(
      1000, std::ceil(window_bytes / ticks.mean_frame_bytes) + 16));
  std::vector<std::unique_ptr<StreamCompressor>> compressors;
  compressors.reserve(result.streams);
  malloc_trim(0);
  const int64_t before = ResidentBytes();
  for (int i = 0; i < result.streams; ++i) {
    compressors.push_back(NewCompressor(setting.encoding, setting.settings));
  }
  std::string out;
  for (int e = 0; e < result.events_per_stream; ++e) {
    const std::string& frame = ticks.frames[e % ticks.frames.size()];
    for (const std::unique_ptr<StreamCompressor>& compressor : compressors) {
      out.clear();
      const absl::Status status = compressor->CompressAndFlush(frame, &out);
      if (!status.ok()) Die("CompressAndFlush", status);
    }
  }
  const int64_t after = ResidentBytes();
  result.kib_per_stream =
      static_cast<double>(after - before) / 1024.0 / result.streams;
  compressors.clear();
  malloc_trim(0);
  return result;
}

// --- The grid ----------------------------------------------------------------

std::vector<Setting> Grid(bool small) {
  std::vector<Setting> grid;
  grid.push_back(Setting{ContentEncoding::kIdentity, {}});
  const std::vector<int> gzip_levels =
      small ? std::vector<int>{6} : std::vector<int>{1, 6, 9};
  const std::vector<int> gzip_windows =
      small ? std::vector<int>{9, 10, 11, 15}
            : std::vector<int>{9, 10, 11, 12, 15};
  const std::vector<int> gzip_memory =
      small ? std::vector<int>{1, 2, 8} : std::vector<int>{1, 2, 3, 8};
  for (int level : gzip_levels) {
    for (int window : gzip_windows) {
      for (int memory : gzip_memory) {
        grid.push_back(
            Setting{ContentEncoding::kGzip, {level, window, memory}});
      }
    }
  }
  const std::vector<int> br_qualities =
      small ? std::vector<int>{1, 2, 5}
            : std::vector<int>{0, 1, 2, 3, 4, 5, 7, 9, 11};
  const std::vector<int> br_windows =
      small ? std::vector<int>{10, 16} : std::vector<int>{10, 12, 16, 22};
  for (int quality : br_qualities) {
    for (int window : br_windows) {
      grid.push_back(Setting{ContentEncoding::kBrotli, {quality, window, -1}});
    }
  }
  return grid;
}

struct Row {
  Setting setting;
  StreamResult ticks;
  StreamResult firehose;
  StreamResult book;
  RssResult rss;
};

JsonObject SettingJson(const Setting& setting) {
  JsonObject json;
  json.Add("encoding", ContentEncodingToken(setting.encoding))
      .Add("level", setting.settings.level)
      .Add("window_bits", setting.settings.window_bits)
      .Add("memory_level", setting.settings.memory_level);
  return json;
}

JsonObject StreamJson(const StreamResult& result) {
  JsonObject json;
  json.Add("bytes_per_event", result.bytes_per_event)
      .Add("ratio", result.ratio)
      .Add("cpu_ns_per_event", result.cpu_ns_per_event)
      .Add("state_bytes", static_cast<int64_t>(result.state_bytes));
  return json;
}

// --- Fan-out (b): compress once, share ---------------------------------------

// A raw deflate stream (no wrapper) whose blocks are shared: Z_FULL_FLUSH
// after each event, so no block refers to an earlier event and any
// subscriber can start at any event.
class SharedDeflate {
 public:
  SharedDeflate(int level, int window_bits, int memory_level) {
    if (deflateInit2(&z_, level, Z_DEFLATED, -window_bits, memory_level,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
      std::fprintf(stderr, "deflateInit2 failed\n");
      std::exit(1);
    }
  }
  ~SharedDeflate() { deflateEnd(&z_); }

  // The shared block(s) of `event` (flush = Z_FULL_FLUSH), or the final
  // empty block (Z_FINISH).
  std::string Compress(absl::string_view event, int flush) {
    std::string out(event.size() + event.size() / 8 + 64, '\0');
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(event.data()));
    z_.avail_in = static_cast<uInt>(event.size());
    size_t used = 0;
    while (true) {
      z_.next_out = reinterpret_cast<Bytef*>(&out[used]);
      z_.avail_out = static_cast<uInt>(out.size() - used);
      const int rc = deflate(&z_, flush);
      used = out.size() - z_.avail_out;
      if (rc == Z_STREAM_END || (z_.avail_out != 0 && z_.avail_in == 0)) break;
      out.resize(out.size() * 2);
    }
    out.resize(used);
    return out;
  }

 private:
  z_stream z_{};
};

std::string GzipHeader() {
  // Magic, deflate, no flags, mtime 0, no extra flags, OS unknown.
  return std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff", 10);
}

std::string LittleEndian32(uint32_t value) {
  std::string bytes(4, '\0');
  for (int i = 0; i < 4; ++i) bytes[i] = static_cast<char>(value >> (8 * i));
  return bytes;
}

bool GunzipEquals(const std::string& compressed, const std::string& expected) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 16) != Z_OK) return false;
  std::string out(expected.size() + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  z.avail_in = static_cast<uInt>(compressed.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&z, Z_FINISH);
  out.resize(out.size() - z.avail_out);
  inflateEnd(&z);
  return rc == Z_STREAM_END && z.avail_in == 0 && out == expected;
}

bool UnbrotliEquals(const std::string& compressed,
                    const std::string& expected) {
  std::string out(expected.size() + 64, '\0');
  size_t decoded = out.size();
  const BrotliDecoderResult result = BrotliDecoderDecompress(
      compressed.size(), reinterpret_cast<const uint8_t*>(compressed.data()),
      &decoded, reinterpret_cast<uint8_t*>(out.data()));
  out.resize(decoded);
  return result == BROTLI_DECODER_RESULT_SUCCESS && out == expected;
}

// Runs a Brotli operation to completion (see core/stream_compressor.cc).
std::string BrotliRun(BrotliEncoderState* state, BrotliEncoderOperation op,
                      absl::string_view input) {
  size_t available_in = input.size();
  const uint8_t* next_in = reinterpret_cast<const uint8_t*>(input.data());
  std::string out;
  while (true) {
    size_t available_out = 0;
    if (!BrotliEncoderCompressStream(state, op, &available_in, &next_in,
                                     &available_out, nullptr, nullptr)) {
      std::fprintf(stderr, "BrotliEncoderCompressStream failed\n");
      std::exit(1);
    }
    if (BrotliEncoderHasMoreOutput(state)) {
      size_t size = 0;
      const uint8_t* output = BrotliEncoderTakeOutput(state, &size);
      out.append(reinterpret_cast<const char*>(output), size);
      continue;
    }
    if (available_in == 0 &&
        (op != BROTLI_OPERATION_FINISH || BrotliEncoderIsFinished(state))) {
      return out;
    }
  }
}

struct BrotliDeleter {
  void operator()(BrotliEncoderState* state) const {
    BrotliEncoderDestroyInstance(state);
  }
};
using BrotliPtr = std::unique_ptr<BrotliEncoderState, BrotliDeleter>;

// A Brotli encoder; `stream_offset` > 0 makes it write no stream header
// (BROTLI_PARAM_STREAM_OFFSET: its output continues another stream).
BrotliPtr NewBrotli(int quality, int window_bits, uint32_t stream_offset) {
  BrotliPtr state(BrotliEncoderCreateInstance(nullptr, nullptr, nullptr));
  BrotliEncoderSetParameter(state.get(), BROTLI_PARAM_MODE, BROTLI_MODE_TEXT);
  BrotliEncoderSetParameter(state.get(), BROTLI_PARAM_QUALITY, quality);
  BrotliEncoderSetParameter(state.get(), BROTLI_PARAM_LGWIN, window_bits);
  if (stream_offset > 0 &&
      !BrotliEncoderSetParameter(state.get(), BROTLI_PARAM_STREAM_OFFSET,
                                 stream_offset)) {
    std::fprintf(stderr, "BROTLI_PARAM_STREAM_OFFSET refused\n");
    std::exit(1);
  }
  return state;
}

struct SharedResult {
  std::string label;
  double bytes_per_event = 0;
  double ratio = 0;
  double cpu_ns_per_event = 0;  // Once per event, for all subscribers.
  bool splices_decode = false;
};

// Shared blocks: `compress(i)` gives event i's shared bytes; `header` and
// `trailer(join)` wrap a subscriber's copy. Checks subscribers joining at a
// few events.
template <typename CompressFn, typename TrailerFn, typename DecodeFn>
SharedResult MeasureShared(std::string label, const Workload& workload,
                           int repeats, CompressFn compress,
                           const std::string& header, TrailerFn trailer,
                           DecodeFn decode_equals) {
  SharedResult result;
  result.label = std::move(label);
  size_t identity = 0;
  for (const std::string& frame : workload.frames) identity += frame.size();
  std::vector<double> cpu;
  std::vector<std::string> blocks;
  for (int r = 0; r < repeats; ++r) {
    std::vector<std::string> run_blocks;
    run_blocks.reserve(workload.frames.size());
    const int64_t start = ThreadCpuNanos();
    for (size_t i = 0; i < workload.frames.size(); ++i) {
      run_blocks.push_back(compress(r, i));
    }
    cpu.push_back(static_cast<double>(ThreadCpuNanos() - start) /
                  workload.frames.size());
    blocks = std::move(run_blocks);
  }
  size_t wire = 0;
  for (const std::string& block : blocks) wire += block.size();
  result.bytes_per_event = static_cast<double>(wire) / workload.frames.size();
  result.ratio = static_cast<double>(wire) / identity;
  result.cpu_ns_per_event = Least(cpu);
  result.splices_decode = true;
  const size_t n = workload.frames.size();
  for (size_t join : {size_t{0}, size_t{1}, size_t{17}, n / 2, n - 1}) {
    std::string stream = header;
    std::string expected;
    for (size_t i = join; i < n; ++i) {
      stream += blocks[i];
      expected += workload.frames[i];
    }
    stream += trailer(expected);
    if (!decode_equals(stream, expected)) result.splices_decode = false;
  }
  return result;
}

std::vector<SharedResult> MeasureFanoutShared(const Workload& workload,
                                              const Setting& gzip_default,
                                              int repeats) {
  std::vector<SharedResult> results;
  // gzip: one raw deflate stream, Z_FULL_FLUSH per event, plus the CRC-32 of
  // each event (a subscriber's trailer combines the CRCs of what it got).
  // Memory is not a concern for one shared compressor: also the largest
  // settings.
  for (const CompressionSettings& s :
       {gzip_default.settings, CompressionSettings{9, 15, 9}}) {
    std::vector<std::unique_ptr<SharedDeflate>> deflaters;
    for (int r = 0; r < repeats; ++r) {
      deflaters.push_back(std::make_unique<SharedDeflate>(
          s.level, s.window_bits, s.memory_level));
    }
    std::unique_ptr<SharedDeflate> finisher =
        std::make_unique<SharedDeflate>(s.level, s.window_bits, s.memory_level);
    const std::string final_block = finisher->Compress("", Z_FINISH);
    results.push_back(MeasureShared(
        absl::StrCat("(b) gzip ", s.level, "/", s.window_bits, "/",
                     s.memory_level, ", Z_FULL_FLUSH, shared"),
        workload, repeats,
        [&](int r, size_t i) {
          const std::string& frame = workload.frames[i];
          volatile uLong crc = crc32(
              0, reinterpret_cast<const Bytef*>(frame.data()), frame.size());
          (void)crc;
          return deflaters[r]->Compress(frame, Z_FULL_FLUSH);
        },
        GzipHeader(),
        [&](const std::string& expected) {
          const uLong crc =
              crc32(0, reinterpret_cast<const Bytef*>(expected.data()),
                    expected.size());
          return final_block + LittleEndian32(static_cast<uint32_t>(crc)) +
                 LittleEndian32(static_cast<uint32_t>(expected.size()));
        },
        GunzipEquals));
  }
  // Brotli: a subscriber's copy is its own stream header (an empty flush of
  // an encoder with the same window) + shared blocks + a last empty
  // meta-block. Quality 1 never refers back across a flush: one shared
  // encoder. Quality 5: a new encoder per event whose output continues
  // another stream (BROTLI_PARAM_STREAM_OFFSET); libbrotli 1.0.9's blocks do
  // not decode when spliced behind other events, which the check shows.
  for (const int quality : {1, 5}) {
    constexpr int kWindowBits = 16;
    BrotliPtr header_encoder = NewBrotli(quality, kWindowBits, 0);
    const std::string header =
        BrotliRun(header_encoder.get(), BROTLI_OPERATION_FLUSH, "");
    BrotliPtr finisher = NewBrotli(quality, kWindowBits, 1u << 30);
    const std::string last_block =
        BrotliRun(finisher.get(), BROTLI_OPERATION_FINISH, "");
    std::vector<BrotliPtr> shared;
    for (int r = 0; r < repeats; ++r) {
      shared.push_back(NewBrotli(quality, kWindowBits, 1u << 30));
    }
    const bool per_event = quality >= 2;
    results.push_back(MeasureShared(
        absl::StrCat("(b) br ", quality, "/", kWindowBits,
                     per_event ? ", new encoder per event, shared"
                               : ", one encoder flushed per event, shared"),
        workload, repeats,
        [&](int r, size_t i) {
          if (per_event) {
            BrotliPtr encoder = NewBrotli(quality, kWindowBits, 1u << 30);
            return BrotliRun(encoder.get(), BROTLI_OPERATION_FLUSH,
                             workload.frames[i]);
          }
          return BrotliRun(shared[r].get(), BROTLI_OPERATION_FLUSH,
                           workload.frames[i]);
        },
        header, [&](const std::string&) { return last_block; },
        UnbrotliEquals));
  }
  return results;
}

// --- Output ------------------------------------------------------------------

std::string Kib(double bytes) { return absl::StrFormat("%.1f", bytes / 1024); }

void PrintTable(const std::vector<Row>& rows) {
  std::printf(
      "| Setting | ticks B/event | ticks ratio | ticks CPU ns/event | "
      "firehose64 B/event | firehose64 ratio | firehose64 CPU ns/event | "
      "book1k ratio | state KiB | RSS KiB/stream (streams) |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  for (const Row& row : rows) {
    const bool identity = row.setting.encoding == ContentEncoding::kIdentity;
    std::string rss = "–";
    if (!identity && row.rss.streams > 0) {
      rss =
          absl::StrFormat("%.1f (%d)", row.rss.kib_per_stream, row.rss.streams);
    }
    std::printf(
        "| %s | %.1f | %.3f | %.0f | %.1f | %.3f | %.0f | %.3f | %s | %s |\n",
        row.setting.Label().c_str(), row.ticks.bytes_per_event, row.ticks.ratio,
        row.ticks.cpu_ns_per_event, row.firehose.bytes_per_event,
        row.firehose.ratio, row.firehose.cpu_ns_per_event, row.book.ratio,
        Kib(static_cast<double>(row.ticks.state_bytes)).c_str(), rss.c_str());
  }
}

int Main() {
  const int events = std::max(absl::GetFlag(FLAGS_events), 20);
  const int repeats = std::max(absl::GetFlag(FLAGS_repeats), 1);
  const bool json = absl::GetFlag(FLAGS_json);
  const std::string grid_name = absl::GetFlag(FLAGS_grid);
  if (grid_name != "full" && grid_name != "small") {
    std::fprintf(stderr, "--grid must be full or small\n");
    return 2;
  }
  const Workload ticks = TickWorkload(events);
  const Workload firehose = FirehoseWorkload(events);
  const Workload book = BookWorkload(events);
  const std::vector<Setting> grid = Grid(grid_name == "small");

  std::vector<Row> rows;
  for (const Setting& setting : grid) {
    Row row{setting};
    if (setting.encoding == ContentEncoding::kIdentity) {
      row.ticks = StreamResult{ticks.mean_frame_bytes, 1.0, 0, 0};
      row.firehose = StreamResult{firehose.mean_frame_bytes, 1.0, 0, 0};
      row.book = StreamResult{book.mean_frame_bytes, 1.0, 0, 0};
    } else {
      row.ticks = MeasureStream(setting, ticks, repeats);
      row.firehose = MeasureStream(setting, firehose, repeats);
      row.book = MeasureStream(setting, book, 1);
      row.rss = MeasureRss(setting, ticks, row.ticks.state_bytes);
    }
    std::fprintf(stderr,
                 "%-16s ticks %.3f %6.0f ns  firehose64 %.3f  book1k %.3f  "
                 "state %s KiB  RSS %.1f KiB/stream (%d)\n",
                 setting.Label().c_str(), row.ticks.ratio,
                 row.ticks.cpu_ns_per_event, row.firehose.ratio, row.book.ratio,
                 Kib(static_cast<double>(row.ticks.state_bytes)).c_str(),
                 row.rss.kib_per_stream, row.rss.streams);
    rows.push_back(row);
  }

  // Fan-out with the defaults.
  const int subscribers = std::max(absl::GetFlag(FLAGS_fanout_subscribers), 1);
  struct FanoutRow {
    std::string workload;
    std::string label;
    double bytes_per_event;
    double ratio;
    double cpu_us_per_event;  // For all subscribers.
    double compressor_kib;    // For all subscribers.
    std::string splices;
  };
  std::vector<FanoutRow> fanout;
  const Setting gzip_default = Resolved(ContentEncoding::kGzip, {});
  const Setting br_default = Resolved(ContentEncoding::kBrotli, {});
  for (const Workload* workload : {&ticks, &firehose}) {
    fanout.push_back(FanoutRow{workload->name, "identity (shared frames)",
                               workload->mean_frame_bytes, 1.0, 0, 0, "–"});
    for (const Setting& setting : {gzip_default, br_default}) {
      const StreamResult own = MeasureStream(setting, *workload, repeats);
      // Memory: RSS per stream when measured for this setting, else state.
      double per_stream_kib = static_cast<double>(own.state_bytes) / 1024;
      for (const Row& row : rows) {
        if (row.setting.Label() == setting.Label() && row.rss.streams > 0) {
          per_stream_kib = row.rss.kib_per_stream;
        }
      }
      fanout.push_back(
          FanoutRow{workload->name,
                    absl::StrCat("(a) ", setting.Label(),
                                 " (default), one compressor per subscriber"),
                    own.bytes_per_event, own.ratio,
                    own.cpu_ns_per_event * subscribers / 1000.0,
                    per_stream_kib * subscribers, "–"});
    }
    for (const SharedResult& shared :
         MeasureFanoutShared(*workload, gzip_default, repeats)) {
      fanout.push_back(FanoutRow{workload->name, shared.label,
                                 shared.bytes_per_event, shared.ratio,
                                 shared.cpu_ns_per_event / 1000.0, -1,
                                 shared.splices_decode ? "yes" : "NO"});
    }
  }

  if (json) {
    for (const Row& row : rows) {
      JsonObject line;
      line.Add("kind", "setting")
          .Add("setting", SettingJson(row.setting))
          .Add("ticks", StreamJson(row.ticks))
          .Add("firehose64", StreamJson(row.firehose))
          .Add("book1k", StreamJson(row.book));
      if (row.rss.streams > 0) {
        line.Add("rss_streams", row.rss.streams)
            .Add("rss_events_per_stream", row.rss.events_per_stream)
            .Add("rss_kib_per_stream", row.rss.kib_per_stream);
      }
      std::printf("%s\n", line.ToString().c_str());
    }
    for (const FanoutRow& row : fanout) {
      JsonObject line;
      line.Add("kind", "fanout")
          .Add("workload", row.workload)
          .Add("mode", row.label)
          .Add("subscribers", subscribers)
          .Add("bytes_per_event", row.bytes_per_event)
          .Add("ratio", row.ratio)
          .Add("cpu_us_per_event_all_subscribers", row.cpu_us_per_event)
          .Add("splices_decode", row.splices);
      if (row.compressor_kib >= 0) {
        line.Add("compressor_kib_all_subscribers", row.compressor_kib);
      }
      std::printf("%s\n", line.ToString().c_str());
    }
    return 0;
  }

  std::printf(
      "zlib %s, brotli %d.%d.%d; %d events per stream (ticks %.1f B each, "
      "firehose64 %.1f B, book1k %.1f B); CPU the least of %d streams; "
      "settings: gzip level/window_bits/memory_level, br quality/lgwin\n\n",
      zlibVersion(), BrotliEncoderVersion() >> 24,
      (BrotliEncoderVersion() >> 12) & 0xfff, BrotliEncoderVersion() & 0xfff,
      events, ticks.mean_frame_bytes, firehose.mean_frame_bytes,
      book.mean_frame_bytes, repeats);
  PrintTable(rows);
  std::printf("\nFan-out: %d subscribers of one stream, per event\n\n",
              subscribers);
  std::printf(
      "| Workload | Mode | B/event per subscriber | ratio | CPU µs per event "
      "(all subscribers) | compressor memory (all subscribers) | spliced "
      "streams decode |\n|---|---|---|---|---|---|---|\n");
  for (const FanoutRow& row : fanout) {
    std::printf(
        "| %s | %s | %.1f | %.3f | %.1f | %s | %s |\n", row.workload.c_str(),
        row.label.c_str(), row.bytes_per_event, row.ratio, row.cpu_us_per_event,
        row.compressor_kib < 0
            ? "one compressor"
            : absl::StrFormat("%.1f MiB", row.compressor_kib / 1024).c_str(),
        row.splices.c_str());
  }
  return 0;
}

}  // namespace
}  // namespace sse_gateway

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Measures gzip and Brotli settings on the gateway's event streams; see "
      "the header of bench/compression_bench.cc.");
  absl::ParseCommandLine(argc, argv);
  return sse_gateway::Main();
}
