#include "gateway/http/connection_threads.h"

#include <atomic>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace sse_gateway {
namespace {

// Far more concurrently blocked tasks than httplib's fixed pool (8 here) has
// workers: each one must get its own thread.
TEST(ConnectionThreadsTest, RunsManyBlockingTasksAtOnce) {
  constexpr int kTasks = 200;
  ConnectionThreads threads;
  absl::Mutex mu;
  int started = 0;
  absl::Notification release;
  for (int i = 0; i < kTasks; ++i) {
    threads.enqueue([&] {
      {
        absl::MutexLock lock(&mu);
        ++started;
      }
      release.WaitForNotification();
    });
  }
  {
    absl::MutexLock lock(&mu);
    ASSERT_TRUE(
        mu.AwaitWithTimeout(absl::Condition(
                                +[](int* n) { return *n == kTasks; }, &started),
                            absl::Seconds(60)));
  }
  EXPECT_EQ(threads.active(), static_cast<size_t>(kTasks));
  release.Notify();
  threads.shutdown();
  EXPECT_EQ(threads.active(), 0u);
}

TEST(ConnectionThreadsTest, ShutdownWaitsForRunningTasks) {
  std::atomic<bool> finished{false};
  absl::Notification running;
  {
    ConnectionThreads threads;
    threads.enqueue([&] {
      running.Notify();
      absl::SleepFor(absl::Milliseconds(50));
      finished = true;
    });
    running.WaitForNotification();
    threads.shutdown();
    EXPECT_TRUE(finished);
  }
}

TEST(ConnectionThreadsTest, DestructorWaitsToo) {
  std::atomic<int> done{0};
  {
    ConnectionThreads threads;
    for (int i = 0; i < 10; ++i) threads.enqueue([&] { ++done; });
  }
  EXPECT_EQ(done.load(), 10);
}

}  // namespace
}  // namespace sse_gateway
