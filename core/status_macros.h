// RETURN_IF_ERROR and ASSIGN_OR_RETURN: early returns for absl::Status and
// absl::StatusOr<T>, which Abseil 20220623 does not provide.
//
//   RETURN_IF_ERROR(CheckSomething(x));
//   ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
//   ASSIGN_OR_RETURN(config.port, ParsePort(text));   // an existing lvalue
//
// RETURN_IF_ERROR(expr) evaluates `expr` (an absl::Status) once and returns
// it from the enclosing function when it is not OK. ASSIGN_OR_RETURN(lhs,
// expr) evaluates `expr` (an absl::StatusOr<T>) once; on error it returns
// the status, otherwise it moves the value into `lhs`, which may declare a
// variable. The enclosing function must return absl::Status or an
// absl::StatusOr<U> (both convert from a non-OK absl::Status). Each use
// expands to statements, not an expression.

#ifndef SSE_GATEWAY_CORE_STATUS_MACROS_H_
#define SSE_GATEWAY_CORE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define SSE_GATEWAY_STATUS_CONCAT_INNER(a, b) a##b
#define SSE_GATEWAY_STATUS_CONCAT(a, b) SSE_GATEWAY_STATUS_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                                  \
  do {                                                         \
    ::absl::Status sse_gateway_status_ = (expr);               \
    if (!sse_gateway_status_.ok()) return sse_gateway_status_; \
  } while (false)

#define ASSIGN_OR_RETURN(lhs, expr)  \
  SSE_GATEWAY_ASSIGN_OR_RETURN_IMPL( \
      SSE_GATEWAY_STATUS_CONCAT(sse_gateway_statusor_, __LINE__), lhs, expr)

#define SSE_GATEWAY_ASSIGN_OR_RETURN_IMPL(statusor, lhs, expr) \
  auto statusor = (expr);                                      \
  if (!statusor.ok()) return std::move(statusor).status();     \
  lhs = *std::move(statusor)

#endif  // SSE_GATEWAY_CORE_STATUS_MACROS_H_
