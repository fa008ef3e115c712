// libFuzzer target for the SSE framer (core/sse_framer.h), checked against
// the WHATWG-exact parser (core/sse_parser.h): whatever a framed message
// holds, a browser must see exactly the event the message describes.
//
// Input format (text-friendly, so seeds can be written by hand):
//   byte 0      flags: 1 id, 2 event, 4 data, 8 retry present; 16 frame a
//               comment before the messages; the top 3 bits pick where the
//               stream is split between two Feed calls.
//   the rest    id 0xFF event 0xFF data 0xFF retry 0xFF comment; missing
//               trailing parts are empty. retry is decimal text (absl
//               SimpleAtoi; unparsable text means no retry field).
// Fields therefore never hold the byte 0xFF; every other byte is reachable.
//
// Checks: refusal happens exactly for CR/LF/NUL in id or event, or a negative
// retry, leaves the output untouched, and matches ValidateSseMessage; an
// accepted message, framed twice after an optional comment, parses (in one
// piece, split anywhere, or byte by byte) to the expected events: one per
// frame when the data has a line, none otherwise; the id, type, data (lines
// split like bytes.splitlines, joined by LF) and retry are the message's, up
// to the UTF-8 repair a browser applies to invalid bytes.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "core/sse_framer.h"
#include "core/sse_message.h"
#include "core/sse_parser.h"
#include "core/utf8.h"
#include "fuzz/fuzz_check.h"

