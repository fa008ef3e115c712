// FuzzCheck: how a fuzz target reports a broken invariant: it prints what
// broke (and a detail) and aborts, so that libFuzzer saves the input.
//
//   FuzzCheck(config.listen.port >= 0, "listen port out of range");
//
// Stateless; thread-safe.

#ifndef SSE_GATEWAY_FUZZ_FUZZ_CHECK_H_
#define SSE_GATEWAY_FUZZ_FUZZ_CHECK_H_

#include <cstdlib>
#include <iostream>

#include "absl/strings/string_view.h"

namespace sse_gateway {

[[noreturn]] inline void FuzzFail(absl::string_view what,
                                  absl::string_view detail = "") {
  std::cerr << "invariant broken: " << what << " " << detail << "\n";
  std::abort();
}

inline void FuzzCheck(bool condition, absl::string_view what,
                      absl::string_view detail = "") {
  if (!condition) FuzzFail(what, detail);
}

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_FUZZ_FUZZ_CHECK_H_
