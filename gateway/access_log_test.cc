#include "gateway/access_log.h"

#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace sse_gateway {
namespace {

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
  std::string all_bytes;
  for (int byte = 0; byte < 256; ++byte) all_bytes.push_back(char(byte));
  StreamRecord record = ExampleRecord();
  record.remote = all_bytes;
  record.last_event_id = all_bytes + all_bytes;
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
  AccessLog log(file);
  constexpr int kThreads = 8;
  constexpr int kLinesPerThread = 300;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&log, t] {
      StreamRecord record = ExampleRecord();
      // Long values make torn writes likely if lines were not atomic.
      record.last_event_id = std::string(2000, static_cast<char>('a' + t));
      for (int i = 0; i < kLinesPerThread; ++i) {
        record.events = i;
        log.Write(record);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
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
    ASSERT_EQ(id.size(), 2000u);
    EXPECT_EQ(id, std::string(2000, id[0]));
    ++lines_per_writer[id[0]];
  }
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(lines_per_writer[static_cast<char>('a' + t)], kLinesPerThread);
  }
}

TEST(AccessLogTest, NullFileIsANoOp) {
  AccessLog log(nullptr);
  log.Write(ExampleRecord());  // Must not crash.
}

}  // namespace
}  // namespace sse_gateway
