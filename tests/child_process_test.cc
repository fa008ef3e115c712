#include "tests/child_process.h"

#include <signal.h>
#include <sys/wait.h>

#include <memory>
#include <string>

#include "gtest/gtest.h"

namespace sse_gateway {
namespace {

constexpr absl::Duration kGenerous = absl::Seconds(30);

TEST(ChildProcessTest, CollectsStdoutAndStderrLinesAndExitStatus) {
  auto child = ChildProcess::Start(
      {"/bin/sh", "-c", "echo one; echo two >&2; printf three; exit 3"});
  ASSERT_TRUE(child.ok()) << child.status();
  absl::StatusOr<int> status = (*child)->Wait(kGenerous);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 3);
  absl::StatusOr<std::string> line = (*child)->WaitForLine("thr", kGenerous);
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(*line, "three");
  EXPECT_EQ((*child)->Output(), "one\ntwo\nthree");
  EXPECT_FALSE((*child)->running());
}

TEST(ChildProcessTest, WaitForLineSeesLaterLinesAndReportsEndOfOutput) {
  auto child = ChildProcess::Start(
      {"/bin/sh", "-c", "echo ready; read never_comes; echo late"},
      {.extra_env = {"CHILD_PROCESS_TEST=x"}, .log_prefix = "sh"});
  ASSERT_TRUE(child.ok()) << child.status();
  ASSERT_TRUE((*child)->WaitForLine("ready", kGenerous).ok());
  // stdin is /dev/null, so `read` fails at once and the shell goes on.
  EXPECT_TRUE((*child)->WaitForLine("late", kGenerous).ok());
  absl::StatusOr<std::string> missing =
      (*child)->WaitForLine("never printed", kGenerous);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kFailedPrecondition)
      << missing.status();
}

TEST(ChildProcessTest, PassesExtraEnvironment) {
  auto child =
      ChildProcess::Start({"/bin/sh", "-c", "echo \"v=$FOO_FOR_CHILD\""},
                          {.extra_env = {"FOO_FOR_CHILD=42"}});
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_TRUE((*child)->WaitForLine("v=42", kGenerous).ok())
      << (*child)->Output();
}

TEST(ChildProcessTest, TimesOutThenKills) {
  auto child = ChildProcess::Start({"/bin/sleep", "600"});
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_EQ((*child)->Wait(absl::Milliseconds(50)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ((*child)->WaitForLine("x", absl::Milliseconds(50)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE((*child)->running());
  ASSERT_TRUE((*child)->Signal(SIGTERM).ok());
  absl::StatusOr<int> status = (*child)->Wait(kGenerous);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(WIFSIGNALED(*status));
  EXPECT_EQ(WTERMSIG(*status), SIGTERM);
  EXPECT_FALSE((*child)->Signal(SIGTERM).ok());  // Reaped: never a reused pid.
}

TEST(ChildProcessTest, RefusesWhatCannotRun) {
  EXPECT_FALSE(ChildProcess::Start({}).ok());
  EXPECT_EQ(ChildProcess::Start({"/nonexistent/program"}).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace sse_gateway
