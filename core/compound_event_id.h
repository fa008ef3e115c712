// Compound event ids: the SSE id of a multiplexed stream (several named
// subscriptions over one EventSource), recording for every subscription where
// it stands, so that a browser's automatic reconnect (which sends back only
// the last id it saw, as Last-Event-ID) resumes each subscription after its
// own last event.
//
// Wire format (printable ASCII only, so it is always a valid SSE id and a
// valid HTTP header value):
//
//   "1:" <fingerprint> ":" <entry> ("," <entry>)*
//
//   - "1" is the format version.
//   - <fingerprint> is 8 lower-case hex digits: FNV-1a (32 bits) of the
//     subscription names in request order, each followed by one NUL byte. An
//     id made for other subscriptions (other names, or another order) is
//     refused instead of resuming the wrong streams.
//   - One <entry> per subscription, in request order:
//       "~"          kFresh: nothing delivered yet and no id to resume from
//                    (the subscription is opened without a Last-Event-ID);
//       "!"          kEnded: the subscription has ended; it is not reopened;
//       <escaped>    kAt: the id of the last event delivered (or the id it
//                    was resumed from), possibly empty.
//     <escaped> is the id with every byte outside 0x21..0x7E and every one of
//     '%' ',' '!' '~' ':' written as "%XX" (upper-case hex), so "~" and "!"
//     never start a kAt entry and "," never appears inside one.
//
// Size: 10 bytes plus, per subscription, one separator and the escaped id;
// with 16 subscriptions whose ids are 13-digit numbers that is 234 bytes.
//
// Decoding refuses (InvalidArgument, with a message that says why and never
// echoes more than a short prefix of the input) anything Encode could not
// have produced for these names: another version, a fingerprint that does not
// match, a wrong number of entries, a malformed or needless escape, an
// escaped id holding CR, LF or NUL, or a decoded id longer than
// kMaxCompoundEntryIdBytes.
//
// Stateless functions; thread-safe.

#ifndef SSE_GATEWAY_CORE_COMPOUND_EVENT_ID_H_
#define SSE_GATEWAY_CORE_COMPOUND_EVENT_ID_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace sse_gateway {

// The longest subscription id a compound id may carry once decoded.
inline constexpr size_t kMaxCompoundEntryIdBytes = 1024;

// Where one subscription stands.
struct CompoundEntry {
  enum class State { kFresh, kAt, kEnded };
  State state = State::kFresh;
  std::string id;  // Only for kAt.

  static CompoundEntry Fresh() { return {State::kFresh, ""}; }
  static CompoundEntry At(std::string id) {
    return {State::kAt, std::move(id)};
  }
  static CompoundEntry Ended() { return {State::kEnded, ""}; }

  bool operator==(const CompoundEntry& other) const {
    return state == other.state && id == other.id;
  }
  bool operator!=(const CompoundEntry& other) const {
    return !(*this == other);
  }
};

// The fingerprint of `names` (see above).
uint32_t CompoundIdFingerprint(absl::Span<const std::string> names);

// Appends the escaped form of one kAt entry's `id` to `*out` (owned by the
// caller). Encoders that keep each entry's text can join them cheaply.
void AppendEscapedCompoundEntryId(absl::string_view id, std::string* out);

// The compound id of `entries` (one per name, in request order) for a
// request whose names have `fingerprint`. Requires: no kAt id longer than
// kMaxCompoundEntryIdBytes (asserted).
std::string EncodeCompoundEventId(uint32_t fingerprint,
                                  absl::Span<const CompoundEntry> entries);

// The entries of compound id `text` for a request with `names`; see above for
// what is refused.
absl::StatusOr<std::vector<CompoundEntry>> DecodeCompoundEventId(
    absl::string_view text, absl::Span<const std::string> names);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_CORE_COMPOUND_EVENT_ID_H_