namespace sse_gateway {
namespace {

bool HasForbiddenByte(absl::string_view value) {
  return value.find_first_of(absl::string_view("\r\n\0", 3)) !=
         absl::string_view::npos;
}

// The lines of `data`, split like Python's bytes.splitlines(), written out
// here independently of the framer.
std::vector<std::string> SplitLines(absl::string_view data) {
  std::vector<std::string> lines;
  std::string line;
  for (size_t i = 0; i < data.size(); ++i) {
    const char c = data[i];
    if (c == '\r' || c == '\n') {
      lines.push_back(line);
      line.clear();
      if (c == '\r' && i + 1 < data.size() && data[i + 1] == '\n') ++i;
    } else {
      line.push_back(c);
    }
  }
  if (!line.empty()) lines.push_back(line);
  return lines;
}

std::vector<SseEvent> Parse(absl::string_view stream, size_t split,
                            SseParser* parser) {
  std::vector<SseEvent> events;
  parser->Feed(stream.substr(0, split), &events);
  parser->Feed(stream.substr(split), &events);
  return events;
}

void CheckEventMatches(const SseEvent& event, const SseMessage& message,
                       const std::vector<std::string>& lines) {
  // A field whose bytes are not valid UTF-8 reaches the page repaired with
  // U+FFFD; only valid fields are compared byte for byte. Line structure is
  // never affected: CR and LF end any UTF-8 sequence.
  const std::string id = message.id.value_or("");
  if (IsValidUtf8(id)) FuzzCheck(event.last_event_id == id, "id differs");
  const std::string event_field = message.event.value_or("");
  if (IsValidUtf8(event_field)) {
    FuzzCheck(event.type == (event_field.empty() ? "message" : event_field),
              "event type differs");
  }
  const std::string data = absl::StrJoin(lines, "\n");
  if (IsValidUtf8(data)) FuzzCheck(event.data == data, "data differs");
  FuzzCheck(event.data.find('\r') == std::string::npos,
            "CR in dispatched data");
}

void FuzzOne(const uint8_t* bytes, size_t size) {
  if (size == 0) return;
  const uint8_t flags = bytes[0];
  const std::vector<std::string> parts = absl::StrSplit(
      absl::string_view(reinterpret_cast<const char*>(bytes + 1), size - 1),
      absl::MaxSplits('\xff', 4));
  auto part = [&parts](size_t i) {
    return i < parts.size() ? parts[i] : std::string();
  };

  SseMessage message;
  if (flags & 1) message.id = part(0);
  if (flags & 2) message.event = part(1);
  if (flags & 4) message.data = part(2);
  int64_t retry = 0;
  if ((flags & 8) && absl::SimpleAtoi(part(3), &retry))
    message.retry_ms = retry;
  const bool with_comment = (flags & 16) != 0;
  const std::string comment = part(4);

  // Refusal: exactly the documented cases, nothing appended.
  const bool should_refuse =
      (message.id && HasForbiddenByte(*message.id)) ||
      (message.event && HasForbiddenByte(*message.event)) ||
      (message.retry_ms && *message.retry_ms < 0);
  const absl::Status validation = ValidateSseMessage(message);
  std::string stream = "unchanged";
  const absl::Status appended = AppendSseMessage(message, &stream);
  FuzzCheck(validation == appended, "AppendSseMessage and Validate disagree");
  FuzzCheck(validation.ok() != should_refuse, "wrong accept/refuse decision");
  if (!appended.ok()) {
    FuzzCheck(appended.code() == absl::StatusCode::kInvalidArgument,
              "bad code");
    FuzzCheck(stream == "unchanged", "refused message appended bytes");
    FuzzCheck(!FrameSseMessage(message).ok(), "FrameSseMessage accepted it");
  }

  std::string comment_frame = "x";
  const absl::Status comment_status = AppendSseComment(comment, &comment_frame);
  FuzzCheck(comment_status.ok() ==
                (comment.find_first_of("\r\n") == std::string::npos),
            "wrong comment accept/refuse decision");
  if (!comment_status.ok()) FuzzCheck(comment_frame == "x", "comment appended");
  if (!appended.ok()) return;

  // Accepted: frame [comment] + message + message and parse it back.
  absl::StatusOr<std::string> frame = FrameSseMessage(message);
  FuzzCheck(frame.ok() && "unchanged" + *frame == stream, "frame differs");
  FuzzCheck(
      (frame->size() >= 2 && frame->substr(frame->size() - 2) == "\n\n") ||
          *frame == "\n",
      "frame does not end with a blank line");
  stream.clear();
  const bool comment_framed = with_comment && comment_status.ok();
  if (comment_framed) stream = comment_frame.substr(1);
  stream += *frame;
  stream += *frame;

  const bool keep_alive =
      !message.id && !message.event && !message.data && !message.retry_ms;
  const std::vector<std::string> lines = SplitLines(message.data.value_or(""));
  const size_t expected_events = lines.empty() ? 0 : 2;
  const int64_t expected_comments =
      (comment_framed ? 1 : 0) + (keep_alive ? 2 : 0);

  const size_t split = stream.size() * (flags >> 5) / 7;
  SseParser whole;
  const std::vector<SseEvent> events = Parse(stream, split, &whole);
  FuzzCheck(events.size() == expected_events, "wrong number of events");
  FuzzCheck(whole.comment_count() == expected_comments, "wrong comment count");
  for (const SseEvent& event : events) {
    CheckEventMatches(event, message, lines);
  }
  if (events.size() == 2) FuzzCheck(events[0] == events[1], "frames differ");
  FuzzCheck(whole.reconnection_time_ms() == message.retry_ms, "retry differs");
  if (message.id && IsValidUtf8(*message.id)) {
    FuzzCheck(whole.last_event_id() == *message.id, "last event id differs");
  }

  // The split must not matter, down to one byte at a time.
  if (stream.size() <= 4096) {
    SseParser bytewise;
    std::vector<SseEvent> bytewise_events;
    for (char c : stream) {
      bytewise.Feed(absl::string_view(&c, 1), &bytewise_events);
    }
    FuzzCheck(bytewise_events == events, "byte-by-byte parse differs");
    FuzzCheck(bytewise.last_event_id() == whole.last_event_id(),
              "byte-by-byte last event id differs");
  }
}

}  // namespace
}  // namespace sse_gateway

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sse_gateway::FuzzOne(data, size);
  return 0;
}
