#include "core/utf8.h"

#include <cstdint>

#include "core/check.h"

namespace sse_gateway {
namespace {

constexpr absl::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD

}  // namespace

size_t Utf8SequenceLength(absl::string_view text, size_t i) {
  SSE_GATEWAY_DCHECK(i < text.size());
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(text[k]); };
  const uint8_t lead = byte(i);
  if (lead < 0x80) return 1;
  size_t length;
  uint32_t value;
  uint32_t min;
  if ((lead & 0xE0) == 0xC0) {
    length = 2, value = lead & 0x1F, min = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, value = lead & 0x0F, min = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, value = lead & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    value = (value << 6) | (byte(i + k) & 0x3F);
  }
  if (value < min || value > 0x10FFFF) return 0;
  if (value >= 0xD800 && value <= 0xDFFF) return 0;
  return length;
}

bool IsValidUtf8(absl::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const size_t length = Utf8SequenceLength(text, i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

bool AppendUtf8Replacing(absl::string_view in, std::string* out) {
  bool valid = true;
  size_t i = 0;
  while (i < in.size()) {
    const unsigned char lead = static_cast<unsigned char>(in[i]);
    if (lead < 0x80) {
      out->push_back(static_cast<char>(lead));
      ++i;
      continue;
    }
    int continuation_bytes = 0;
    unsigned char lower = 0x80;
    unsigned char upper = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      continuation_bytes = 1;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      continuation_bytes = 2;
      if (lead == 0xE0) lower = 0xA0;  // No overlong forms.
      if (lead == 0xED) upper = 0x9F;  // No surrogates.
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      continuation_bytes = 3;
      if (lead == 0xF0) lower = 0x90;  // No overlong forms.
      if (lead == 0xF4) upper = 0x8F;  // Nothing above U+10FFFF.
    }
    size_t next = i + 1;
    int seen = 0;
    while (seen < continuation_bytes && next < in.size()) {
      const unsigned char byte = static_cast<unsigned char>(in[next]);
      if (byte < lower || byte > upper) break;
      lower = 0x80;
      upper = 0xBF;
      ++seen;
      ++next;
    }
    if (continuation_bytes > 0 && seen == continuation_bytes) {
      out->append(in.data() + i, next - i);
    } else {
      // An invalid lead byte, or a sequence cut short: one U+FFFD, then the
      // byte that broke the sequence (if any) is decoded afresh.
      valid = false;
      out->append(kReplacementCharacter.data(), kReplacementCharacter.size());
    }
    i = next;
  }
  return valid;
}

}  // namespace sse_gateway
