#include "gateway/http/reaper.h"

#include <atomic>
#include <memory>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace sse_gateway {
namespace {

constexpr absl::Duration kPatience = absl::Seconds(30);

// Records the thread that destroys it; its destructor can be made to wait
// for `release` (as a gRPC call's waits for gRPC).
class Probe : public Reapable {
 public:
  Probe(std::atomic<std::thread::id>* destroyed_on, absl::Notification* release,
        absl::Notification* destroyed)
      : destroyed_on_(destroyed_on), release_(release), destroyed_(destroyed) {}
  ~Probe() override {
    if (release_ != nullptr) release_->WaitForNotification();
    destroyed_on_->store(std::this_thread::get_id());
    destroyed_->Notify();
  }

 private:
  std::atomic<std::thread::id>* const destroyed_on_;
  absl::Notification* const release_;
  absl::Notification* const destroyed_;
};

TEST(ReaperTest, DestroysOnItsOwnThreadAndCountsDown) {
  std::atomic<int64_t> open{1};
  std::atomic<int64_t> load{0};
  Reaper reaper(&open, &load);
  std::atomic<std::thread::id> destroyed_on;
  absl::Notification destroyed;
  reaper.Destroy(std::make_unique<Probe>(&destroyed_on, nullptr, &destroyed));
  ASSERT_TRUE(destroyed.WaitForNotificationWithTimeout(kPatience));
  EXPECT_NE(destroyed_on.load(), std::this_thread::get_id());
  const absl::Time deadline = absl::Now() + kPatience;
  while (open.load() != 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_EQ(open.load(), 0);
}

// A destructor that waits holds up neither the caller of Destroy() nor
// (once it is released) the objects queued behind it.
TEST(ReaperTest, AWaitingDestructorBlocksNoCaller) {
  std::atomic<int64_t> open{2};
  std::atomic<int64_t> load{0};
  Reaper reaper(&open, &load);
  std::atomic<std::thread::id> first_on, second_on;
  absl::Notification release, first_destroyed, second_destroyed;
  reaper.Destroy(
      std::make_unique<Probe>(&first_on, &release, &first_destroyed));
  reaper.Destroy(
      std::make_unique<Probe>(&second_on, nullptr, &second_destroyed));
  // Both calls returned while the first destructor still waits.
  EXPECT_FALSE(first_destroyed.HasBeenNotified());
  release.Notify();
  ASSERT_TRUE(first_destroyed.WaitForNotificationWithTimeout(kPatience));
  ASSERT_TRUE(second_destroyed.WaitForNotificationWithTimeout(kPatience));
}

// Whatever is still queued when the reaper goes is destroyed, not leaked.
TEST(ReaperTest, DestructionDrainsTheQueue) {
  std::atomic<int64_t> open{3};
  std::atomic<int64_t> load{0};
  std::atomic<std::thread::id> on[3];
  absl::Notification destroyed[3];
  {
    Reaper reaper(&open, &load);
    for (int i = 0; i < 3; ++i) {
      reaper.Destroy(std::make_unique<Probe>(&on[i], nullptr, &destroyed[i]));
    }
  }
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(destroyed[i].HasBeenNotified());
  EXPECT_EQ(open.load(), 0);
}

}  // namespace
}  // namespace sse_gateway
