// Utf8SequenceLength: UTF-8 validation one sequence at a time, for code that
// must escape or replace invalid bytes (JSON bodies, Prometheus labels, the
// access log). Stateless; thread-safe.

#ifndef SSE_GATEWAY_GATEWAY_UTF8_H_
#define SSE_GATEWAY_GATEWAY_UTF8_H_

#include <cstddef>

#include "absl/strings/string_view.h"

namespace sse_gateway {

// Length (1-4) of the valid UTF-8 sequence starting at text[i], or 0 if the
// bytes there are not valid UTF-8 (truncated sequences, overlong forms,
// surrogates and values above U+10FFFF are invalid). `i` < text.size().
size_t Utf8SequenceLength(absl::string_view text, size_t i);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_UTF8_H_
