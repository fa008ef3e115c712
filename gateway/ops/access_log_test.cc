#include "gateway/ops/access_log.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace sse_gateway {
namespace {

constexpr absl::Duration kPatience = absl::Seconds(30);

absl::Time At(int year, int month, int day, int hour, int minute, int second,
              int millis) {
  return absl::FromCivil(
             absl::CivilSecond(year, month, day, hour, minute, second),
             absl::UTCTimeZone()) +
         absl::Milliseconds(millis);
}

StreamRecord ExampleRecord() {
  StreamRecord record;
  record.route = "/v1/ticks";
  record.remote = "127.0.0.1:5555";
  record.http_status = 200;
  record.grpc_code = absl::StatusCode::kOk;
  record.events = 12;
  record.bytes = 3456;
  record.duration = absl::Microseconds(1234500);
  record.reason = CloseReason::kBackendEnded;
  record.last_event_id = "41";
  return record;
}

// A minimal logfmt reader, independent of the writer: key=value pairs
// separated by one space; a quoted value understands \" \\ \n \r \t \xNN.
// Returns nullopt if `line` is not well formed.
std::optional<std::vector<std::pair<std::string, std::string>>> ParseLogfmt(
    absl::string_view line) {
  std::vector<std::pair<std::string, std::string>> fields;
  size_t i = 0;
  while (i < line.size()) {
    if (!fields.empty()) {
      if (line[i] != ' ') return std::nullopt;
      ++i;
    }
    size_t equals = line.find('=', i);
    if (equals == absl::string_view::npos || equals == i) return std::nullopt;
    std::string key(line.substr(i, equals - i));
    i = equals + 1;
    std::string value;
    if (i < line.size() && line[i] == '"') {
      ++i;
      while (true) {
        if (i >= line.size()) return std::nullopt;
        char c = line[i++];
        if (c == '"') break;
        if (c != '\\') {
          value.push_back(c);
          continue;
        }
        if (i >= line.size()) return std::nullopt;
        char escape = line[i++];
        switch (escape) {
          case '"':
          case '\\':
            value.push_back(escape);
            break;
          case 'n':
            value.push_back('\n');
            break;
          case 'r':
            value.push_back('\r');
            break;
          case 't':
            value.push_back('\t');
            break;
          case 'x': {
            int byte = 0;
            if (i + 2 > line.size() ||
                !absl::SimpleHexAtoi(line.substr(i, 2), &byte)) {
              return std::nullopt;
            }
            value.push_back(static_cast<char>(byte));
            i += 2;
            break;
          }
          default:
            return std::nullopt;
        }
      }
    } else {
      size_t end = line.find(' ', i);
      if (end == absl::string_view::npos) end = line.size();
      value = std::string(line.substr(i, end - i));
      if (value.empty() || absl::StrContains(value, '"')) return std::nullopt;
      i = end;
    }
    fields.emplace_back(std::move(key), std::move(value));
  }
  return fields;
}

std::map<std::string, std::string> FieldMap(absl::string_view line) {
  auto fields = ParseLogfmt(line);
  EXPECT_TRUE(fields.has_value()) << line;
  if (!fields.has_value()) return {};
  return {fields->begin(), fields->end()};
}

bool HasRawControlByte(absl::string_view line) {
  for (char c : line) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7F) return true;
  }
  return false;
}

TEST(AccessLogTest, ExactLine) {
  EXPECT_EQ(
      FormatAccessLogLine(ExampleRecord(), At(2026, 11, 27, 17, 0, 0, 123)),
      "ts=2026-11-27T17:00:00.123Z route=/v1/ticks "
      "remote=127.0.0.1:5555 status=200 grpc_code=OK events=12 "
      "bytes=3456 duration_ms=1234.5 reason=backend_ended "
      "last_event_id=41");
}

