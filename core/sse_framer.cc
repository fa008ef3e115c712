#include "core/sse_framer.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace sse_gateway {
namespace {

constexpr absl::string_view kKeepAlive = ":\n\n";
constexpr absl::string_view kIdPrefix = "id: ";
constexpr absl::string_view kEventPrefix = "event: ";
constexpr absl::string_view kDataPrefix = "data: ";
constexpr absl::string_view kRetryPrefix = "retry: ";

inline bool IsLineBreak(char c) { return c == '\n' || c == '\r'; }

// Returns the index of the first CR or LF in `text` at or after `from`, or
// text.size() if there is none.
inline size_t FindLineBreak(absl::string_view text, size_t from) {
  const char* const begin = text.data();
  const char* const end = begin + text.size();
  for (const char* p = begin + from; p != end; ++p) {
    if (IsLineBreak(*p)) return static_cast<size_t>(p - begin);
  }
  return text.size();
}

// Returns the first `byte` in [from, end), or `end`.
inline const char* FindByte(const char* from, const char* end, char byte) {
  const void* found = std::memchr(from, byte, static_cast<size_t>(end - from));
  return found == nullptr ? end : static_cast<const char*>(found);
}

// Calls `visit(line)` for each line of `data`, split like Python's
// bytes.splitlines(): separators are CR LF, CR and LF; a trailing separator
// does not start an extra empty line; "" has no lines.
//
// On the hot path: the next LF and the next CR are each found with memchr
// and remembered, so every byte is scanned about once per separator kind.
template <typename Visitor>
inline void ForEachLine(absl::string_view data, Visitor&& visit) {
  const char* start = data.data();
  const char* const end = start + data.size();
  const char* next_lf = FindByte(start, end, '\n');
  const char* next_cr = FindByte(start, end, '\r');
  while (start != end) {
    const char* const line_end = std::min(next_lf, next_cr);
    visit(absl::string_view(start, static_cast<size_t>(line_end - start)));
    if (line_end == end) return;
    start = line_end + 1;
    if (*line_end == '\r' && start != end && *start == '\n') ++start;
    if (next_lf < start) next_lf = FindByte(start, end, '\n');
    if (next_cr < start) next_cr = FindByte(start, end, '\r');
  }
}

const char* ForbiddenCharName(char c) {
  switch (c) {
    case '\r':
      return "CR";
    case '\n':
      return "LF";
    default:
      return "NUL";
  }
}

absl::Status ValidateSingleLineField(absl::string_view field_name,
                                     absl::string_view value) {
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (IsLineBreak(c) || c == '\0') {
      return absl::InvalidArgumentError(absl::StrCat(
          "SSE field \"", field_name, "\" must not contain CR, LF or NUL (",
          ForbiddenCharName(c), " at byte ", i, ")"));
    }
  }
  return absl::OkStatus();
}

// Makes room for `extra` more bytes in `*out` while keeping amortized growth
// when many frames are appended to the same buffer.
inline void ReserveExtra(size_t extra, std::string* out) {
  const size_t needed = out->size() + extra;
  if (needed > out->capacity()) {
    out->reserve(std::max(needed, 2 * out->capacity()));
  }
}

}  // namespace

absl::Status ValidateSseMessage(const SseMessage& message) {
  if (message.id.has_value()) {
    RETURN_IF_ERROR(ValidateSingleLineField("id", *message.id));
  }
  if (message.event.has_value()) {
    RETURN_IF_ERROR(ValidateSingleLineField("event", *message.event));
  }
  if (message.retry_ms.has_value() && *message.retry_ms < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SSE field \"retry\" must be >= 0, got ", *message.retry_ms));
  }
  return absl::OkStatus();
}

