#include "core/sse_parser.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "core/utf8.h"

namespace sse_gateway {
namespace {

constexpr absl::string_view kUtf8Bom = "\xEF\xBB\xBF";

// Finds the CR and LF bytes of one buffer with memchr, remembering the next
// of each kind, so that the buffer is scanned about once per kind.
class LineBreakFinder {
 public:
  explicit LineBreakFinder(absl::string_view text)
      : begin_(text.data()),
        end_(text.data() + text.size()),
        next_lf_(Find(begin_, '\n')),
        next_cr_(Find(begin_, '\r')) {}

  // Returns the index of the first CR or LF at or after `from`, or the size
  // of the text if there is none. `from` must not decrease between calls.
  size_t Next(size_t from) {
    const char* const start = begin_ + from;
    if (next_lf_ < start) next_lf_ = Find(start, '\n');
    if (next_cr_ < start) next_cr_ = Find(start, '\r');
    return static_cast<size_t>(std::min(next_lf_, next_cr_) - begin_);
  }

 private:
  const char* Find(const char* from, char byte) const {
    const void* found =
        std::memchr(from, byte, static_cast<size_t>(end_ - from));
    return found == nullptr ? end_ : static_cast<const char*>(found);
  }

  const char* const begin_;
  const char* const end_;
  const char* next_lf_;
  const char* next_cr_;
};

bool IsAllAsciiDigits(absl::string_view text) {
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

void SseParser::Feed(absl::string_view bytes, std::vector<SseEvent>* events) {
  if (!bom_checked_) {
    // The stream may open with a BOM split across Feed calls: match it byte
    // by byte and decide once a byte differs or all three are seen.
    while (!bytes.empty() && bom_bytes_matched_ < kUtf8Bom.size() &&
           bytes.front() == kUtf8Bom[bom_bytes_matched_]) {
      ++bom_bytes_matched_;
      bytes.remove_prefix(1);
    }
    if (bom_bytes_matched_ < kUtf8Bom.size()) {
      if (bytes.empty()) return;  // Still undecided.
      // Not a BOM after all: the bytes matched so far start the first line.
      partial_line_.assign(kUtf8Bom.data(), bom_bytes_matched_);
    }
    bom_checked_ = true;
  }
  if (bytes.empty()) return;
  if (skip_next_lf_) {
    // The previous Feed ended with a CR; an LF right after it completes the
    // same CR LF line end.
    skip_next_lf_ = false;
    if (bytes.front() == '\n') bytes.remove_prefix(1);
  }

  LineBreakFinder line_breaks(bytes);
  size_t line_start = 0;
  while (true) {
    const size_t line_end = line_breaks.Next(line_start);
    if (line_end == bytes.size()) {
      partial_line_.append(bytes.data() + line_start, line_end - line_start);
      return;
    }
    const absl::string_view line =
        bytes.substr(line_start, line_end - line_start);
    if (partial_line_.empty()) {
      ProcessLine(line, events);
    } else {
      partial_line_.append(line.data(), line.size());
      ProcessLine(partial_line_, events);
      partial_line_.clear();
    }
    line_start = line_end + 1;
    if (bytes[line_end] == '\r') {
      if (line_start == bytes.size()) {
        skip_next_lf_ = true;
      } else if (bytes[line_start] == '\n') {
        ++line_start;
      }
    }
  }
}

void SseParser::ProcessLine(absl::string_view raw_line,
                            std::vector<SseEvent>* events) {
  absl::string_view line = raw_line;
  if (!IsValidUtf8(raw_line)) {
    decoded_line_.clear();
    AppendUtf8Replacing(raw_line, &decoded_line_);
    line = decoded_line_;
  }

  if (line.empty()) {
    DispatchEvent(events);
    return;
  }
  if (line.front() == ':') {
    ++comment_count_;
    return;
  }
  const size_t colon = line.find(':');
  if (colon == absl::string_view::npos) {
    ProcessField(line, absl::string_view());
    return;
  }
  absl::string_view value = line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  ProcessField(line.substr(0, colon), value);
}

void SseParser::ProcessField(absl::string_view name, absl::string_view value) {
  if (name == "data") {
    data_.append(value.data(), value.size());
    data_.push_back('\n');
  } else if (name == "event") {
    event_type_.assign(value.data(), value.size());
  } else if (name == "id") {
    if (value.find('\0') == absl::string_view::npos) {
      last_event_id_buffer_.assign(value.data(), value.size());
    }
  } else if (name == "retry") {
    int64_t retry_ms = 0;
    // SimpleAtoi alone would also accept signs and spaces; the spec wants
    // digits only. It fails on overflow, and such a value is ignored.
    if (!value.empty() && IsAllAsciiDigits(value) &&
        absl::SimpleAtoi(value, &retry_ms)) {
      reconnection_time_ms_ = retry_ms;
    }
  }
  // Any other field is ignored.
}

void SseParser::DispatchEvent(std::vector<SseEvent>* events) {
  last_event_id_ = last_event_id_buffer_;
  if (data_.empty()) {
    event_type_.clear();
    return;
  }
  if (data_.back() == '\n') data_.pop_back();
  SseEvent event;
  event.type =
      event_type_.empty() ? std::string("message") : std::move(event_type_);
  event.data = std::move(data_);
  event.last_event_id = last_event_id_;
  events->push_back(std::move(event));
  data_.clear();
  event_type_.clear();
}

}  // namespace sse_gateway