TEST(AccessLogTest, LogsTheProtocolAfterTheRemote) {
  StreamRecord record = ExampleRecord();
  record.protocol = "HTTP/2";
  EXPECT_EQ(FormatAccessLogLine(record, At(2026, 11, 27, 17, 0, 0, 123)),
            "ts=2026-11-27T17:00:00.123Z route=/v1/ticks "
            "remote=127.0.0.1:5555 proto=HTTP/2 status=200 grpc_code=OK "
            "events=12 bytes=3456 duration_ms=1234.5 reason=backend_ended "
            "last_event_id=41");
}

TEST(AccessLogTest, RejectedStreamWithoutLastEventId) {
  StreamRecord record;
  record.route = "/v1/ticks";
  record.remote = "[::1]:40000";
  record.http_status = 503;
  record.grpc_code = absl::StatusCode::kUnavailable;
  record.reason = CloseReason::kRejected;
  EXPECT_EQ(FormatAccessLogLine(record, At(2026, 1, 2, 3, 4, 5, 7)),
            "ts=2026-01-02T03:04:05.007Z route=/v1/ticks remote=[::1]:40000 "
            "status=503 grpc_code=UNAVAILABLE events=0 bytes=0 "
            "duration_ms=0.0 reason=rejected last_event_id=\"\"");
}

TEST(AccessLogTest, EveryReasonAndCodeByName) {
  StreamRecord record = ExampleRecord();
  const std::vector<std::pair<CloseReason, std::string>> reasons = {
      {CloseReason::kBackendEnded, "backend_ended"},
      {CloseReason::kClientGone, "client_gone"},
      {CloseReason::kSlowClient, "slow_client"},
      {CloseReason::kMaxDuration, "max_duration"},
      {CloseReason::kShutdown, "shutdown"},
      {CloseReason::kRejected, "rejected"}};
  for (const auto& [reason, name] : reasons) {
    record.reason = reason;
    EXPECT_EQ(
        FieldMap(FormatAccessLogLine(record, absl::UnixEpoch()))["reason"],
        name);
  }
  record.grpc_code = absl::StatusCode::kDeadlineExceeded;
  EXPECT_EQ(
      FieldMap(FormatAccessLogLine(record, absl::UnixEpoch()))["grpc_code"],
      "DEADLINE_EXCEEDED");
  record.grpc_code = static_cast<absl::StatusCode>(1234);
  EXPECT_EQ(
      FieldMap(FormatAccessLogLine(record, absl::UnixEpoch()))["grpc_code"],
      "UNKNOWN");
}

TEST(AccessLogTest, TimestampIsUtcWithMilliseconds) {
  StreamRecord record = ExampleRecord();
  EXPECT_TRUE(absl::StartsWith(FormatAccessLogLine(record, absl::UnixEpoch()),
                               "ts=1970-01-01T00:00:00.000Z "));
  // Sub-millisecond digits are truncated, not rounded into the next second.
  EXPECT_TRUE(absl::StartsWith(
      FormatAccessLogLine(
          record, At(1999, 12, 31, 23, 59, 59, 999) + absl::Microseconds(999)),
      "ts=1999-12-31T23:59:59.999Z "));
  EXPECT_TRUE(absl::StartsWith(
      FormatAccessLogLine(record, At(2024, 2, 29, 12, 30, 1, 50)),
      "ts=2024-02-29T12:30:01.050Z "));
}

TEST(AccessLogTest, DurationInMillisecondsWithOneDecimal) {
  StreamRecord record = ExampleRecord();
  const std::vector<std::pair<absl::Duration, std::string>> cases = {
      {absl::ZeroDuration(), "0.0"},           {absl::Microseconds(40), "0.0"},
      {absl::Microseconds(60), "0.1"},         {absl::Seconds(2), "2000.0"},
      {absl::Microseconds(1234567), "1234.6"}, {absl::Hours(1), "3600000.0"}};
  for (const auto& [duration, text] : cases) {
    record.duration = duration;
    EXPECT_EQ(
        FieldMap(FormatAccessLogLine(record, absl::UnixEpoch()))["duration_ms"],
        text);
  }
}

