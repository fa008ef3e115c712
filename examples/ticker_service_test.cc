#include "examples/ticker_service.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/demo/v1/ticker.grpc.pb.h"

namespace sse_gateway {
namespace {

using demo::v1::Tick;
using demo::v1::WatchRequest;
using ::testing::HasSubstr;

// Generous bound for anything that should happen "at once".
constexpr absl::Duration kPromptly = absl::Seconds(10);

WatchRequest MakeRequest(const std::string& symbol, uint32_t interval_ms,
                         uint32_t count, uint64_t after_seq = 0) {
  WatchRequest request;
  request.set_symbol(symbol);
  request.set_interval_ms(interval_ms);
  request.set_count(count);
  request.set_after_seq(after_seq);
  return request;
}

absl::Time ToAbslTime(const google::protobuf::Timestamp& timestamp) {
  return absl::FromUnixSeconds(timestamp.seconds()) +
         absl::Nanoseconds(timestamp.nanos());
}

struct WatchResult {
  std::vector<Tick> ticks;
  grpc::Status status;
};

// A callback-API client for one Watch call that records the seqs it reads.
// Lets a test hold hundreds of calls open without a thread each.
class TickCollector final : public grpc::ClientReadReactor<Tick> {
 public:
  TickCollector(demo::v1::Ticker::Stub* stub, const WatchRequest& request)
      : request_(request) {
    stub->async()->Watch(&context_, &request_, this);
    StartRead(&tick_);
    StartCall();
  }

  // A call must be over before its context goes away.
  ~TickCollector() override {
    Cancel();
    WaitForDone(absl::Seconds(60));
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone() follows.
    {
      absl::MutexLock lock(&mu_);
      seqs_.push_back(tick_.seq());
    }
    StartRead(&tick_);
  }

  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&mu_);
    status_ = status;
    done_ = true;
  }

  bool WaitForTicks(size_t count, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    const auto enough = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return seqs_.size() >= count || done_;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout) &&
           seqs_.size() >= count;
  }

  bool WaitForDone(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&done_), timeout);
  }

  void Cancel() { context_.TryCancel(); }

  std::vector<uint64_t> seqs() {
    absl::MutexLock lock(&mu_);
    return seqs_;
  }

  grpc::Status status() {
    absl::MutexLock lock(&mu_);
    return status_;
  }

 private:
  grpc::ClientContext context_;
  const WatchRequest request_;
  Tick tick_;
  absl::Mutex mu_;
  std::vector<uint64_t> seqs_ ABSL_GUARDED_BY(mu_);
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

class TickerServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port, 0);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                   grpc::InsecureChannelCredentials());
    stub_ = demo::v1::Ticker::NewStub(channel_);
  }

  void TearDown() override {
    if (server_ != nullptr) {
      server_->Shutdown(std::chrono::system_clock::now() +
                        std::chrono::seconds(5));
      server_->Wait();
    }
  }

  // Runs one Watch call to its end with the blocking stub.
  WatchResult WatchAll(const WatchRequest& request) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(60));
    std::unique_ptr<grpc::ClientReader<Tick>> reader =
        stub_->Watch(&context, request);
    WatchResult result;
    Tick tick;
    while (reader->Read(&tick)) result.ticks.push_back(tick);
    result.status = reader->Finish();
    return result;
  }

  TickerService service_;  // Outlives server_.
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<demo::v1::Ticker::Stub> stub_;
};

TEST_F(TickerServiceTest, SendsCountTicksNumberedAfterAfterSeq) {
  const absl::Time before = absl::Now();
  const WatchResult result = WatchAll(MakeRequest("ACME", 10, 5, 41));
  const absl::Time after = absl::Now();

  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  ASSERT_EQ(result.ticks.size(), 5u);
  for (size_t i = 0; i < result.ticks.size(); ++i) {
    const Tick& tick = result.ticks[i];
    EXPECT_EQ(tick.seq(), 42 + i);
    EXPECT_EQ(tick.symbol(), "ACME");
    EXPECT_EQ(tick.price(), TickPrice("ACME", tick.seq()));
    EXPECT_GT(tick.price(), 0);
    EXPECT_GE(ToAbslTime(tick.time()), before);
    EXPECT_LE(ToAbslTime(tick.time()), after);
    if (i > 0) {
      EXPECT_GE(ToAbslTime(tick.time()), ToAbslTime(result.ticks[i - 1].time()))
          << "ticks go back in time at seq " << tick.seq();
    }
  }
}

TEST_F(TickerServiceTest, ResumedStreamRepeatsThePrices) {
  const WatchResult original = WatchAll(MakeRequest("GLOBEX", 10, 10));
  const WatchResult resumed = WatchAll(MakeRequest("GLOBEX", 10, 4, 6));

  ASSERT_TRUE(original.status.ok()) << original.status.error_message();
  ASSERT_TRUE(resumed.status.ok()) << resumed.status.error_message();
  ASSERT_EQ(original.ticks.size(), 10u);
  ASSERT_EQ(resumed.ticks.size(), 4u);
  for (size_t i = 0; i < resumed.ticks.size(); ++i) {
    const Tick& expected = original.ticks[6 + i];
    EXPECT_EQ(resumed.ticks[i].seq(), expected.seq());
    EXPECT_EQ(resumed.ticks[i].price(), expected.price())
        << "at seq " << expected.seq();
  }
  // The price really walks: not all ten prices are the same.
  bool moved = false;
  for (const Tick& tick : original.ticks) {
    moved = moved || tick.price() != original.ticks[0].price();
  }
  EXPECT_TRUE(moved);
}

