#include "bench/bench_stats.h"

#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gateway/http/http_status.h"

namespace sse_gateway {

// ---------------------------------------------------------------------------
// LatencyHistogram

LatencyHistogram::LatencyHistogram() { buckets_.fill(0); }

int LatencyHistogram::BucketOf(int64_t micros) {
  if (micros < kSubBuckets) return static_cast<int>(micros);
  const int exponent = 63 - __builtin_clzll(static_cast<uint64_t>(micros));
  const int octave = exponent - kSubBucketBits;
  const int sub = static_cast<int>(micros >> octave) - kSubBuckets;
  return kSubBuckets + octave * kSubBuckets + sub;
}

std::pair<int64_t, int64_t> LatencyHistogram::BucketRange(int index) {
  if (index < kSubBuckets) return {index, 1};
  const int octave = (index - kSubBuckets) / kSubBuckets;
  const int sub = (index - kSubBuckets) % kSubBuckets;
  const int64_t width = int64_t{1} << octave;
  return {(kSubBuckets + sub) * width, width};
}

void LatencyHistogram::Record(int64_t micros) {
  micros = std::clamp<int64_t>(micros, 0, kMaxMicros);
  ++buckets_[BucketOf(micros)];
  if (count_ == 0 || micros < min_) min_ = micros;
  if (count_ == 0 || micros > max_) max_ = micros;
  ++count_;
  sum_ += static_cast<double>(micros);
}

double LatencyHistogram::mean() const {
  return count_ == 0 ? 0 : sum_ / static_cast<double>(count_);
}

double LatencyHistogram::Percentile(double p) const {
  if (count_ == 0) return 0;
  if (!(p > 0)) return static_cast<double>(min_);
  if (p >= 100) return static_cast<double>(max_);
  int64_t rank =
      static_cast<int64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
  rank = std::clamp<int64_t>(rank, 1, count_);
  int64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += buckets_[i];
    if (seen >= rank) {
      const auto [low, width] = BucketRange(i);
      const double mid =
          static_cast<double>(low) + static_cast<double>(width - 1) / 2.0;
      return std::clamp(mid, static_cast<double>(min_),
                        static_cast<double>(max_));
    }
  }
  return static_cast<double>(max_);
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  if (other.count_ == 0) return;
  for (int i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
  if (count_ == 0 || other.min_ < min_) min_ = other.min_;
  if (count_ == 0 || other.max_ > max_) max_ = other.max_;
  count_ += other.count_;
  sum_ += other.sum_;
}

// ---------------------------------------------------------------------------
// /proc sampling

namespace {

absl::Status ErrnoStatus(const std::string& path, int error) {
  if (error == ENOENT || error == ESRCH) {
    return absl::NotFoundError(absl::StrCat(path, ": no such process"));
  }
  return absl::UnavailableError(absl::StrCat(path, ": ", std::strerror(error)));
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "r");
  if (file == nullptr) return ErrnoStatus(path, errno);
  std::string contents;
  char buffer[4096];
  size_t read;
  while ((read = std::fread(buffer, 1, sizeof(buffer), file)) > 0) {
    contents.append(buffer, read);
  }
  const bool failed = std::ferror(file);
  const int error = errno;
  std::fclose(file);
  if (failed) return ErrnoStatus(path, error);
  return contents;
}

// Number of entries (other than . and ..) of directory `path`.
absl::StatusOr<int64_t> CountEntries(const std::string& path) {
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) {
    return ErrnoStatus(path, errno);
  }
  int64_t entries = 0;
  while (const dirent* entry = readdir(dir)) {
    if (std::strcmp(entry->d_name, ".") != 0 &&
        std::strcmp(entry->d_name, "..") != 0) {
      ++entries;
    }
  }
  closedir(dir);
  return entries;
}

}  // namespace