TEST(AccessLogTest, ValuesAreQuotedAndEscapedOnlyWhenNeeded) {
  EXPECT_EQ(LogfmtValue("plain-value_1.2:3/4"), "plain-value_1.2:3/4");
  EXPECT_EQ(LogfmtValue("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(LogfmtValue(""), R"("")");
  EXPECT_EQ(LogfmtValue("a b"), R"("a b")");
  EXPECT_EQ(LogfmtValue("a=b"), R"("a=b")");
  EXPECT_EQ(LogfmtValue(R"(say "hi")"), R"("say \"hi\"")");
  EXPECT_EQ(LogfmtValue(R"(back\slash)"), R"("back\\slash")");
  EXPECT_EQ(LogfmtValue("l1\nl2\r\tx"), R"("l1\nl2\r\tx")");
  EXPECT_EQ(LogfmtValue(std::string("nul\0del\x7f", 8)), R"("nul\x00del\x7f")");
  EXPECT_EQ(LogfmtValue("bad\xFF\xC3(ok\xE2\x98\x83)"),
            "\"bad\\xff\\xc3(ok\xE2\x98\x83)\"");
}

TEST(AccessLogTest, HostileFieldsStayOnOneParseableLine) {
  StreamRecord record = ExampleRecord();
  record.route = "/v1/my route";
  record.remote = "1.2.3.4:5 status=999";
  record.last_event_id = "41\n\rts=fake \"quoted\" \\ =\x01";
  const std::string line =
      FormatAccessLogLine(record, At(2026, 11, 27, 17, 0, 0, 123));
  EXPECT_FALSE(HasRawControlByte(line)) << line;
  EXPECT_EQ(line,
            "ts=2026-11-27T17:00:00.123Z route=\"/v1/my route\" "
            "remote=\"1.2.3.4:5 status=999\" status=200 grpc_code=OK "
            "events=12 bytes=3456 duration_ms=1234.5 reason=backend_ended "
            "last_event_id=\"41\\n\\rts=fake \\\"quoted\\\" \\\\ =\\x01\"");
  std::map<std::string, std::string> fields = FieldMap(line);
  EXPECT_EQ(fields.size(), 10u);
  EXPECT_EQ(fields["status"], "200");
  EXPECT_EQ(fields["remote"], record.remote);
  EXPECT_EQ(fields["last_event_id"], record.last_event_id);
}

TEST(AccessLogTest, EveryByteRoundTripsOnOneLine) {
  // Two values of 128 bytes (the most logged whole) hold every byte value.
  std::string low, high;
  for (int byte = 0; byte < 128; ++byte) low.push_back(char(byte));
  for (int byte = 128; byte < 256; ++byte) high.push_back(char(byte));
  StreamRecord record = ExampleRecord();
  record.remote = low;
  record.last_event_id = high;
  const std::string line = FormatAccessLogLine(record, absl::UnixEpoch());
  EXPECT_FALSE(HasRawControlByte(line));
  std::map<std::string, std::string> fields = FieldMap(line);
  EXPECT_EQ(fields["remote"], record.remote);
  EXPECT_EQ(fields["last_event_id"], record.last_event_id);
}

TEST(AccessLogTest, QueryStringIsNeverLogged) {
  StreamRecord record = ExampleRecord();
  record.route = "/v1/ticks?symbol=X&access_token=s3cret";
  const std::string line = FormatAccessLogLine(record, absl::UnixEpoch());
  EXPECT_FALSE(absl::StrContains(line, "s3cret")) << line;
  EXPECT_FALSE(absl::StrContains(line, "?")) << line;
  EXPECT_EQ(FieldMap(line)["route"], "/v1/ticks");
}

TEST(AccessLogTest, FieldsComeInAFixedOrder) {
  auto fields = ParseLogfmt(FormatAccessLogLine(ExampleRecord(), absl::Now()));
  ASSERT_TRUE(fields.has_value());
  std::vector<std::string> keys;
  for (const auto& field : *fields) keys.push_back(field.first);
  EXPECT_EQ(keys, (std::vector<std::string>{
                      "ts", "route", "remote", "status", "grpc_code", "events",
                      "bytes", "duration_ms", "reason", "last_event_id"}));
}

// Reads everything written to `file` so far.
std::string ReadAll(FILE* file) {
  std::fflush(file);
  std::rewind(file);
  std::string content;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) {
    content.append(buffer, n);
  }
  return content;
}

TEST(AccessLogTest, WriteStampsTheCurrentTime) {
  FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  AccessLog log(file);
  const absl::Time before = absl::Now();
  log.Write(ExampleRecord());
  const absl::Time after = absl::Now();
  ASSERT_TRUE(log.Flush(kPatience));
  const std::string content = ReadAll(file);
  std::fclose(file);

  ASSERT_FALSE(content.empty());
  EXPECT_EQ(content.back(), '\n');
  const std::string line = content.substr(0, content.size() - 1);
  EXPECT_FALSE(absl::StrContains(line, '\n'));
  absl::Time ts;
  std::string error;
  ASSERT_TRUE(absl::ParseTime("%Y-%m-%dT%H:%M:%E*SZ", FieldMap(line)["ts"],
                              absl::UTCTimeZone(), &ts, &error))
      << error;
  // ts is truncated to the millisecond.
  EXPECT_GE(ts, before - absl::Milliseconds(1));
  EXPECT_LE(ts, after);
  EXPECT_EQ(
      line.substr(line.find(" route=")),
      FormatAccessLogLine(ExampleRecord(), ts).substr(line.find(" route=")));
}

TEST(AccessLogTest, ConcurrentWritesProduceWholeLines) {
  FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  AccessLogOptions options;
  options.max_queued_lines = 10000;  // Room for every line: none dropped.
  AccessLog log(file, options);
  constexpr int kThreads = 8;
  constexpr int kLinesPerThread = 300;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&log, t] {
      StreamRecord record = ExampleRecord();
      // Long values make torn writes likely if lines were not atomic.
      record.last_event_id =
          std::string(kMaxLoggedValueBytes, static_cast<char>('a' + t));
      for (int i = 0; i < kLinesPerThread; ++i) {
        record.events = i;
        log.Write(record);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  ASSERT_TRUE(log.Flush(kPatience));
  EXPECT_EQ(log.dropped_lines(), 0);
  const std::string content = ReadAll(file);
  std::fclose(file);

  ASSERT_FALSE(content.empty());
  EXPECT_EQ(content.back(), '\n');
  std::vector<absl::string_view> lines =
      absl::StrSplit(content, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), size_t{kThreads * kLinesPerThread});
  std::map<char, int> lines_per_writer;
  for (absl::string_view line : lines) {
    std::map<std::string, std::string> fields = FieldMap(line);
    ASSERT_EQ(fields.size(), 10u) << line.substr(0, 200);
    const std::string& id = fields["last_event_id"];
    ASSERT_EQ(id.size(), kMaxLoggedValueBytes);
    EXPECT_EQ(id, std::string(kMaxLoggedValueBytes, id[0]));
    ++lines_per_writer[id[0]];
  }
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(lines_per_writer[static_cast<char>('a' + t)], kLinesPerThread);
  }
}

