// HttpResponseParser: an incremental parser of one HTTP/1.1 response as read
// from a socket, for the load generator.
//
// Contract:
//   - The status line and headers end with CR LF (a bare LF is accepted).
//     Interim 1xx responses (other than 101) are skipped. Header names are
//     case-insensitive; only Transfer-Encoding and Content-Length matter.
//   - The body is framed by `Transfer-Encoding: chunked` (chunk extensions
//     and trailers ignored), else by Content-Length, else it runs until the
//     connection closes (FinishAtEof). Responses 204 and 304 have no body.
//   - The sink sees the status code once the headers are complete, then the
//     decoded body bytes in order. Where the input is split never matters
//     (down to one byte per Feed), except for how the body bytes are divided
//     among OnBody calls. The body is never buffered; only header lines are
//     (at most kMaxHeaderBytes in all).
//
// Not thread-safe: one parser per response, used from one thread at a time.

#ifndef SSE_GATEWAY_BENCH_HTTP_RESPONSE_PARSER_H_
#define SSE_GATEWAY_BENCH_HTTP_RESPONSE_PARSER_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace sse_gateway {

// Receives what an HttpResponseParser decodes. Returning false from either
// method stops the current Feed (it returns kStopped).
class HttpResponseSink {
 public:
  virtual ~HttpResponseSink() = default;
  virtual bool OnResponseHeaders(int status_code) = 0;
  virtual bool OnBody(absl::string_view bytes) = 0;
};

class HttpResponseParser {
 public:
  static constexpr size_t kMaxHeaderBytes = 64 << 10;

  enum class Progress {
    kNeedMore,  // All input consumed; the response is not complete yet.
    kStopped,   // The sink returned false.
    kDone,      // The response is complete (input after it is ignored).
    kError,     // Malformed response; see error().
  };

  enum class Framing {
    kUnknown,
    kNoBody,
    kChunked,
    kContentLength,
    kUntilClose
  };

  HttpResponseParser() = default;

  // Starts over for a new response; keeps buffer capacity.
  void Reset();

  // Parses the next `bytes` of the response, calling `sink` (owned by the
  // caller). After kStopped, kDone or kError the parser must be Reset before
  // it is fed again.
  Progress Feed(absl::string_view bytes, HttpResponseSink* sink);

  // The connection was closed by the peer: kDone when the body runs until
  // close (or the response was already complete), kError otherwise (then
  // error() says what was cut short).
  Progress FinishAtEof();

  bool headers_complete() const { return headers_complete_; }
  int status_code() const { return status_code_; }
  Framing framing() const { return framing_; }
  // A static description of the last error; empty if none.
  absl::string_view error() const { return error_; }

 private:
  enum class State {
    kStatusLine,
    kHeaders,
    kChunkSize,
    kChunkSizeLineRest,
    kChunkData,
    kChunkDataCr,
    kChunkDataLf,
    kTrailers,
    kLengthBody,
    kUntilCloseBody,
    kDone,
    kError,
  };

  // Appends to line_ up to and including a LF. Returns the number of bytes
  // used and sets *complete when the line ended (line_ then holds it without
  // its CR LF). Sets the error state if the header section is too large.
  size_t TakeLine(absl::string_view bytes, bool* complete);
  bool ParseStatusLine(absl::string_view line);
  bool ParseHeaderLine(absl::string_view line);
  // Chooses the body state after the blank line ending the headers.
  void StartBody();
  Progress Fail(const char* message);

  State state_ = State::kStatusLine;
  Framing framing_ = Framing::kUnknown;
  std::string line_;
  size_t header_bytes_ = 0;
  int status_code_ = 0;
  bool headers_complete_ = false;
  bool chunked_ = false;
  int64_t content_length_ = -1;
  uint64_t remaining_ = 0;  // Of the current chunk or of the length body.
  bool chunk_size_has_digit_ = false;
  const char* error_ = "";
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_BENCH_HTTP_RESPONSE_PARSER_H_
