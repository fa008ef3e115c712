// What a test takes from its environment: a directory of its own, files,
// where an external program it needs lives, and whether a missing one may be
// skipped.
//
// A test that needs a program from outside the build (nginx, ...) skips
// itself when the program is missing on a developer's machine, but under CI
// (CI=true, which scripts/run_tests.sh passes to Bazel's tests) a skip would
// read as a pass: there a missing program must fail the run.
//
// Thread-safe.

#ifndef SSE_GATEWAY_TESTS_TEST_ENVIRONMENT_H_
#define SSE_GATEWAY_TESTS_TEST_ENVIRONMENT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace sse_gateway {

// A new, empty directory for the running test, named after it, under the
// test's temporary directory.
absl::StatusOr<std::string> MakeTestDirectory();

// The whole content of the file at `path`; empty if it cannot be read.
std::string ReadFileOrEmpty(const std::string& path);

// The content of the file at `path` once it holds at least `lines` lines
// (written by another thread or process), or whatever it holds when
// `timeout` has passed.
std::string WaitForFileLines(const std::string& path, size_t lines,
                             absl::Duration timeout);

// The value of the environment variable `variable` when it is set and not
// empty (a test's override), else `default_path`.
std::string ToolPath(const char* variable, const std::string& default_path);

// Whether missing dependencies must fail rather than skip: the environment
// variable CI is "true" or "1".
bool MissingDependenciesMustFail();

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_TESTS_TEST_ENVIRONMENT_H_
