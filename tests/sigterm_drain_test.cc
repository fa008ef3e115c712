// The real sse_gateway binary drains on SIGTERM: every open stream gets a
// final retry hint and is closed, the upstream calls are cancelled, and the
// process exits 0 within drain_timeout_ms.

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/raw_http_client.h"
#include "tests/test_backend.h"
#include "tests/testing_schema.h"

extern char** environ;

namespace sse_gateway {
namespace {

using ::testing::HasSubstr;

// The gateway binary as a child process, its stdout on a pipe.
class GatewayProcess {
 public:
  explicit GatewayProcess(const std::string& config_path) {
    int pipe_fds[2];
    EXPECT_EQ(pipe(pipe_fds), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
    std::string binary = "gateway/sse_gateway";
    std::string flag = "--config=" + config_path;
    char* argv[] = {binary.data(), flag.data(), nullptr};
    EXPECT_EQ(
        posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv, environ),
        0);
    posix_spawn_file_actions_destroy(&actions);
    close(pipe_fds[1]);
    stdout_ = fdopen(pipe_fds[0], "r");
  }

  ~GatewayProcess() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (stdout_ != nullptr) fclose(stdout_);
  }

  // Reads stdout up to the "listening on http://host:PORT/" line; the port.
  int WaitForPort() {
    char line[1024];
    while (fgets(line, sizeof(line), stdout_) != nullptr) {
      std::string text(line);
      size_t at = text.find("listening on http://127.0.0.1:");
      if (at == std::string::npos) continue;
      int port = 0;
      std::string rest = text.substr(at + 30);
      rest = rest.substr(0, rest.find('/'));
      EXPECT_TRUE(absl::SimpleAtoi(rest, &port)) << text;
      return port;
    }
    ADD_FAILURE() << "the gateway printed no listening line";
    return 0;
  }

  // Waits up to `timeout` for the process to exit; its exit status or -1.
  int WaitForExit(absl::Duration timeout) {
    absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      int status = 0;
      pid_t done = waitpid(pid_, &status, WNOHANG);
      if (done == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    return -1;
  }

  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  FILE* stdout_ = nullptr;
};

TEST(SigtermDrainTest, OpenStreamsGetARetryHintAndTheProcessExitsZero) {
  std::unique_ptr<TestBackend> backend = TestBackend::Start();
  char cwd[4096];
  ASSERT_NE(getcwd(cwd, sizeof(cwd)), nullptr);
  std::string config_path = absl::StrCat(::testing::TempDir(), "/drain.yaml");
  {
    std::ofstream config(config_path);
    config << "listen: 127.0.0.1:0\n"
           << "backend: " << backend->address() << "\n"
           << "descriptor_sets: [" << cwd << "/" << kTestingDescriptorSet
           << "]\n"
           << "drain_timeout_ms: 5000\n"
           << "access_log: off\n"
           << "routes:\n"
           << "  - {path: /s, method: testing.v1.TestService/Stream, "
              "retry_ms: 700}\n";
  }
  GatewayProcess gateway(config_path);
  int port = gateway.WaitForPort();
  ASSERT_GT(port, 0);

  RawHttpClient first(port);
  RawHttpClient second(port);
  first.Send(GetRequest("/s?count=1&hold_open=true"));
  second.Send(GetRequest("/s?count=2&hold_open=true"));
  first.ReadUntil("id: 1\n");
  second.ReadUntil("id: 2\n");
  ASSERT_TRUE(backend->WaitForCalls(2, absl::Seconds(30)));

  absl::Time signalled = absl::Now();
  ASSERT_EQ(kill(gateway.pid(), SIGTERM), 0);
  for (RawHttpClient* client : {&first, &second}) {
    std::string received = client->ReadUntil("0\r\n\r\n");  // Last chunk.
    EXPECT_THAT(received, HasSubstr("c\r\nretry: 700\n\n\r\n0\r\n\r\n"));
    EXPECT_THAT(received, ::testing::Not(HasSubstr("event: end")));
  }
  EXPECT_EQ(gateway.WaitForExit(absl::Seconds(5)), 0);
  absl::Duration exit_after = absl::Now() - signalled;
  std::printf("SIGTERM to exit: %s\n",
              absl::FormatDuration(exit_after).c_str());
  EXPECT_TRUE(backend->WaitForCancelled(2, absl::Seconds(30)));
}

}  // namespace
}  // namespace sse_gateway
