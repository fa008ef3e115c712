#include "bench/firehose_backend_service.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_stats.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/bench/v1/firehose.grpc.pb.h"

namespace sse_gateway {
namespace {

class FirehoseServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port, 0);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                   grpc::InsecureChannelCredentials());
    stub_ = bench::v1::Firehose::NewStub(channel_);
  }

  void TearDown() override {
    if (server_ != nullptr) {
      server_->Shutdown(std::chrono::system_clock::now() +
                        std::chrono::seconds(1));
      server_->Wait();
    }
  }

  // Waits up to 10 s for every call to reach OnDone.
  bool AllStreamsDone() {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (service_.active_streams() != 0 && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    return service_.active_streams() == 0;
  }

  static bench::v1::StreamRequest Request(uint32_t rate, uint64_t count,
                                          uint32_t payload_bytes,
                                          uint64_t after_seq = 0) {
    bench::v1::StreamRequest request;
    request.set_rate(rate);
    request.set_count(count);
    request.set_payload_bytes(payload_bytes);
    request.set_after_seq(after_seq);
    return request;
  }

  FirehoseService service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<bench::v1::Firehose::Stub> stub_;
};

TEST_F(FirehoseServiceTest, UnpacedStreamSendsCountEventsThenOk) {
  grpc::ClientContext context;
  auto reader = stub_->Stream(&context, Request(0, 5, 10, 7));
  bench::v1::Event event;
  std::vector<uint64_t> seqs;
  while (reader->Read(&event)) {
    seqs.push_back(event.seq());
    EXPECT_EQ(event.payload(), std::string(10, 'x'));
    const int64_t age_ns = RealtimeNanos() - event.sent_unix_nanos();
    EXPECT_GE(age_ns, 0);
    EXPECT_LT(age_ns, 5'000'000'000);
  }
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(seqs, (std::vector<uint64_t>{8, 9, 10, 11, 12}));
  EXPECT_TRUE(AllStreamsDone());
  EXPECT_EQ(service_.events_sent(), 5);
}

TEST_F(FirehoseServiceTest, PacedStreamSpacesEventsByThePeriod) {
  grpc::ClientContext context;
  auto reader = stub_->Stream(&context, Request(20, 4, 0));
  bench::v1::Event event;
  std::vector<int64_t> sent_ns;
  const int64_t start = MonotonicNanos();
  while (reader->Read(&event)) sent_ns.push_back(event.sent_unix_nanos());
  const int64_t elapsed_ns = MonotonicNanos() - start;
  EXPECT_TRUE(reader->Finish().ok());
  ASSERT_EQ(sent_ns.size(), 4u);
  // First event at once, then one every 50 ms on a fixed schedule (a late
  // event does not delay the next ones, so compare with the first event).
  for (size_t i = 1; i < sent_ns.size(); ++i) {
    const int64_t offset_ns = sent_ns[i] - sent_ns[0];
    EXPECT_GE(offset_ns, static_cast<int64_t>(i) * 50'000'000 - 2'000'000) << i;
    EXPECT_LE(offset_ns, static_cast<int64_t>(i) * 50'000'000 + 500'000'000)
        << i;
  }
  EXPECT_GE(elapsed_ns, 145'000'000);
}

TEST_F(FirehoseServiceTest, ClientCancelEndsUnboundedStreams) {
  for (uint32_t rate : {0u, 1000u}) {
    grpc::ClientContext context;
    auto reader = stub_->Stream(&context, Request(rate, 0, 100));
    bench::v1::Event event;
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(reader->Read(&event));
    context.TryCancel();
    while (reader->Read(&event)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  EXPECT_TRUE(AllStreamsDone());
}

TEST_F(FirehoseServiceTest, CancelWhileWaitingForThePacerIsSafe) {
  // 200 streams at 1 event/s: each is parked in the pacer after its first
  // event when the client cancels it.
  constexpr int kStreams = 200;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<bench::v1::Event>>> readers;
  for (int i = 0; i < kStreams; ++i) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    readers.push_back(stub_->Stream(contexts.back().get(), Request(1, 0, 8)));
  }
  bench::v1::Event event;
  for (auto& reader : readers) ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(service_.active_streams(), kStreams);
  for (auto& context : contexts) context->TryCancel();
  for (auto& reader : readers) {
    while (reader->Read(&event)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  EXPECT_TRUE(AllStreamsDone());
}

TEST_F(FirehoseServiceTest, ServerShutdownEndsOpenStreams) {
  grpc::ClientContext context;
  auto reader = stub_->Stream(&context, Request(1, 0, 8));
  bench::v1::Event event;
  ASSERT_TRUE(reader->Read(&event));
  server_->Shutdown(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(100));
  server_->Wait();
  server_.reset();
  while (reader->Read(&event)) {
  }
  EXPECT_FALSE(reader->Finish().ok());
  EXPECT_EQ(service_.active_streams(), 0);
}

TEST_F(FirehoseServiceTest, RefusesHugePayloads) {
  grpc::ClientContext context;
  auto reader = stub_->Stream(
      &context, Request(0, 1, FirehoseService::kMaxPayloadBytes + 1));
  bench::v1::Event event;
  EXPECT_FALSE(reader->Read(&event));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(FirehoseServiceTest, LargePayloadsArrive) {
  grpc::ClientContext context;
  auto reader = stub_->Stream(&context, Request(0, 2, 1 << 20));
  bench::v1::Event event;
  int received = 0;
  while (reader->Read(&event)) {
    EXPECT_EQ(event.payload().size(), 1u << 20);
    ++received;
  }
  // The default client limit is 4 MiB, so 1 MiB events pass.
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(received, 2);
}

}  // namespace
}  // namespace sse_gateway
