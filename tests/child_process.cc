#include "tests/child_process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sse_gateway {
namespace {

std::string ErrnoText(const char* what) {
  return absl::StrCat(what, ": ", std::strerror(errno));
}

// The inherited environment with `extra` entries added or replacing.
std::vector<std::string> ChildEnvironment(
    const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    absl::string_view text(*entry);
    bool replaced = false;
    for (const std::string& added : extra) {
      size_t eq = added.find('=');
      if (eq != std::string::npos &&
          text.substr(0, eq + 1) ==
              absl::string_view(added).substr(0, eq + 1)) {
        replaced = true;
      }
    }
    if (!replaced) env.emplace_back(text);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

// Waits for `pid` to exit for up to `timeout` without reaping it. True if it
// has exited.
bool WaitExited(pid_t pid, absl::Duration timeout) {
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return false;
  absl::Time deadline = absl::Now() + timeout;
  bool exited = false;
  while (true) {
    int64_t left_ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (left_ms < 0) left_ms = 0;
    pollfd p{pidfd, POLLIN, 0};
    int n = poll(&p, 1, static_cast<int>(left_ms));
    if (n > 0) {
      exited = true;
      break;
    }
    if (n == 0 || errno != EINTR) break;
  }
  close(pidfd);
  return exited;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(
    const std::vector<std::string>& argv, Options options) {
  if (argv.empty()) return absl::InvalidArgumentError("empty argv");
  if (access(argv[0].c_str(), X_OK) != 0) {
    return absl::NotFoundError(
        absl::StrCat(argv[0], " is not executable: ", std::strerror(errno)));
  }
  // Everything the child needs is prepared before fork: after it, only
  // async-signal-safe calls.
  std::vector<std::string> env = ChildEnvironment(options.extra_env);
  std::vector<char*> argv_ptrs, env_ptrs;
  for (const std::string& arg : argv) {
    argv_ptrs.push_back(const_cast<char*>(arg.c_str()));
  }
  argv_ptrs.push_back(nullptr);
  for (const std::string& entry : env) {
    env_ptrs.push_back(const_cast<char*>(entry.c_str()));
  }
  env_ptrs.push_back(nullptr);

  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return absl::InternalError(ErrnoText("pipe2"));
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return absl::InternalError(ErrnoText("fork"));
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    // The test may block signals for its own threads; the child starts
    // with none blocked and default dispositions for the ones it handles.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    syscall(SYS_close_range, 3, ~0U, 0);
    execve(argv_ptrs[0], argv_ptrs.data(), env_ptrs.data());
    static const char kExecFailed[] = "ChildProcess: execve failed\n";
    // Best effort: the exit status says it failed anyway.
    [[maybe_unused]] const ssize_t written =
        write(STDERR_FILENO, kExecFailed, sizeof(kExecFailed) - 1);
    _exit(127);
  }
  close(fds[1]);
  return std::unique_ptr<ChildProcess>(
      new ChildProcess(pid, fds[0], std::move(options)));
}

ChildProcess::ChildProcess(pid_t pid, int output_fd, Options options)
    : pid_(pid), output_fd_(output_fd), options_(std::move(options)) {
  reader_ = std::thread([this] { ReadOutput(); });
}

ChildProcess::~ChildProcess() {
  if (running()) {
    // Nothing to report from a destructor: the child is gone either way.
    Kill().status().IgnoreError();
  }
  // The pipe ends once the child and any grandchild holding it are gone.
  reader_.join();
  close(output_fd_);
}

void ChildProcess::ReadOutput() {
  char buffer[4096];
  while (true) {
    ssize_t n = read(output_fd_, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    absl::MutexLock lock(&mu_);
    if (n <= 0) {
      if (!partial_line_.empty()) lines_.push_back(std::move(partial_line_));
      partial_line_.clear();
      output_ended_ = true;
      return;
    }
    partial_line_.append(buffer, static_cast<size_t>(n));
    size_t start = 0, newline;
    while ((newline = partial_line_.find('\n', start)) != std::string::npos) {
      lines_.push_back(partial_line_.substr(start, newline - start));
      if (options_.echo_output) {
        std::fprintf(stderr, "[%s] %s\n", options_.log_prefix.c_str(),
                     lines_.back().c_str());
      }
      start = newline + 1;
    }
    partial_line_.erase(0, start);
  }
}

absl::StatusOr<std::string> ChildProcess::WaitForLine(absl::string_view needle,
                                                      absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  size_t checked = 0;
  std::optional<std::string> found;
  auto found_or_ended = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (; checked < lines_.size(); ++checked) {
      if (absl::string_view(lines_[checked]).find(needle) !=
          absl::string_view::npos) {
        found = lines_[checked];
        return true;
      }
    }
    return output_ended_;
  };
  mu_.AwaitWithTimeout(absl::Condition(&found_or_ended), timeout);
  if (found.has_value()) return *found;
  std::string output = absl::StrJoin(lines_, "\n");
  if (output_ended_) {
    return absl::FailedPreconditionError(
        absl::StrCat("process ", pid_,
                     " ended its output without a line "
                     "containing \"",
                     needle, "\"; output:\n", output));
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "no line containing \"", needle, "\" from process ", pid_, " within ",
      absl::FormatDuration(timeout), "; output:\n", output));
}

std::string ChildProcess::Output() const {
  absl::MutexLock lock(&mu_);
  return absl::StrJoin(lines_, "\n");
}

absl::Status ChildProcess::Signal(int signal) {
  absl::MutexLock lock(&mu_);
  if (wait_status_.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("process ", pid_, " has already been reaped"));
  }
  // Not reaped yet, so the pid cannot have been reused.
  if (kill(pid_, signal) != 0) return absl::InternalError(ErrnoText("kill"));
  return absl::OkStatus();
}

absl::StatusOr<int> ChildProcess::Wait(absl::Duration timeout) {
  {
    absl::MutexLock lock(&mu_);
    if (wait_status_.has_value()) return *wait_status_;
  }
  if (!WaitExited(pid_, timeout)) {
    return absl::DeadlineExceededError(
        absl::StrCat("process ", pid_, " still running after ",
                     absl::FormatDuration(timeout)));
  }
  int status = 0;
  pid_t reaped;
  do {
    reaped = waitpid(pid_, &status, 0);
  } while (reaped < 0 && errno == EINTR);
  if (reaped != pid_) return absl::InternalError(ErrnoText("waitpid"));
  absl::MutexLock lock(&mu_);
  wait_status_ = status;
  return status;
}

absl::StatusOr<int> ChildProcess::Kill() {
  absl::Status signalled = Signal(SIGKILL);
  if (!signalled.ok() && running()) return signalled;
  return Wait(absl::Seconds(30));
}

bool ChildProcess::running() const {
  absl::MutexLock lock(&mu_);
  return !wait_status_.has_value();
}

}  // namespace sse_gateway
