#include "gateway/access_log.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gateway/utf8.h"

namespace sse_gateway {
namespace {

bool IsControl(uint8_t byte) { return byte < 0x20 || byte == 0x7F; }

// Whether `value` can be written bare.
bool IsBare(absl::string_view value) {
  if (value.empty()) return false;
  size_t i = 0;
  while (i < value.size()) {
    const uint8_t byte = static_cast<uint8_t>(value[i]);
    if (byte >= 0x80) {
      const size_t length = Utf8SequenceLength(value, i);
      if (length == 0) return false;
      i += length;
      continue;
    }
    if (IsControl(byte) || byte == ' ' || byte == '"' || byte == '=' ||
        byte == '\\') {
      return false;
    }
    ++i;
  }
  return true;
}

void AppendField(absl::string_view key, absl::string_view value,
                 std::string* line) {
  if (!line->empty()) line->push_back(' ');
  absl::StrAppend(line, key, "=", LogfmtValue(value));
}

}  // namespace

std::string LogfmtValue(absl::string_view value) {
  if (IsBare(value)) return std::string(value);
  std::string quoted = "\"";
  size_t i = 0;
  while (i < value.size()) {
    const uint8_t byte = static_cast<uint8_t>(value[i]);
    if (byte >= 0x80) {
      const size_t length = Utf8SequenceLength(value, i);
      if (length == 0) {
        absl::StrAppendFormat(&quoted, "\\x%02x", byte);
        ++i;
      } else {
        quoted.append(value.data() + i, length);
        i += length;
      }
      continue;
    }
    switch (byte) {
      case '"':
        quoted += "\\\"";
        break;
      case '\\':
        quoted += "\\\\";
        break;
      case '\n':
        quoted += "\\n";
        break;
      case '\r':
        quoted += "\\r";
        break;
      case '\t':
        quoted += "\\t";
        break;
      default:
        if (IsControl(byte)) {
          absl::StrAppendFormat(&quoted, "\\x%02x", byte);
        } else {
          quoted.push_back(static_cast<char>(byte));
        }
    }
    ++i;
  }
  quoted.push_back('"');
  return quoted;
}

std::string FormatAccessLogLine(const StreamRecord& record, absl::Time now) {
  absl::string_view route = record.route;
  route = route.substr(0, route.find('?'));  // npos keeps everything

  std::string line;
  AppendField(
      "ts", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", now, absl::UTCTimeZone()),
      &line);
  AppendField("route", route, &line);
  AppendField("remote", record.remote, &line);
  AppendField("status", absl::StrCat(record.http_status), &line);
  AppendField("grpc_code", StatusCodeName(record.grpc_code), &line);
  AppendField("events", absl::StrCat(record.events), &line);
  AppendField("bytes", absl::StrCat(record.bytes), &line);
  AppendField(
      "duration_ms",
      absl::StrFormat("%.1f", absl::ToDoubleMilliseconds(record.duration)),
      &line);
  AppendField("reason", CloseReasonName(record.reason), &line);
  AppendField("last_event_id", record.last_event_id, &line);
  return line;
}

AccessLog::AccessLog(FILE* out) : out_(out) {}

void AccessLog::Write(const StreamRecord& record) {
  if (out_ == nullptr) return;
  std::string line = FormatAccessLogLine(record, absl::Now());
  line.push_back('\n');
  absl::MutexLock lock(&mutex_);
  // One fwrite per line: stdio also locks the FILE, so the line is not
  // interleaved with other writers of the same FILE in this process.
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

}  // namespace sse_gateway
