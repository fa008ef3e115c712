// ReadFileToString: the whole content of a file, for the few files the
// gateway reads at start-up (config, descriptor sets, PEM files, the index
// page). Thread-safe.

#ifndef SSE_GATEWAY_CORE_READ_FILE_H_
#define SSE_GATEWAY_CORE_READ_FILE_H_

#include <string>

#include "absl/status/statusor.h"

namespace sse_gateway {

// The bytes of the file at `path`. Errors name the path and the system's
// reason: NotFound when it does not exist, InvalidArgument otherwise (a
// directory, no permission, a read error).
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_CORE_READ_FILE_H_
