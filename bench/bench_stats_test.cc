#include "bench/bench_stats.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sse_gateway {
namespace {

// The exact value at percentile p (same rank definition as the histogram).
double ExactPercentile(std::vector<int64_t> values, double p) {
  std::sort(values.begin(), values.end());
  int64_t rank = static_cast<int64_t>(std::ceil(p / 100.0 * values.size()));
  rank = std::clamp<int64_t>(rank, 1, values.size());
  return static_cast<double>(values[rank - 1]);
}

TEST(LatencyHistogramTest, EmptyIsZero) {
  LatencyHistogram histogram;
  EXPECT_EQ(histogram.count(), 0);
  EXPECT_EQ(histogram.Percentile(50), 0);
  EXPECT_EQ(histogram.max(), 0);
}

TEST(LatencyHistogramTest, SmallValuesAreExact) {
  LatencyHistogram histogram;
  for (int64_t v = 1; v <= 50; ++v) histogram.Record(v);
  EXPECT_EQ(histogram.count(), 50);
  EXPECT_EQ(histogram.Percentile(50), 25);
  EXPECT_EQ(histogram.Percentile(90), 45);
  EXPECT_EQ(histogram.Percentile(99), 50);
  EXPECT_EQ(histogram.Percentile(0), 1);
  EXPECT_EQ(histogram.Percentile(100), 50);
  EXPECT_DOUBLE_EQ(histogram.mean(), 25.5);
}

TEST(LatencyHistogramTest, UniformDistributionWithinBucketError) {
  LatencyHistogram histogram;
  std::vector<int64_t> values;
  for (int64_t v = 1; v <= 1'000'000; v += 7) {
    histogram.Record(v);
    values.push_back(v);
  }
  for (double p : {1.0, 10.0, 50.0, 90.0, 99.0, 99.9}) {
    const double exact = ExactPercentile(values, p);
    EXPECT_NEAR(histogram.Percentile(p), exact, exact / 64 + 1) << "p" << p;
  }
  EXPECT_EQ(histogram.Percentile(100), values.back());
}

TEST(LatencyHistogramTest, ExponentialDistributionWithinBucketError) {
  std::mt19937_64 random(42);
  std::exponential_distribution<double> exponential(1.0 / 2000.0);
  LatencyHistogram histogram;
  std::vector<int64_t> values;
  for (int i = 0; i < 200'000; ++i) {
    const int64_t v = static_cast<int64_t>(exponential(random));
    histogram.Record(v);
    values.push_back(v);
  }
  for (double p : {50.0, 90.0, 99.0, 99.99}) {
    const double exact = ExactPercentile(values, p);
    EXPECT_NEAR(histogram.Percentile(p), exact, exact / 64 + 1) << "p" << p;
  }
  // Theoretical median of Exp(mean 2000) is 2000 ln 2 = 1386.
  EXPECT_NEAR(histogram.Percentile(50), 1386, 1386 * 0.03);
}

TEST(LatencyHistogramTest, ClampsOutOfRangeValues) {
  LatencyHistogram histogram;
  histogram.Record(-5);
  histogram.Record(int64_t{1} << 40);
  EXPECT_EQ(histogram.min(), 0);
  EXPECT_EQ(histogram.max(), LatencyHistogram::kMaxMicros);
  EXPECT_EQ(histogram.Percentile(100), LatencyHistogram::kMaxMicros);
}

TEST(LatencyHistogramTest, MergeEqualsRecordingEverything) {
  LatencyHistogram low, high, all;
  for (int64_t v = 0; v < 10'000; ++v) {
    (v % 2 == 0 ? low : high).Record(v * 13);
    all.Record(v * 13);
  }
  low.Merge(high);
  EXPECT_EQ(low.count(), all.count());
  EXPECT_EQ(low.min(), all.min());
  EXPECT_EQ(low.max(), all.max());
  for (double p : {0.0, 25.0, 50.0, 99.0, 100.0}) {
    EXPECT_EQ(low.Percentile(p), all.Percentile(p)) << "p" << p;
  }
  LatencyHistogram empty;
  empty.Merge(all);
  EXPECT_EQ(empty.Percentile(50), all.Percentile(50));
}

TEST(SampleProcessTest, SeesThisProcessGrow) {
  absl::StatusOr<ProcessSample> before = SampleProcess(getpid());
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_GT(before->rss_kib, 0);
  EXPECT_GE(before->threads, 1);
  EXPECT_GE(before->fds, 3);

  // 64 MiB touched, one more thread, 10 more fds, some CPU burnt.
  std::vector<char> memory(64 << 20);
  std::memset(memory.data(), 1, memory.size());
  std::atomic<bool> stop{false};
  std::thread sleeper([&stop] {
    while (!stop.load()) std::this_thread::yield();
  });
  std::vector<int> fds;
  for (int i = 0; i < 10; ++i) fds.push_back(open("/dev/null", O_RDONLY));
  const int64_t burn_until = MonotonicNanos() + 300'000'000;
  volatile uint64_t sink = 0;
  while (MonotonicNanos() < burn_until) sink = sink + 1;

  absl::StatusOr<ProcessSample> after = SampleProcess(getpid());
  stop = true;
  sleeper.join();
  for (int fd : fds) close(fd);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_GE(after->rss_kib - before->rss_kib, 60 * 1024);
  EXPECT_EQ(after->threads, before->threads + 1);
  EXPECT_EQ(after->fds, before->fds + 10);
  EXPECT_GE(after->cpu_s - before->cpu_s, 0.2);
  EXPECT_EQ(memory[12345], 1);
}

TEST(SampleProcessTest, ExitedProcessIsNotFound) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
  absl::StatusOr<ProcessSample> sample = SampleProcess(child);
  EXPECT_EQ(sample.status().code(), absl::StatusCode::kNotFound);
}

