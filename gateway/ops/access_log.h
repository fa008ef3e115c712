// The access log: one logfmt line per finished (or rejected) stream.
//
//   ts=2026-11-27T17:00:00.123Z route=/v1/ticks remote=127.0.0.1:5555
//   status=200 grpc_code=OK events=12 bytes=3456 duration_ms=1234.5
//   reason=backend_ended last_event_id=41
//
// (shown wrapped; always one line). Keys are fixed and always present, in
// this order. A value is written bare unless it is empty or contains a
// space, '"', '=', '\\', a control byte or invalid UTF-8; then it is quoted
// with "..." and escaped: \" \\ \n \r \t, \xNN for any other control byte
// and for each byte of invalid UTF-8. So a line never contains a raw control
// byte, whatever the client sent (e.g. as Last-Event-ID). A value longer than
// kMaxLoggedValueBytes (a client's Last-Event-ID can be 8 KiB) is cut to
// that many bytes, at a UTF-8 boundary, followed by "...[+N bytes]", so a
// request cannot make its line much longer than its neighbours. The route is
// logged without any query string (which may carry tokens): everything from
// the first '?' is dropped.
//
// Logging never blocks the data path: AccessLog::Write only formats the line
// and queues it; a thread of its own writes the queue to the file. When the
// file does not take lines (a stalled pipe, a full disk), at most
// `max_queued_lines` wait; later ones are dropped and counted.

#ifndef SSE_GATEWAY_GATEWAY_OPS_ACCESS_LOG_H_
#define SSE_GATEWAY_GATEWAY_OPS_ACCESS_LOG_H_

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/ops/stream_outcome.h"

namespace sse_gateway {

// What the access log records about one stream.
struct StreamRecord {
  std::string route;   // route path
  std::string remote;  // client ip:port
  // "HTTP/1.1" or "HTTP/2"; not logged when empty.
  std::string protocol;
  int http_status = 0;
  absl::StatusCode grpc_code = absl::StatusCode::kOk;
  int64_t events = 0;
  int64_t bytes = 0;
  absl::Duration duration;
  CloseReason reason = CloseReason::kBackendEnded;
  std::string last_event_id;  // as received ("" if none)
};

// Logged values are cut to this many bytes (see the file comment).
inline constexpr size_t kMaxLoggedValueBytes = 128;

// The record as one logfmt line, without the trailing newline. `now` is the
// `ts` field, in UTC with milliseconds. Thread-safe (pure function).
std::string FormatAccessLogLine(const StreamRecord& record, absl::Time now);

// `value` as a logfmt value: bare when it can be, else quoted and escaped
// as described above. Not cut.
std::string LogfmtValue(absl::string_view value);

struct AccessLogOptions {
  // Lines waiting for the file; when this many wait, new lines are dropped.
  size_t max_queued_lines = 4096;
  // Called for every dropped line, on the thread that called Write and
  // without locks held (e.g. to count it in the metrics). May be empty.
  std::function<void()> on_dropped;
};

// Writes records to a FILE, one whole line per record (never interleaved with
// another record's line), from a thread of its own. Thread-safe.
class AccessLog {
 public:
  // Writes to `out`, which is not owned and must stay open for the life of
  // the process (stdout, stderr). A null `out` makes Write a no-op.
  explicit AccessLog(FILE* out, AccessLogOptions options = {});
  // Opens `path` for appending (created if missing); the AccessLog owns it.
  // InvalidArgument naming the path and the system's reason on failure.
  static absl::StatusOr<std::unique_ptr<AccessLog>> OpenFile(
      const std::string& path, AccessLogOptions options = {});
  // Writes what is queued, waiting at most about a second for the file: a
  // writer stuck on a stalled file is left behind rather than waited for.
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  // Formats `record` with the current time and queues it for writing (or
  // drops it when the queue is full). Never waits for the file. Write errors
  // are ignored: logging never fails a stream.
  void Write(const StreamRecord& record);

  // Waits until every line queued so far has been written and flushed, or
  // until `timeout` has passed. Returns whether they all were.
  bool Flush(absl::Duration timeout);

  // Lines dropped because the queue was full.
  int64_t dropped_lines() const;

 private:
  struct Shared;
  explicit AccessLog(std::shared_ptr<Shared> shared);

  // Shared with the writing thread, which may outlive this object when the
  // file stalls at shutdown.
  const std::shared_ptr<Shared> shared_;
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_OPS_ACCESS_LOG_H_