TEST(TickPriceTest, IsADeterministicWalkPerSymbol) {
  EXPECT_NE(TickPrice("ACME", 1), TickPrice("GLOBEX", 1));
  double previous = TickPrice("ACME", 1);
  int changes = 0;
  for (uint64_t seq = 2; seq <= 2000; ++seq) {
    const double price = TickPrice("ACME", seq);
    ASSERT_EQ(price, TickPrice("ACME", seq));
    ASSERT_GT(price, 0);
    // Steps are small (about 0.2%), never jumps.
    ASSERT_LT(std::abs(std::log(price / previous)), 0.02) << "at seq " << seq;
    changes += price != previous;
    previous = price;
  }
  EXPECT_GT(changes, 1000);
  const double far = TickPrice("ACME", TickerService::kMaxSeq);
  EXPECT_TRUE(std::isfinite(far));
  EXPECT_GT(far, 0);
}

TEST_F(TickerServiceTest, MissingSymbolIsInvalidArgument) {
  const WatchResult result = WatchAll(MakeRequest("", 10, 3));
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(result.status.error_message(), "symbol is required");
  EXPECT_TRUE(result.ticks.empty());
}

TEST_F(TickerServiceTest, AbsurdRequestsAreInvalidArgument) {
  const struct {
    WatchRequest request;
    std::string message_part;
  } cases[] = {
      {MakeRequest("ACME", 1, 3), "interval_ms"},
      {MakeRequest("ACME", TickerService::kMaxIntervalMs + 1, 3),
       "interval_ms"},
      {MakeRequest("AC ME", 10, 3), "symbol"},
      {MakeRequest(std::string(TickerService::kMaxSymbolLength + 1, 'A'), 10,
                   3),
       "symbol"},
      {MakeRequest("ACME", 10, 3, TickerService::kMaxSeq), "after_seq"},
  };
  for (const auto& c : cases) {
    const WatchResult result = WatchAll(c.request);
    EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << c.request.ShortDebugString();
    EXPECT_THAT(result.status.error_message(), HasSubstr(c.message_part));
    EXPECT_TRUE(result.ticks.empty());
  }
  EXPECT_TRUE(service_.WaitUntilIdle(kPromptly));
}

TEST_F(TickerServiceTest, ZeroIntervalMeansOneSecond) {
  const WatchResult result = WatchAll(MakeRequest("ACME", 0, 2));
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  ASSERT_EQ(result.ticks.size(), 2u);
  const absl::Duration gap =
      ToAbslTime(result.ticks[1].time()) - ToAbslTime(result.ticks[0].time());
  EXPECT_GE(gap, absl::Milliseconds(900));
}

TEST_F(TickerServiceTest, ClientCancelEndsTheCallPromptly) {
  // One tick an hour: only cancellation can end this call within the test.
  TickCollector collector(
      stub_.get(), MakeRequest("ACME", TickerService::kMaxIntervalMs, 0));
  ASSERT_TRUE(collector.WaitForTicks(1, kPromptly));  // The first is at once.
  EXPECT_EQ(service_.ActiveWatches(), 1);

  collector.Cancel();
  ASSERT_TRUE(collector.WaitForDone(kPromptly));
  EXPECT_EQ(collector.status().error_code(), grpc::StatusCode::CANCELLED);
  // The server side ends too, without waiting for the hour to pass.
  EXPECT_TRUE(service_.WaitUntilIdle(kPromptly));
  EXPECT_EQ(collector.seqs(), std::vector<uint64_t>{1});
}

TEST_F(TickerServiceTest, ServerShutdownEndsOpenCallsPromptly) {
  TickCollector collector(
      stub_.get(), MakeRequest("ACME", TickerService::kMaxIntervalMs, 0));
  ASSERT_TRUE(collector.WaitForTicks(1, kPromptly));

  const absl::Time start = absl::Now();
  server_->Shutdown(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(200));
  server_->Wait();
  EXPECT_LT(absl::Now() - start, kPromptly);
  EXPECT_TRUE(service_.WaitUntilIdle(kPromptly));
  ASSERT_TRUE(collector.WaitForDone(kPromptly));
  EXPECT_FALSE(collector.status().ok());
  server_.reset();
}

TEST_F(TickerServiceTest, ServesHundredsOfConcurrentStreams) {
  constexpr int kStreams = 300;
  std::vector<std::unique_ptr<TickCollector>> collectors;
  for (int i = 0; i < kStreams; ++i) {
    collectors.push_back(std::make_unique<TickCollector>(
        stub_.get(),
        MakeRequest(absl::StrCat("SYM", i % 7), 200, /*count=*/0, i)));
  }
  for (int i = 0; i < kStreams; ++i) {
    ASSERT_TRUE(collectors[i]->WaitForTicks(2, absl::Seconds(60)))
        << "stream " << i;
  }
  // All of them are open at the same time, each one in order.
  EXPECT_EQ(service_.ActiveWatches(), kStreams);
  for (int i = 0; i < kStreams; ++i) {
    const std::vector<uint64_t> seqs = collectors[i]->seqs();
    for (size_t j = 0; j < seqs.size(); ++j) {
      ASSERT_EQ(seqs[j], i + 1 + j) << "stream " << i;
    }
  }

  for (auto& collector : collectors) collector->Cancel();
  for (int i = 0; i < kStreams; ++i) {
    ASSERT_TRUE(collectors[i]->WaitForDone(absl::Seconds(60)))
        << "stream " << i;
  }
  EXPECT_TRUE(service_.WaitUntilIdle(absl::Seconds(60)));
}

}  // namespace
}  // namespace sse_gateway
