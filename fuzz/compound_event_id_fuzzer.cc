// libFuzzer target for what a multiplexed request reads from its client and
// its subscriptions: compound Last-Event-IDs (core/compound_event_id.h) and
// shared SSE frames read back (ParseSseFrame in core/sse_framer.h).
//
// Input format: byte 0 picks how many subscriptions the request has (1..16,
// named "s0", "s1", ...); the rest is the Last-Event-ID, and also a frame.
//
// Checks: decoding never crashes; an accepted compound id has one entry per
// name, ids of at most kMaxCompoundEntryIdBytes without CR, LF or NUL, and
// encodes back to exactly the input (one encoding per position), which holds
// only printable ASCII. A frame that reads back frames again to bytes that
// read back to the same message.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/compound_event_id.h"
#include "core/sse_framer.h"
#include "fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using sse_gateway::CompoundEntry;
  using sse_gateway::FuzzCheck;
  if (size == 0) return 0;
  std::vector<std::string> names;
  for (int i = 0; i < 1 + data[0] % 16; ++i) {
    names.push_back(absl::StrCat("s", i));
  }
  const absl::string_view text(reinterpret_cast<const char*>(data + 1),
                               size - 1);

  absl::StatusOr<std::vector<CompoundEntry>> entries =
      sse_gateway::DecodeCompoundEventId(text, names);
  if (entries.ok()) {
    FuzzCheck(entries->size() == names.size(), "one entry per name");
    for (const CompoundEntry& entry : *entries) {
      FuzzCheck(entry.id.size() <= sse_gateway::kMaxCompoundEntryIdBytes,
                "entry id within the limit");
      FuzzCheck(
          entry.id.find_first_of(std::string("\r\n\0", 3)) == std::string::npos,
          "entry id without CR, LF or NUL");
    }
    const std::string encoded = sse_gateway::EncodeCompoundEventId(
        sse_gateway::CompoundIdFingerprint(names), *entries);
    FuzzCheck(encoded == text, "accepted ids encode back to themselves",
              encoded);
    for (const char c : encoded) {
      FuzzCheck(c >= 0x21 && c <= 0x7e, "printable ASCII only", encoded);
    }
  } else {
    FuzzCheck(entries.status().code() == absl::StatusCode::kInvalidArgument,
              "refusals are INVALID_ARGUMENT");
  }

  absl::StatusOr<sse_gateway::SseMessage> message =
      sse_gateway::ParseSseFrame(text);
  if (message.ok()) {
    absl::StatusOr<std::string> framed = sse_gateway::FrameSseMessage(*message);
    FuzzCheck(framed.ok(), "a frame read back frames again");
    absl::StatusOr<sse_gateway::SseMessage> again =
        sse_gateway::ParseSseFrame(*framed);
    FuzzCheck(again.ok() && *again == *message, "frames read back stably",
              *framed);
  }
  return 0;
}