absl::StatusOr<ProcessSample> SampleProcess(pid_t pid) {
  const std::string dir = absl::StrCat("/proc/", pid);
  ProcessSample sample;

  absl::StatusOr<std::string> status = ReadFile(dir + "/status");
  if (!status.ok()) return status.status();
  // Zombies have no VmRSS line (and an unreadable one counts the same):
  // rss_kib stays 0 rather than failing.
  for (absl::string_view line : absl::StrSplit(*status, '\n')) {
    if (absl::ConsumePrefix(&line, "VmRSS:")) {
      line = absl::StripAsciiWhitespace(line);
      absl::ConsumeSuffix(&line, "kB");
      if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(line),
                            &sample.rss_kib)) {
        sample.rss_kib = 0;
      }
      break;
    }
  }

  // Fields after "(comm)" in /proc/PID/stat: state is field 3, utime 14,
  // stime 15. comm may contain spaces and parentheses, so split after the
  // last ')'.
  absl::StatusOr<std::string> stat = ReadFile(dir + "/stat");
  if (!stat.ok()) return stat.status();
  const size_t comm_end = stat->rfind(')');
  if (comm_end == std::string::npos) {
    return absl::InternalError(absl::StrCat(dir, "/stat: unexpected format"));
  }
  std::vector<absl::string_view> fields = absl::StrSplit(
      absl::string_view(*stat).substr(comm_end + 1), ' ', absl::SkipEmpty());
  // fields[0] is field 3 (state), so field N is fields[N - 3].
  int64_t utime = 0;
  int64_t stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[14 - 3], &utime) ||
      !absl::SimpleAtoi(fields[15 - 3], &stime)) {
    return absl::InternalError(absl::StrCat(dir, "/stat: unexpected format"));
  }
  const long ticks_per_s = sysconf(_SC_CLK_TCK);
  sample.cpu_s = static_cast<double>(utime + stime) /
                 static_cast<double>(ticks_per_s > 0 ? ticks_per_s : 100);

  absl::StatusOr<int64_t> threads = CountEntries(dir + "/task");
  if (!threads.ok()) return threads.status();
  sample.threads = *threads;
  absl::StatusOr<int64_t> fds = CountEntries(dir + "/fd");
  if (!fds.ok()) return fds.status();
  sample.fds = *fds;
  return sample;
}

absl::StatusOr<pid_t> ParseWatchPid(absl::string_view text) {
  if (text == "self") return getpid();
  int64_t pid = 0;
  if (!absl::SimpleAtoi(text, &pid) || pid <= 0 || pid > INT32_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a pid or \"self\": \"", text, "\""));
  }
  return static_cast<pid_t>(pid);
}

int64_t RealtimeNanos() {
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

int64_t MonotonicNanos() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

// ---------------------------------------------------------------------------
// JsonObject

JsonObject& JsonObject::Add(absl::string_view key, int64_t value) {
  members_.emplace_back(std::string(key), absl::StrCat(value));
  return *this;
}

JsonObject& JsonObject::Add(absl::string_view key, double value) {
  std::string text = "null";
  if (std::isfinite(value)) {
    text = absl::StrFormat("%.3f", value);
    // Trim trailing zeros of the fraction ("12.500" -> "12.5", "3.000" -> "3").
    while (text.back() == '0') text.pop_back();
    if (text.back() == '.') text.pop_back();
    if (text == "-0") text = "0";
  }
  members_.emplace_back(std::string(key), std::move(text));
  return *this;
}

JsonObject& JsonObject::Add(absl::string_view key, absl::string_view value) {
  members_.emplace_back(std::string(key), JsonQuote(value));
  return *this;
}

JsonObject& JsonObject::Add(absl::string_view key, const JsonObject& value) {
  members_.emplace_back(std::string(key), value.ToString());
  return *this;
}

std::string JsonObject::ToString() const {
  std::string out = "{";
  for (size_t i = 0; i < members_.size(); ++i) {
    if (i > 0) out += ", ";
    absl::StrAppend(&out, JsonQuote(members_[i].first), ": ",
                    members_[i].second);
  }
  out += "}";
  return out;
}

JsonObject LatencyJson(const LatencyHistogram& histogram) {
  JsonObject json;
  json.Add("p50", histogram.Percentile(50))
      .Add("p90", histogram.Percentile(90))
      .Add("p99", histogram.Percentile(99))
      .Add("max", histogram.Percentile(100))
      .Add("count", histogram.count());
  return json;
}

JsonObject TtfeJson(const LatencyHistogram& histogram) {
  JsonObject json;
  json.Add("p50", histogram.Percentile(50))
      .Add("p99", histogram.Percentile(99))
      .Add("count", histogram.count());
  return json;
}

JsonObject TargetJson(pid_t pid, const ProcessSample& before,
                      const ProcessSample& hold, double cpu_s_hold) {
  JsonObject json;
  json.Add("pid", static_cast<int64_t>(pid))
      .Add("rss_kib_before", before.rss_kib)
      .Add("rss_kib_hold", hold.rss_kib)
      .Add("threads_before", before.threads)
      .Add("threads_hold", hold.threads)
      .Add("fds_before", before.fds)
      .Add("fds_hold", hold.fds)
      .Add("cpu_s_hold", cpu_s_hold);
  return json;
}

}  // namespace sse_gateway