TEST(AccessLogTest, NullFileIsANoOp) {
  AccessLog log(nullptr);
  log.Write(ExampleRecord());  // Must not crash.
  EXPECT_TRUE(log.Flush(absl::ZeroDuration()));
  EXPECT_EQ(log.dropped_lines(), 0);
}

TEST(AccessLogTest, LongClientValuesAreCutAndMarked) {
  StreamRecord record = ExampleRecord();
  record.last_event_id = std::string(8192, '7');
  const std::string line = FormatAccessLogLine(record, absl::UnixEpoch());
  EXPECT_LT(line.size(), 400u) << line;
  EXPECT_EQ(FieldMap(line)["last_event_id"],
            absl::StrCat(std::string(kMaxLoggedValueBytes, '7'), "...[+",
                         8192 - kMaxLoggedValueBytes, " bytes]"));

  // Cut at a UTF-8 boundary: 127 ASCII bytes then a 2-byte "é" would
  // straddle the limit, so the "é" goes whole into the cut part.
  record.last_event_id = std::string(127, 'a') + "\xC3\xA9" + "tail";
  EXPECT_EQ(
      FieldMap(FormatAccessLogLine(record, absl::UnixEpoch()))["last_event_id"],
      std::string(127, 'a') + "...[+6 bytes]");

  // A value of exactly the limit is kept whole, unmarked.
  record.last_event_id = std::string(kMaxLoggedValueBytes, 'b');
  EXPECT_EQ(
      FieldMap(FormatAccessLogLine(record, absl::UnixEpoch()))["last_event_id"],
      record.last_event_id);
}

