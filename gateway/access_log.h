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
// byte, whatever the client sent (e.g. as Last-Event-ID). The route is
// logged without any query string (which may carry tokens): everything from
// the first '?' is dropped.

#ifndef SSE_GATEWAY_GATEWAY_ACCESS_LOG_H_
#define SSE_GATEWAY_GATEWAY_ACCESS_LOG_H_

#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gateway/metrics.h"  // StatusCodeName
#include "gateway/stream_outcome.h"

namespace sse_gateway {

// What the access log records about one stream.
struct StreamRecord {
  std::string route;   // route path
  std::string remote;  // client ip:port
  int http_status = 0;
  absl::StatusCode grpc_code = absl::StatusCode::kOk;
  int64_t events = 0;
  int64_t bytes = 0;
  absl::Duration duration;
  CloseReason reason = CloseReason::kBackendEnded;
  std::string last_event_id;  // as received ("" if none)
};

// The record as one logfmt line, without the trailing newline. `now` is the
// `ts` field, in UTC with milliseconds. Thread-safe (pure function).
std::string FormatAccessLogLine(const StreamRecord& record, absl::Time now);

// `value` as a logfmt value: bare when it can be, else quoted and escaped
// as described above.
std::string LogfmtValue(absl::string_view value);

// Writes records to a FILE, one whole line per Write (never interleaved with
// another Write's line). Thread-safe.
class AccessLog {
 public:
  // `out` is not owned and must outlive this AccessLog (stderr by default in
  // the gateway). A null `out` makes Write a no-op.
  explicit AccessLog(FILE* out);
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  // Formats `record` with the current time, writes it and flushes. Write
  // errors are ignored: logging never fails a stream.
  void Write(const StreamRecord& record);

 private:
  FILE* const out_;
  absl::Mutex mutex_;  // Orders whole lines and their flushes.
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_ACCESS_LOG_H_
