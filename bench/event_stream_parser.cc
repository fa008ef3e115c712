#include "bench/event_stream_parser.h"

#include <cstring>
#include <limits>

namespace sse_gateway {
namespace {

// proto3 JSON names (the gateway, the Node peer) and proto field names
// (grpc-gateway v1's default marshaler).
constexpr absl::string_view kSentUnixNanosKeys[] = {"\"sentUnixNanos\":",
                                                    "\"sent_unix_nanos\":"};
constexpr absl::string_view kUtf8Bom = "\xEF\xBB\xBF";
constexpr absl::string_view kNdjsonErrorPrefix = "{\"error\"";

bool IsBlank(absl::string_view line) {
  for (char c : line) {
    if (c != ' ' && c != '\t') return false;
  }
  return true;
}

}  // namespace

int64_t ExtractSentUnixNanos(absl::string_view text) {
  size_t pos = absl::string_view::npos;
  for (absl::string_view name : kSentUnixNanosKeys) {
    const size_t key = text.find(name);
    if (key != absl::string_view::npos) {
      pos = key + name.size();
      break;
    }
  }
  if (pos == absl::string_view::npos) return -1;
  while (pos < text.size() && text[pos] == ' ') ++pos;
  if (pos < text.size() && text[pos] == '"') ++pos;
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  int64_t value = 0;
  const size_t first_digit = pos;
  for (; pos < text.size() && text[pos] >= '0' && text[pos] <= '9'; ++pos) {
    const int digit = text[pos] - '0';
    if (value > (kMax - digit) / 10) return -1;
    value = value * 10 + digit;
  }
  return pos == first_digit ? -1 : value;
}

void EventStreamParser::Reset() {
  partial_line_.clear();
  skip_leading_lf_ = false;
  at_stream_start_ = true;
  error_ = false;
  comments_ = 0;
  pending_has_data_ = false;
  pending_is_end_ = false;
  pending_sent_unix_nanos_ = -1;
  pending_type_.clear();
}

bool EventStreamParser::Feed(absl::string_view bytes, StreamEventSink* sink) {
  if (error_) return false;
  const char* const data = bytes.data();
  const size_t size = bytes.size();
  size_t pos = 0;
  if (skip_leading_lf_ && size > 0) {
    skip_leading_lf_ = false;
    if (data[0] == '\n') pos = 1;
  }
  while (pos < size) {
    const char* const start = data + pos;
    const size_t rest = size - pos;
    const char* const lf =
        static_cast<const char*>(std::memchr(start, '\n', rest));
    const size_t scan = lf != nullptr ? static_cast<size_t>(lf - start) : rest;
    const char* const cr =
        static_cast<const char*>(std::memchr(start, '\r', scan));
    const char* const line_end = cr != nullptr ? cr : lf;
    if (line_end == nullptr) {  // The line goes on in the next Feed.
      if (partial_line_.size() + rest > kMaxLineBytes) {
        error_ = true;
        return false;
      }
      partial_line_.append(start, rest);
      return true;
    }
    size_t next = static_cast<size_t>(line_end - data) + 1;
    if (*line_end == '\r') {
      if (next < size) {
        if (data[next] == '\n') ++next;
      } else {
        skip_leading_lf_ = true;
      }
    }
    const size_t line_size = static_cast<size_t>(line_end - start);
    bool keep_going;
    if (partial_line_.empty()) {
      keep_going = ProcessLine(absl::string_view(start, line_size), sink);
    } else {
      if (partial_line_.size() + line_size > kMaxLineBytes) {
        error_ = true;
        return false;
      }
      partial_line_.append(start, line_size);
      keep_going = ProcessLine(partial_line_, sink);
      partial_line_.clear();
    }
    pos = next;
    if (!keep_going) return false;
  }
  return true;
}

bool EventStreamParser::ProcessLine(absl::string_view line,
                                    StreamEventSink* sink) {
  if (at_stream_start_) {
    at_stream_start_ = false;
    if (line.substr(0, kUtf8Bom.size()) == kUtf8Bom) {
      line.remove_prefix(kUtf8Bom.size());
    }
  }
  return format_ == EventFormat::kSse ? ProcessSseLine(line, sink)
                                      : ProcessNdjsonLine(line, sink);
}

bool EventStreamParser::ProcessSseLine(absl::string_view line,
                                       StreamEventSink* sink) {
  if (line.empty()) {  // Dispatch.
    const bool dispatch = pending_has_data_;
    StreamEvent event;
    event.is_end = pending_is_end_;
    event.sent_unix_nanos = pending_sent_unix_nanos_;
    event.type = pending_type_;
    pending_has_data_ = false;
    pending_is_end_ = false;
    pending_sent_unix_nanos_ = -1;
    const bool keep_going = dispatch ? sink->OnStreamEvent(event) : true;
    pending_type_.clear();  // Keeps its capacity: no allocation per event.
    return keep_going;
  }
  if (line[0] == ':') {
    ++comments_;
    return true;
  }
  absl::string_view field = line;
  absl::string_view value;
  const size_t colon = line.find(':');
  if (colon != absl::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    pending_has_data_ = true;
    if (pending_sent_unix_nanos_ < 0) {
      pending_sent_unix_nanos_ = ExtractSentUnixNanos(value);
    }
  } else if (field == "event") {
    pending_is_end_ = value == "end";
    pending_type_.assign(value.data(), value.size());
  }
  // "id", "retry" and unknown fields do not matter to the benchmark.
  return true;
}

bool EventStreamParser::ProcessNdjsonLine(absl::string_view line,
                                          StreamEventSink* sink) {
  if (IsBlank(line)) return true;
  StreamEvent event;
  event.is_end =
      line.substr(0, kNdjsonErrorPrefix.size()) == kNdjsonErrorPrefix;
  event.sent_unix_nanos = ExtractSentUnixNanos(line);
  return sink->OnStreamEvent(event);
}

}  // namespace sse_gateway