// A sink that never reads (stdout piped into a stalled reader) must not
// block Write: before the fix, Write blocked in fflush under a mutex once the
// pipe was full, and so did every stream's teardown.
TEST(AccessLogTest, StalledSinkNeverBlocksWrite) {
  signal(SIGPIPE, SIG_IGN);  // As the gateway does.
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  FILE* sink = fdopen(fds[1], "w");
  ASSERT_NE(sink, nullptr);
  std::atomic<int64_t> dropped_calls{0};
  AccessLogOptions options;
  options.max_queued_lines = 100;
  options.on_dropped = [&dropped_calls] { dropped_calls.fetch_add(1); };
  auto log = std::make_unique<AccessLog>(sink, options);

  // About 5 MB of lines: far more than the pipe (64 KiB) and the queue hold.
  constexpr int kLines = 20000;
  absl::Notification wrote_all;
  std::thread writer([&] {
    for (int i = 0; i < kLines; ++i) log->Write(ExampleRecord());
    wrote_all.Notify();
  });
  const bool finished = wrote_all.WaitForNotificationWithTimeout(kPatience);
  EXPECT_TRUE(finished) << "Write blocked on a sink that does not read";
  if (!finished) {
    close(fds[0]);  // Unblocks the writer (EPIPE) so the test can end.
    writer.join();
    return;
  }
  writer.join();
  EXPECT_GT(log->dropped_lines(), 0);
  EXPECT_EQ(dropped_calls.load(), log->dropped_lines());
  EXPECT_FALSE(log->Flush(absl::Milliseconds(100)));  // Still stalled.

  // Destroying the log does not wait for the stalled sink either.
  const absl::Time before = absl::Now();
  log.reset();
  EXPECT_LT(absl::Now() - before, absl::Seconds(10));

  // What was written is whole lines; then the reader goes away.
  std::string head(16384, '\0');
  ssize_t n = read(fds[0], head.data(), head.size());
  ASSERT_GT(n, 0);
  head.resize(static_cast<size_t>(n));
  EXPECT_TRUE(absl::StartsWith(head, "ts=")) << head.substr(0, 100);
  close(fds[0]);
}

// Once a stalled sink drains, queued lines are written in order.
TEST(AccessLogTest, QueuedLinesAreWrittenWhenTheSinkDrains) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  FILE* sink = fdopen(fds[1], "w");
  ASSERT_NE(sink, nullptr);
  AccessLog log(sink);
  StreamRecord record = ExampleRecord();
  constexpr int kLines = 1000;  // About 200 KiB: more than the pipe holds.
  for (int i = 0; i < kLines; ++i) {
    record.events = i;
    log.Write(record);
  }
  std::string content;
  std::thread reader([&] {
    char buffer[4096];
    ssize_t n;
    while ((n = read(fds[0], buffer, sizeof(buffer))) > 0) {
      content.append(buffer, static_cast<size_t>(n));
      if (std::count(content.begin(), content.end(), '\n') == kLines) break;
    }
  });
  EXPECT_TRUE(log.Flush(kPatience));
  reader.join();
  std::vector<absl::string_view> lines =
      absl::StrSplit(content, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), size_t{kLines});
  for (int i = 0; i < kLines; ++i) {
    EXPECT_EQ(FieldMap(lines[i])["events"], absl::StrCat(i));
  }
  EXPECT_EQ(log.dropped_lines(), 0);
  close(fds[0]);
}

}  // namespace
}  // namespace sse_gateway