absl::Status AppendSseMessage(const SseMessage& message, std::string* out) {
  RETURN_IF_ERROR(ValidateSseMessage(message));

  if (message.framed != nullptr) {  // Framed once, e.g. for many subscribers.
    if (message.retry_ms) {
      const absl::AlphaNum retry_text(*message.retry_ms);
      ReserveExtra(
          kRetryPrefix.size() + retry_text.size() + 1 + message.framed->size(),
          out);
      out->append(kRetryPrefix.data(), kRetryPrefix.size());
      out->append(retry_text.data(), retry_text.size());
      out->push_back('\n');
    }
    out->append(*message.framed);
    return absl::OkStatus();
  }

  if (!message.id && !message.event && !message.data && !message.retry_ms) {
    out->append(kKeepAlive.data(), kKeepAlive.size());
    return absl::OkStatus();
  }

  // Exact size first, so that the frame costs at most one allocation.
  size_t size = 1;  // The blank line that ends the event.
  if (message.id) {
    size += message.id->empty() ? 3 : kIdPrefix.size() + message.id->size() + 1;
  }
  if (message.event) size += kEventPrefix.size() + message.event->size() + 1;
  if (message.data) {
    ForEachLine(*message.data, [&size](absl::string_view line) {
      size += kDataPrefix.size() + line.size() + 1;
    });
  }
  // Formatting a number is cheap; do it even when unused to keep one code path.
  const absl::AlphaNum retry_text(message.retry_ms.value_or(0));
  const absl::string_view retry = retry_text.Piece();
  if (message.retry_ms) size += kRetryPrefix.size() + retry.size() + 1;
  ReserveExtra(size, out);

  if (message.id) {
    if (message.id->empty()) {
      out->append("id\n", 3);
    } else {
      out->append(kIdPrefix.data(), kIdPrefix.size());
      out->append(*message.id);
      out->push_back('\n');
    }
  }
  if (message.event) {
    out->append(kEventPrefix.data(), kEventPrefix.size());
    out->append(*message.event);
    out->push_back('\n');
  }
  if (message.data) {
    ForEachLine(*message.data, [out](absl::string_view line) {
      out->append(kDataPrefix.data(), kDataPrefix.size());
      out->append(line.data(), line.size());
      out->push_back('\n');
    });
  }
  if (message.retry_ms) {
    out->append(kRetryPrefix.data(), kRetryPrefix.size());
    out->append(retry.data(), retry.size());
    out->push_back('\n');
  }
  out->push_back('\n');
  return absl::OkStatus();
}

absl::StatusOr<std::string> FrameSseMessage(const SseMessage& message) {
  std::string frame;
  RETURN_IF_ERROR(AppendSseMessage(message, &frame));
  return frame;
}

absl::StatusOr<SseMessage> ParseSseFrame(absl::string_view frame) {
  if (frame.find('\r') != absl::string_view::npos) {
    return absl::InvalidArgumentError("SSE frame holds a CR");
  }
  SseMessage message;
  // Fields in AppendSseMessage's order: id, event, data*, retry.
  enum Stage { kId, kEvent, kData, kRetry, kDone } stage = kId;
  bool last_data_line_empty = false;
  size_t pos = 0;
  while (true) {
    const size_t line_end = frame.find('\n', pos);
    if (line_end == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          "SSE frame does not end with a blank line");
    }
    const absl::string_view line = frame.substr(pos, line_end - pos);
    pos = line_end + 1;
    if (line.empty()) break;
    if (stage <= kId && (line == "id" || absl::StartsWith(line, kIdPrefix))) {
      message.id =
          std::string(line == "id" ? "" : line.substr(kIdPrefix.size()));
      stage = kEvent;
    } else if (stage <= kEvent && absl::StartsWith(line, kEventPrefix)) {
      message.event = std::string(line.substr(kEventPrefix.size()));
      stage = kData;
    } else if (stage <= kData && absl::StartsWith(line, kDataPrefix)) {
      if (message.data.has_value()) {
        message.data->push_back('\n');
      } else {
        message.data.emplace();
      }
      absl::StrAppend(&*message.data, line.substr(kDataPrefix.size()));
      last_data_line_empty = line.size() == kDataPrefix.size();
      stage = kData;
    } else if (stage <= kRetry && absl::StartsWith(line, kRetryPrefix)) {
      int64_t retry_ms = 0;
      if (!absl::SimpleAtoi(line.substr(kRetryPrefix.size()), &retry_ms) ||
          retry_ms < 0) {
        return absl::InvalidArgumentError("SSE frame has a malformed retry");
      }
      message.retry_ms = retry_ms;
      stage = kDone;
    } else {
      return absl::InvalidArgumentError(
          "SSE frame has a field out of order, repeated or unknown");
    }
  }
  if (pos != frame.size()) {
    return absl::InvalidArgumentError("SSE frame is followed by other bytes");
  }
  if (absl::Status valid = ValidateSseMessage(message); !valid.ok()) {
    return valid;  // An id or event holding NUL.
  }
  // A lone blank line is what an event with empty data alone frames to.
  if (stage == kId) message.data.emplace();
  // The framer drops a trailing line break, so a last data line that is
  // empty needs one more to be framed again.
  if (last_data_line_empty) {
    message.data->push_back('\n');
  }
  return message;
}

absl::Status AppendSseComment(absl::string_view text, std::string* out) {
  const size_t line_break = FindLineBreak(text, 0);
  if (line_break != text.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SSE comment must not contain CR or LF (",
        ForbiddenCharName(text[line_break]), " at byte ", line_break, ")"));
  }
  ReserveExtra(text.size() + 3, out);
  out->push_back(':');
  out->append(text.data(), text.size());
  out->append("\n\n", 2);
  return absl::OkStatus();
}

}  // namespace sse_gateway