TEST(ParseWatchPidTest, AcceptsSelfAndNumbers) {
  EXPECT_EQ(*ParseWatchPid("self"), getpid());
  EXPECT_EQ(*ParseWatchPid("1234"), 1234);
  EXPECT_FALSE(ParseWatchPid("").ok());
  EXPECT_FALSE(ParseWatchPid("0").ok());
  EXPECT_FALSE(ParseWatchPid("12x").ok());
}

TEST(ClockTest, RealtimeIsUnixEpochNanos) {
  const int64_t now = RealtimeNanos();
  EXPECT_NEAR(static_cast<double>(now) / 1e9,
              static_cast<double>(time(nullptr)), 2.0);
}

TEST(JsonObjectTest, WritesOrderedEscapedMembers) {
  JsonObject inner;
  inner.Add("p50", 12.5).Add("count", int64_t{3});
  JsonObject json;
  json.Add("system", "di\"rect\n")
      .Add("events", int64_t{1000000})
      .Add("rate", 3.0)
      .Add("nan", std::nan(""))
      .Add("latency_us", inner);
  EXPECT_EQ(json.ToString(),
            "{\"system\": \"di\\\"rect\\n\", \"events\": 1000000, "
            "\"rate\": 3, \"nan\": null, "
            "\"latency_us\": {\"p50\": 12.5, \"count\": 3}}");
}

TEST(JsonObjectTest, SummariesHaveTheBenchmarkKeys) {
  LatencyHistogram histogram;
  for (int64_t v = 1; v <= 10; ++v) histogram.Record(v);
  EXPECT_EQ(
      LatencyJson(histogram).ToString(),
      "{\"p50\": 5, \"p90\": 9, \"p99\": 10, \"max\": 10, \"count\": 10}");
  EXPECT_EQ(TtfeJson(histogram).ToString(),
            "{\"p50\": 5, \"p99\": 10, \"count\": 10}");
  ProcessSample before{100, 2, 5, 1.0};
  ProcessSample hold{300, 4, 9, 2.5};
  EXPECT_EQ(TargetJson(42, before, hold, 1.5).ToString(),
            "{\"pid\": 42, \"rss_kib_before\": 100, \"rss_kib_hold\": 300, "
            "\"threads_before\": 2, \"threads_hold\": 4, \"fds_before\": 5, "
            "\"fds_hold\": 9, \"cpu_s_hold\": 1.5}");
}

}  // namespace
}  // namespace sse_gateway
