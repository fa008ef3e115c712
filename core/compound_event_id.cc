#include "core/compound_event_id.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/check.h"

namespace sse_gateway {
namespace {

constexpr absl::string_view kVersionPrefix = "1:";
constexpr size_t kFingerprintDigits = 8;
// "1:" <fingerprint> ":".
constexpr size_t kHeadBytes = 2 + kFingerprintDigits + 1;
constexpr char kFreshEntry = '~';
constexpr char kEndedEntry = '!';
constexpr char kEscape = '%';
constexpr char kEntrySeparator = ',';

// At most this many bytes of a refused id are shown in the error message.
constexpr size_t kMaxEchoedBytes = 32;

constexpr uint32_t kFnvOffsetBasis = 2166136261u;
constexpr uint32_t kFnvPrime = 16777619u;

constexpr char kLowerHexDigits[] = "0123456789abcdef";
constexpr char kUpperHexDigits[] = "0123456789ABCDEF";

// Bytes that a kAt entry carries as they are: printable ASCII other than the
// reserved characters.
bool IsPlain(unsigned char c) {
  if (c < 0x21 || c > 0x7E) return false;
  switch (c) {
    case kEscape:
    case kEntrySeparator:
    case kEndedEntry:
    case kFreshEntry:
    case ':':
      return false;
    default:
      return true;
  }
}

// The value of `c` as an upper-case (upper = true) or lower-case hex digit,
// or -1.
int HexValue(char c, bool upper) {
  if (c >= '0' && c <= '9') return c - '0';
  if (upper && c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (!upper && c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// A short, printable prefix of `text` for error messages: at most
// kMaxEchoedBytes bytes, anything outside 0x20..0x7E shown as '?'.
std::string EchoPrefix(absl::string_view text) {
  std::string shown = "\"";
  const size_t n = std::min(text.size(), kMaxEchoedBytes);
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    shown.push_back(c >= 0x20 && c <= 0x7E ? static_cast<char>(c) : '?');
  }
  shown.push_back('"');
  if (n < text.size()) shown += "...";
  return shown;
}

absl::Status Refuse(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "Last-Event-ID is not a compound id of this multiplexed request: ", why,
      " (it starts ", EchoPrefix(text), ")"));
}

std::string ByteName(unsigned char c) {
  switch (c) {
    case '\r':
      return "CR";
    case '\n':
      return "LF";
    case '\0':
      return "NUL";
    default:
      return {'0', 'x', kUpperHexDigits[c >> 4], kUpperHexDigits[c & 0xF]};
  }
}

// Decodes the kAt entry `escaped`, which starts at byte `offset` of `text`
// and is entry `index` of `count`, into `*id`.
absl::Status DecodeEscapedId(absl::string_view text, absl::string_view escaped,
                             size_t offset, size_t index, size_t count,
                             std::string* id) {
  const std::string where = absl::StrCat("entry ", index + 1, " of ", count);
  id->clear();
  for (size_t i = 0; i < escaped.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(escaped[i]);
    unsigned char byte = c;
    if (c == kEscape) {
      const int high =
          i + 1 < escaped.size() ? HexValue(escaped[i + 1], true) : -1;
      const int low =
          i + 2 < escaped.size() ? HexValue(escaped[i + 2], true) : -1;
      if (high < 0 || low < 0) {
        return Refuse(text, absl::StrCat(where, ": '%' at byte ", offset + i,
                                         " is not followed by two upper-case "
                                         "hex digits"));
      }
      byte = static_cast<unsigned char>(high * 16 + low);
      if (IsPlain(byte)) {
        return Refuse(text,
                      absl::StrCat(where, ": needless escape of '",
                                   std::string(1, static_cast<char>(byte)),
                                   "' at byte ", offset + i));
      }
      if (byte == '\r' || byte == '\n' || byte == '\0') {
        return Refuse(text,
                      absl::StrCat(where, ": the id holds ", ByteName(byte),
                                   " (escaped at byte ", offset + i, ")"));
      }
      i += 2;
    } else if (!IsPlain(c)) {
      return Refuse(
          text,
          c >= 0x21 && c <= 0x7E
              ? absl::StrCat(where, ": unescaped '",
                             std::string(1, static_cast<char>(c)), "' at byte ",
                             offset + i)
              : absl::StrCat(where, ": raw byte ", ByteName(c), " at byte ",
                             offset + i, " (only 0x21..0x7E may appear)"));
    }
    if (id->size() == kMaxCompoundEntryIdBytes) {
      return Refuse(text, absl::StrCat(where, ": the id is longer than ",
                                       kMaxCompoundEntryIdBytes, " bytes"));
    }
    id->push_back(static_cast<char>(byte));
  }
  return absl::OkStatus();
}

}  // namespace

uint32_t CompoundIdFingerprint(absl::Span<const std::string> names) {
  uint32_t hash = kFnvOffsetBasis;
  for (const std::string& name : names) {
    for (const char c : name) {
      hash ^= static_cast<unsigned char>(c);
      hash *= kFnvPrime;
    }
    hash *= kFnvPrime;  // The NUL ending each name: hash ^ 0 == hash.
  }
  return hash;
}

void AppendEscapedCompoundEntryId(absl::string_view id, std::string* out) {
  for (const char ch : id) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (IsPlain(c)) {
      out->push_back(ch);
    } else {
      out->push_back(kEscape);
      out->push_back(kUpperHexDigits[c >> 4]);
      out->push_back(kUpperHexDigits[c & 0xF]);
    }
  }
}

