// SSE_GATEWAY_DCHECK: a precondition or invariant checked where assertions
// are on (the sanitizer configs build with -UNDEBUG; `-c opt` alone compiles
// the check away, so it costs nothing in production). A failed check prints
// the condition and where it is, then aborts.
//
//   SSE_GATEWAY_DCHECK(!queue.empty());  // Requires !empty().
//
// Use it for what callers must guarantee (the "Requires" of a comment), never
// for input from clients or backends: those are errors, returned as values.

#ifndef SSE_GATEWAY_CORE_CHECK_H_
#define SSE_GATEWAY_CORE_CHECK_H_

#include <cstdio>
#include <cstdlib>

#ifdef NDEBUG
#define SSE_GATEWAY_DCHECK(condition) \
  do {                                \
    if (false) (void)(condition);     \
  } while (false)
#else
#define SSE_GATEWAY_DCHECK(condition)                                       \
  do {                                                                      \
    if (!(condition)) {                                                     \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
                   #condition);                                             \
      std::abort();                                                         \
    }                                                                       \
  } while (false)
#endif

#endif  // SSE_GATEWAY_CORE_CHECK_H_
