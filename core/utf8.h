// UTF-8 validation and decoding, shared by everything that checks or cleans
// text: request fields (IsValidUtf8), the SSE parser (AppendUtf8Replacing,
// as a browser decodes), JSON bodies, Prometheus labels and the access log
// (Utf8SequenceLength, to escape or replace invalid bytes one at a time).
// Valid means well-formed UTF-8: no overlong forms, no surrogates, nothing
// above U+10FFFF. Stateless; thread-safe.

#ifndef SSE_GATEWAY_CORE_UTF8_H_
#define SSE_GATEWAY_CORE_UTF8_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace sse_gateway {

// Length (1-4) of the valid UTF-8 sequence starting at text[i], or 0 if the
// bytes there are not valid UTF-8 (truncated sequences, overlong forms,
// surrogates and values above U+10FFFF are invalid). `i` < text.size().
size_t Utf8SequenceLength(absl::string_view text, size_t i);

// Whether all of `text` is valid UTF-8.
bool IsValidUtf8(absl::string_view text);

// The WHATWG Encoding "UTF-8 decoder", on bytes, producing UTF-8: appends
// `text` to `*out` with every maximal invalid subsequence replaced by one
// U+FFFD, exactly as a browser decodes it. Returns whether `text` was valid.
// Decoding line by line gives the same result as decoding a whole stream
// whose lines end in CR or LF (ASCII ends any pending sequence).
bool AppendUtf8Replacing(absl::string_view text, std::string* out);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_CORE_UTF8_H_