std::string EncodeCompoundEventId(uint32_t fingerprint,
                                  absl::Span<const CompoundEntry> entries) {
  size_t size = kHeadBytes + entries.size();
  for (const CompoundEntry& entry : entries) {
    if (entry.state == CompoundEntry::State::kAt) {
      SSE_GATEWAY_DCHECK(entry.id.size() <= kMaxCompoundEntryIdBytes);
      size += entry.id.size();  // A guess: plain ids are the common case.
    }
  }
  std::string out;
  out.reserve(size);
  out.append(kVersionPrefix.data(), kVersionPrefix.size());
  for (int shift = 28; shift >= 0; shift -= 4) {
    out.push_back(kLowerHexDigits[(fingerprint >> shift) & 0xF]);
  }
  out.push_back(':');
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i > 0) out.push_back(kEntrySeparator);
    switch (entries[i].state) {
      case CompoundEntry::State::kFresh:
        out.push_back(kFreshEntry);
        break;
      case CompoundEntry::State::kEnded:
        out.push_back(kEndedEntry);
        break;
      case CompoundEntry::State::kAt:
        AppendEscapedCompoundEntryId(entries[i].id, &out);
        break;
    }
  }
  return out;
}

absl::StatusOr<std::vector<CompoundEntry>> DecodeCompoundEventId(
    absl::string_view text, absl::Span<const std::string> names) {
  if (text.empty()) return Refuse(text, "it is empty");
  if (text.substr(0, kVersionPrefix.size()) != kVersionPrefix) {
    return Refuse(text, "it does not start with the version \"1:\"");
  }
  uint32_t fingerprint = 0;
  for (size_t i = 0; i < kFingerprintDigits; ++i) {
    const size_t at = kVersionPrefix.size() + i;
    const int digit = at < text.size() ? HexValue(text[at], false) : -1;
    if (digit < 0) {
      return Refuse(text,
                    "the fingerprint is not 8 lower-case hex digits after "
                    "\"1:\"");
    }
    fingerprint = fingerprint << 4 | static_cast<uint32_t>(digit);
  }
  if (text.size() < kHeadBytes || text[kHeadBytes - 1] != ':') {
    return Refuse(text, "no ':' after the fingerprint");
  }
  const uint32_t expected = CompoundIdFingerprint(names);
  if (fingerprint != expected) {
    std::string expected_hex;
    for (int shift = 28; shift >= 0; shift -= 4) {
      expected_hex.push_back(kLowerHexDigits[(expected >> shift) & 0xF]);
    }
    return Refuse(text,
                  absl::StrCat("it was made for other subscriptions (or "
                               "another order of them): its fingerprint is ",
                               text.substr(2, kFingerprintDigits),
                               ", these subscriptions' is ", expected_hex));
  }
  const absl::string_view body = text.substr(kHeadBytes);
  const size_t count = 1 + static_cast<size_t>(std::count(
                               body.begin(), body.end(), kEntrySeparator));
  if (count != names.size()) {
    return Refuse(text, absl::StrCat("it has ", count, " entries for ",
                                     names.size(), " subscriptions"));
  }

  std::vector<CompoundEntry> entries;
  entries.reserve(count);
  size_t start = 0;
  for (size_t index = 0; index < count; ++index) {
    size_t end = body.find(kEntrySeparator, start);
    if (end == absl::string_view::npos) end = body.size();
    const absl::string_view escaped = body.substr(start, end - start);
    if (escaped.size() == 1 && escaped[0] == kFreshEntry) {
      entries.push_back(CompoundEntry::Fresh());
    } else if (escaped.size() == 1 && escaped[0] == kEndedEntry) {
      entries.push_back(CompoundEntry::Ended());
    } else {
      std::string id;
      const absl::Status status =
          DecodeEscapedId(text, escaped, kHeadBytes + start, index, count, &id);
      if (!status.ok()) return status;
      entries.push_back(CompoundEntry::At(std::move(id)));
    }
    start = end + 1;
  }
  return entries;
}

}  // namespace sse_gateway
