// ChildProcess: a program started by a test as a real separate process (a
// gateway replica, a backend, nginx), so that tests can kill it, restart it
// and read what the kernel says about it (/proc/PID).
//
// Contract:
//   - Start() forks and execs argv[0] (a path; no PATH search) with argv and
//     the test's environment plus `extra_env`. The child's stdout and stderr
//     both go to one pipe that a reader thread collects line by line; the child
//     gets SIGKILL if the test process dies (PR_SET_PDEATHSIG) and inherits no
//     other descriptor.
//   - WaitForLine() waits until a collected line contains a substring; lines
//     are kept, so it also finds lines printed before the call.
//   - The destructor sends SIGKILL if the child still runs and reaps it, so a
//     failing test never leaves processes behind.
//
// Thread-safe: any method may be called from any thread.

#ifndef SSE_GATEWAY_TESTS_CHILD_PROCESS_H_
#define SSE_GATEWAY_TESTS_CHILD_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace sse_gateway {

class ChildProcess {
 public:
  struct Options {
    // "NAME=value" entries added to (or replacing in) the inherited
    // environment.
    std::vector<std::string> extra_env;
    // Copy every collected line to the test's stderr, prefixed with
    // "[<log_prefix>] ", for test logs. Off for chatty children.
    bool echo_output = true;
    std::string log_prefix;
  };

  // Starts argv[0] (a path) with `argv`. Errors if argv is empty, the file is
  // not executable, or fork/exec fails.
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(
      const std::vector<std::string>& argv, Options options);
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(
      const std::vector<std::string>& argv) {
    return Start(argv, Options());
  }

  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }

  // The first collected line containing `needle`, waiting up to `timeout`.
  // DeadlineExceeded on timeout; FailedPrecondition if the child's output
  // ended (it exited) without such a line. Either error quotes the output.
  absl::StatusOr<std::string> WaitForLine(absl::string_view needle,
                                          absl::Duration timeout);

  // Everything collected so far, one line per '\n'.
  std::string Output() const;

  // Sends `signal` to the child. An error once it has been reaped.
  absl::Status Signal(int signal);

  // Waits up to `timeout` for the child to exit and reaps it. Returns the
  // raw wait status (use WIFEXITED / WEXITSTATUS / WIFSIGNALED / WTERMSIG).
  // DeadlineExceeded if it is still running.
  absl::StatusOr<int> Wait(absl::Duration timeout);

  // SIGKILL, then Wait. Returns the wait status.
  absl::StatusOr<int> Kill();

  // True until the child has been reaped by Wait/Kill (a zombie still
  // counts as running).
  bool running() const;

 private:
  ChildProcess(pid_t pid, int output_fd, Options options);
  void ReadOutput();

  const pid_t pid_;
  const int output_fd_;
  const Options options_;
  std::thread reader_;

  mutable absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
  std::string partial_line_ ABSL_GUARDED_BY(mu_);
  bool output_ended_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<int> wait_status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_TESTS_CHILD_PROCESS_H_
