#include "bench/http_response_parser.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"

namespace sse_gateway {
namespace {

constexpr uint64_t kMaxChunkSize = uint64_t{1} << 40;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Whether the last coding of a Transfer-Encoding value is "chunked".
bool LastCodingIsChunked(absl::string_view value) {
  absl::string_view last = value;
  const size_t comma = value.rfind(',');
  if (comma != absl::string_view::npos) last = value.substr(comma + 1);
  return absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(last), "chunked");
}

}  // namespace

void HttpResponseParser::Reset() {
  state_ = State::kStatusLine;
  framing_ = Framing::kUnknown;
  line_.clear();
  header_bytes_ = 0;
  status_code_ = 0;
  headers_complete_ = false;
  chunked_ = false;
  content_length_ = -1;
  remaining_ = 0;
  chunk_size_has_digit_ = false;
  error_ = "";
}

HttpResponseParser::Progress HttpResponseParser::Fail(const char* message) {
  state_ = State::kError;
  error_ = message;
  return Progress::kError;
}

size_t HttpResponseParser::TakeLine(absl::string_view bytes, bool* complete) {
  const void* lf = std::memchr(bytes.data(), '\n', bytes.size());
  const size_t used =
      lf == nullptr
          ? bytes.size()
          : static_cast<size_t>(static_cast<const char*>(lf) - bytes.data()) +
                1;
  header_bytes_ += used;
  if (header_bytes_ > kMaxHeaderBytes) {
    Fail("header section too large");
    *complete = false;
    return used;
  }
  *complete = lf != nullptr;
  line_.append(bytes.data(), *complete ? used - 1 : used);
  if (*complete && !line_.empty() && line_.back() == '\r') line_.pop_back();
  return used;
}

bool HttpResponseParser::ParseStatusLine(absl::string_view line) {
  // HTTP/1.1 200 OK
  if (!absl::StartsWith(line, "HTTP/1.")) return false;
  const size_t space = line.find(' ');
  if (space == absl::string_view::npos || line.size() < space + 4) return false;
  const absl::string_view code = line.substr(space + 1, 3);
  if (line.size() > space + 4 && line[space + 4] != ' ') return false;
  int value = 0;
  for (char c : code) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  if (value < 100) return false;
  status_code_ = value;
  return true;
}

bool HttpResponseParser::ParseHeaderLine(absl::string_view line) {
  const size_t colon = line.find(':');
  if (colon == absl::string_view::npos || colon == 0) return false;
  const absl::string_view name = line.substr(0, colon);
  const absl::string_view value =
      absl::StripAsciiWhitespace(line.substr(colon + 1));
  if (absl::EqualsIgnoreCase(name, "transfer-encoding")) {
    chunked_ = LastCodingIsChunked(value);
  } else if (absl::EqualsIgnoreCase(name, "content-length")) {
    int64_t length = 0;
    if (!absl::SimpleAtoi(value, &length) || length < 0) return false;
    content_length_ = length;
  }
  return true;
}

void HttpResponseParser::StartBody() {
  if (status_code_ == 204 || status_code_ == 304) {
    framing_ = Framing::kNoBody;
    state_ = State::kDone;
  } else if (chunked_) {
    framing_ = Framing::kChunked;
    state_ = State::kChunkSize;
    remaining_ = 0;
    chunk_size_has_digit_ = false;
  } else if (content_length_ >= 0) {
    framing_ = Framing::kContentLength;
    remaining_ = static_cast<uint64_t>(content_length_);
    state_ = remaining_ == 0 ? State::kDone : State::kLengthBody;
  } else {
    framing_ = Framing::kUntilClose;
    state_ = State::kUntilCloseBody;
  }
}

