#include "gateway/ops/access_log.h"

#include <cerrno>
#include <cstring>
#include <deque>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "core/utf8.h"
#include "gateway/ops/metrics.h"  // StatusCodeName

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

// `value` cut to kMaxLoggedValueBytes at a UTF-8 boundary, with a marker
// saying how much was cut; `value` itself when it is short enough.
std::string CutValue(absl::string_view value) {
  if (value.size() <= kMaxLoggedValueBytes) return std::string(value);
  size_t kept = 0;
  while (kept < kMaxLoggedValueBytes) {
    size_t length = static_cast<uint8_t>(value[kept]) < 0x80
                        ? 1
                        : Utf8SequenceLength(value, kept);
    if (length == 0) length = 1;  // Invalid: escaped byte by byte anyway.
    if (kept + length > kMaxLoggedValueBytes) break;
    kept += length;
  }
  return absl::StrCat(value.substr(0, kept), "...[+", value.size() - kept,
                      " bytes]");
}

void AppendField(absl::string_view key, absl::string_view value,
                 std::string* line) {
  if (!line->empty()) line->push_back(' ');
  absl::StrAppend(line, key, "=", LogfmtValue(CutValue(value)));
}

// How long the destructor waits for a stalled file.
constexpr absl::Duration kStopPatience = absl::Seconds(1);

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
  if (!record.protocol.empty()) AppendField("proto", record.protocol, &line);
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

struct FileCloser {
  void operator()(FILE* file) const { std::fclose(file); }
};

// The queue and the file, shared by the AccessLog and its writing thread.
struct AccessLog::Shared {
  Shared(FILE* file, std::unique_ptr<FILE, FileCloser> owned,
         AccessLogOptions log_options)
      : out(file),
        owned_file(std::move(owned)),
        options(std::move(log_options)) {}

  // Writes queued lines until stopped and the queue is empty.
  void Run() {
    for (;;) {
      std::deque<std::string> batch;
      {
        absl::MutexLock lock(&mu);
        mu.Await(absl::Condition(
            +[](Shared* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu) {
              return self->stopping || !self->queue.empty();
            },
            this));
        if (queue.empty()) break;  // Stopping, and everything is written.
        batch.swap(queue);
      }
      // The file may block (a pipe nobody reads): no lock is held here.
      for (const std::string& line : batch) {
        std::fwrite(line.data(), 1, line.size(), out);
      }
      std::fflush(out);
      absl::MutexLock lock(&mu);
      written += static_cast<int64_t>(batch.size());
    }
    done.Notify();
  }

  FILE* const out;
  const std::unique_ptr<FILE, FileCloser> owned_file;  // Null: not ours.
  const AccessLogOptions options;
  absl::Notification done;  // Run() has returned.
  mutable absl::Mutex mu;
  std::deque<std::string> queue ABSL_GUARDED_BY(mu);
  int64_t accepted ABSL_GUARDED_BY(mu) = 0;  // Lines ever queued.
  int64_t written ABSL_GUARDED_BY(mu) = 0;   // Of those, written.
  int64_t dropped ABSL_GUARDED_BY(mu) = 0;
  bool stopping ABSL_GUARDED_BY(mu) = false;
};

AccessLog::AccessLog(FILE* out, AccessLogOptions options)
    : AccessLog(out == nullptr ? nullptr
                               : std::make_shared<Shared>(
                                     out, nullptr, std::move(options))) {}

AccessLog::AccessLog(std::shared_ptr<Shared> shared)
    : shared_(std::move(shared)) {
  if (shared_ == nullptr) return;
  // The thread keeps the shared state alive for as long as it runs.
  std::thread([shared = shared_] { shared->Run(); }).detach();
}

absl::StatusOr<std::unique_ptr<AccessLog>> AccessLog::OpenFile(
    const std::string& path, AccessLogOptions options) {
  std::unique_ptr<FILE, FileCloser> file(std::fopen(path.c_str(), "a"));
  if (file == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot open ", path, " for appending: ", std::strerror(errno)));
  }
  FILE* out = file.get();
  return std::unique_ptr<AccessLog>(new AccessLog(
      std::make_shared<Shared>(out, std::move(file), std::move(options))));
}

AccessLog::~AccessLog() {
  if (shared_ == nullptr) return;
  {
    absl::MutexLock lock(&shared_->mu);
    shared_->stopping = true;
  }
  // A writer blocked on a stalled file finishes (and closes an owned file)
  // whenever the file takes its bytes; the process does not wait for it.
  shared_->done.WaitForNotificationWithTimeout(kStopPatience);
}

void AccessLog::Write(const StreamRecord& record) {
  if (shared_ == nullptr) return;
  std::string line = FormatAccessLogLine(record, absl::Now());
  line.push_back('\n');
  bool dropped = false;
  {
    absl::MutexLock lock(&shared_->mu);
    if (shared_->queue.size() >= shared_->options.max_queued_lines) {
      ++shared_->dropped;
      dropped = true;
    } else {
      shared_->queue.push_back(std::move(line));
      ++shared_->accepted;
    }
  }
  if (dropped && shared_->options.on_dropped) shared_->options.on_dropped();
}

bool AccessLog::Flush(absl::Duration timeout) {
  if (shared_ == nullptr) return true;
  absl::MutexLock lock(&shared_->mu);
  const int64_t target = shared_->accepted;
  struct Arg {
    Shared* shared;
    int64_t target;
  } arg{shared_.get(), target};
  return shared_->mu.AwaitWithTimeout(
      absl::Condition(
          +[](Arg* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return a->shared->written >= a->target;
          },
          &arg),
      timeout);
}

int64_t AccessLog::dropped_lines() const {
  if (shared_ == nullptr) return 0;
  absl::MutexLock lock(&shared_->mu);
  return shared_->dropped;
}

}  // namespace sse_gateway
