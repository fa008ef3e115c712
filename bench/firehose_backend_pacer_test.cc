#include "bench/firehose_backend_pacer.h"

#include <atomic>
#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_stats.h"
#include "gtest/gtest.h"

namespace sse_gateway {
namespace {

// Records the order and time of its ticks.
class RecordingClient : public StreamPacer::Client {
 public:
  RecordingClient(int id, std::vector<int>* order, absl::Mutex* mu)
      : id_(id), order_(order), mu_(mu) {}
  void OnPacerTick() override {
    tick_ns_ = MonotonicNanos();
    absl::MutexLock lock(mu_);
    order_->push_back(id_);
  }
  int64_t tick_ns() const { return tick_ns_.load(); }

 private:
  const int id_;
  std::vector<int>* const order_;
  absl::Mutex* const mu_;
  std::atomic<int64_t> tick_ns_{0};
};

bool WaitForTicks(absl::Mutex* mu, const std::vector<int>* order, size_t n) {
  absl::MutexLock lock(mu);
  auto enough = [&] { return order->size() >= n; };
  return mu->AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(10));
}

TEST(StreamPacerTest, TicksInDueOrderNotBeforeDue) {
  StreamPacer pacer;
  absl::Mutex mu;
  std::vector<int> order;
  std::vector<std::unique_ptr<RecordingClient>> clients;
  const int64_t now = MonotonicNanos();
  const int64_t offsets_ms[] = {30, 10, 50, 20, 40};
  for (int i = 0; i < 5; ++i) {
    clients.push_back(std::make_unique<RecordingClient>(i, &order, &mu));
    pacer.Schedule(clients.back().get(), now + offsets_ms[i] * 1'000'000);
  }
  EXPECT_EQ(pacer.pending(), 5);
  ASSERT_TRUE(WaitForTicks(&mu, &order, 5));
  EXPECT_EQ(order, (std::vector<int>{1, 3, 0, 4, 2}));
  for (int i = 0; i < 5; ++i) {
    EXPECT_GE(clients[i]->tick_ns(), now + offsets_ms[i] * 1'000'000) << i;
  }
  EXPECT_EQ(pacer.pending(), 0);
}

TEST(StreamPacerTest, ForgottenClientIsNotTicked) {
  StreamPacer pacer;
  absl::Mutex mu;
  std::vector<int> order;
  RecordingClient forgotten(1, &order, &mu);
  RecordingClient kept(2, &order, &mu);
  const int64_t now = MonotonicNanos();
  pacer.Schedule(&forgotten, now + 20'000'000);
  pacer.Schedule(&kept, now + 60'000'000);
  pacer.Forget(&forgotten);
  EXPECT_EQ(pacer.pending(), 1);
  ASSERT_TRUE(WaitForTicks(&mu, &order, 1));
  EXPECT_EQ(order, std::vector<int>{2});
  EXPECT_GE(MonotonicNanos() - now, 60'000'000);
}

TEST(StreamPacerTest, OverdueTicksRunAtOnceAndManyClientsScale) {
  StreamPacer pacer;
  absl::Mutex mu;
  std::vector<int> order;
  constexpr int kClients = 20000;
  std::vector<std::unique_ptr<RecordingClient>> clients;
  const int64_t now = MonotonicNanos();
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<RecordingClient>(i, &order, &mu));
    // Half overdue, half spread over the next 200 ms.
    pacer.Schedule(clients.back().get(),
                   i % 2 == 0 ? now - 1 : now + (i % 200) * 1'000'000);
  }
  ASSERT_TRUE(WaitForTicks(&mu, &order, kClients));
  EXPECT_EQ(pacer.pending(), 0);
}

}  // namespace
}  // namespace sse_gateway
