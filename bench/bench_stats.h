// Measurement helpers shared by the benchmark programs (direct client, load
// generator):
//
//  - LatencyHistogram: a fixed-size log-linear histogram of microsecond
//    values (exact below 64 us, then 64 sub-buckets per power of two, so any
//    percentile is within 1/64 ~ 1.6% of the true value), up to 60 s. Memory
//    is constant (~11 KiB) whatever the number of samples.
//  - SampleProcess: RSS, thread count, open fds and CPU seconds of a process,
//    read from /proc.
//  - JsonObject: a tiny insertion-ordered JSON object writer for the one-line
//    results the benchmark programs print.
//
// Thread safety: LatencyHistogram and JsonObject are plain values, not
// thread-safe (record into one histogram per thread, or guard it, and Merge).
// The free functions are thread-safe.

#ifndef SSE_GATEWAY_BENCH_BENCH_STATS_H_
#define SSE_GATEWAY_BENCH_BENCH_STATS_H_

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sse_gateway {

// Counts of microsecond values in log-linear buckets. Values below 0 are
// recorded as 0, values above kMaxMicros as kMaxMicros.
class LatencyHistogram {
 public:
  static constexpr int64_t kMaxMicros = 60'000'000;  // 60 s

  LatencyHistogram();

  // Adds one sample.
  void Record(int64_t micros);

  // The value at percentile `p` (0..100) in microseconds: the smallest
  // recorded value such that at least p% of the samples are <= it, rounded
  // to its bucket's midpoint (exact below 64 us; Percentile(0) is the exact
  // minimum and Percentile(100) the exact maximum). 0 when empty.
  double Percentile(double p) const;

  int64_t count() const { return count_; }
  // Exact extremes and mean of the recorded (clamped) values; 0 when empty.
  int64_t min() const { return count_ == 0 ? 0 : min_; }
  int64_t max() const { return count_ == 0 ? 0 : max_; }
  double mean() const;

  // Adds every sample of `other` to this histogram.
  void Merge(const LatencyHistogram& other);

 private:
  static constexpr int kSubBucketBits = 6;  // 64 sub-buckets per octave
  static constexpr int kSubBuckets = 1 << kSubBucketBits;
  static constexpr int kOctaves = 21;  // 2^6 .. 2^26 (> 60 s in us)
  static constexpr int kBuckets = kSubBuckets + kOctaves * kSubBuckets;

  static int BucketOf(int64_t micros);
  // Smallest value of bucket `index` and the number of values it spans.
  static std::pair<int64_t, int64_t> BucketRange(int index);

  std::array<int64_t, kBuckets> buckets_;
  int64_t count_ = 0;
  int64_t min_ = 0;
  int64_t max_ = 0;
  double sum_ = 0;
};

// One reading of a process's resource usage.
struct ProcessSample {
  int64_t rss_kib = 0;  // VmRSS of /proc/PID/status
  int64_t threads = 0;  // entries of /proc/PID/task
  int64_t fds = 0;      // entries of /proc/PID/fd
  double cpu_s = 0;     // utime + stime of /proc/PID/stat, in seconds
};

// Reads /proc for `pid`. NotFound if the process does not exist, another
// error if /proc cannot be read or parsed.
absl::StatusOr<ProcessSample> SampleProcess(pid_t pid);

// Parses a --watch_pid value: "self" is this process, otherwise a positive
// decimal pid. InvalidArgument for anything else.
absl::StatusOr<pid_t> ParseWatchPid(absl::string_view text);

// CLOCK_REALTIME now, in nanoseconds since the Unix epoch (the clock the
// firehose backend stamps sent_unix_nanos with).
int64_t RealtimeNanos();

// CLOCK_MONOTONIC now, in nanoseconds; for measuring durations.
int64_t MonotonicNanos();

// A JSON object whose keys keep their insertion order. Doubles are written
// with up to 3 decimals; NaN and infinities as null. Strings are escaped.
class JsonObject {
 public:
  JsonObject& Add(absl::string_view key, int64_t value);
  JsonObject& Add(absl::string_view key, int value) {
    return Add(key, static_cast<int64_t>(value));
  }
  JsonObject& Add(absl::string_view key, double value);
  JsonObject& Add(absl::string_view key, absl::string_view value);
  JsonObject& Add(absl::string_view key, const char* value) {
    return Add(key, absl::string_view(value));
  }
  JsonObject& Add(absl::string_view key, const JsonObject& value);

  // The object on one line, e.g. {"a": 1, "b": {"c": "x"}}.
  std::string ToString() const;

 private:
  std::vector<std::pair<std::string, std::string>> members_;  // key, JSON
};

// {"p50", "p90", "p99", "max", "count"} of `histogram` (the `latency_us`
// object of the benchmark output).
JsonObject LatencyJson(const LatencyHistogram& histogram);

// {"p50", "p99", "count"} of `histogram` (the `ttfe_us` object).
JsonObject TtfeJson(const LatencyHistogram& histogram);

// The `target` object: pid, *_before from `before`, *_hold from `hold`, and
// cpu_s_hold = `cpu_s_hold` (CPU seconds used during the window).
JsonObject TargetJson(pid_t pid, const ProcessSample& before,
                      const ProcessSample& hold, double cpu_s_hold);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_BENCH_BENCH_STATS_H_