HttpResponseParser::Progress HttpResponseParser::Feed(absl::string_view bytes,
                                                      HttpResponseSink* sink) {
  const char* const data = bytes.data();
  const size_t size = bytes.size();
  size_t pos = 0;
  while (true) {
    switch (state_) {
      case State::kStatusLine:
      case State::kHeaders:
      case State::kTrailers: {
        if (pos == size) return Progress::kNeedMore;
        bool complete = false;
        pos += TakeLine(bytes.substr(pos), &complete);
        if (state_ == State::kError) return Progress::kError;
        if (!complete) return Progress::kNeedMore;
        if (state_ == State::kStatusLine) {
          if (!ParseStatusLine(line_)) return Fail("bad status line");
          state_ = State::kHeaders;
        } else if (state_ == State::kTrailers) {
          if (line_.empty()) state_ = State::kDone;
        } else if (!line_.empty()) {
          if (!ParseHeaderLine(line_)) return Fail("bad header line");
        } else if (status_code_ < 200 && status_code_ != 101) {
          // An interim response: the real one follows.
          status_code_ = 0;
          chunked_ = false;
          content_length_ = -1;
          state_ = State::kStatusLine;
        } else {
          line_.clear();
          headers_complete_ = true;
          StartBody();
          if (!sink->OnResponseHeaders(status_code_)) return Progress::kStopped;
          continue;
        }
        line_.clear();
        continue;
      }
      case State::kChunkSize:
      case State::kChunkSizeLineRest:
        while (pos < size) {
          const char c = data[pos++];
          if (state_ == State::kChunkSize) {
            const int digit = HexValue(c);
            if (digit >= 0) {
              remaining_ = remaining_ * 16 + static_cast<uint64_t>(digit);
              chunk_size_has_digit_ = true;
              if (remaining_ > kMaxChunkSize) return Fail("chunk too large");
              continue;
            }
            if (!chunk_size_has_digit_) return Fail("bad chunk size");
            state_ = State::kChunkSizeLineRest;
          }
          if (c != '\n') continue;  // Extensions, spaces or the CR.
          chunk_size_has_digit_ = false;
          state_ = remaining_ == 0 ? State::kTrailers : State::kChunkData;
          break;
        }
        if (state_ == State::kChunkSize ||
            state_ == State::kChunkSizeLineRest) {
          return Progress::kNeedMore;
        }
        continue;
      case State::kChunkData:
      case State::kLengthBody: {
        if (pos == size) return Progress::kNeedMore;
        const size_t take = static_cast<size_t>(
            std::min<uint64_t>(remaining_, static_cast<uint64_t>(size - pos)));
        remaining_ -= take;
        const size_t start = pos;
        pos += take;
        if (remaining_ == 0) {
          state_ =
              state_ == State::kChunkData ? State::kChunkDataCr : State::kDone;
        }
        if (!sink->OnBody(absl::string_view(data + start, take))) {
          return Progress::kStopped;
        }
        continue;
      }
      case State::kChunkDataCr:
      case State::kChunkDataLf: {
        if (pos == size) return Progress::kNeedMore;
        const char c = data[pos++];
        if (c == '\n') {
          state_ = State::kChunkSize;
        } else if (c == '\r' && state_ == State::kChunkDataCr) {
          state_ = State::kChunkDataLf;
        } else {
          return Fail("missing CRLF after chunk data");
        }
        continue;
      }
      case State::kUntilCloseBody:
        if (pos == size) return Progress::kNeedMore;
        if (!sink->OnBody(bytes.substr(pos))) return Progress::kStopped;
        return Progress::kNeedMore;
      case State::kDone:
        return Progress::kDone;
      case State::kError:
        return Progress::kError;
    }
  }
}

HttpResponseParser::Progress HttpResponseParser::FinishAtEof() {
  switch (state_) {
    case State::kUntilCloseBody:
    case State::kDone:
      state_ = State::kDone;
      return Progress::kDone;
    case State::kError:
      return Progress::kError;
    case State::kStatusLine:
    case State::kHeaders:
      return Fail("connection closed before the response headers ended");
    default:
      return Fail("connection closed before the response body ended");
  }
}

}  // namespace sse_gateway
