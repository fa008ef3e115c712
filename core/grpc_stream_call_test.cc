#include "core/grpc_stream_call.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "proto/testing/v1/testing.pb.h"
#include "tests/test_backend.h"

namespace sse_gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::v1::StreamRequest;
using ::testing::v1::StreamResponse;
using NextResult = GrpcStreamCall::NextResult;

constexpr char kStreamMethod[] = "/testing.v1.TestService/Stream";
constexpr absl::Duration kLong = absl::Seconds(30);

class GrpcStreamCallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backend_ = TestBackend::Start();
    channel_ = grpc::CreateChannel(backend_->address(),
                                   grpc::InsecureChannelCredentials());
    stub_ = std::make_unique<grpc::GenericStub>(channel_);
  }

  std::unique_ptr<GrpcStreamCall> StartCall(
      const StreamRequest& request,
      GrpcStreamCall::Options options = GrpcStreamCall::Options()) {
    return GrpcStreamCall::Start(stub_.get(), kStreamMethod,
                                 request.SerializeAsString(),
                                 std::move(options));
  }

  // Pulls one response and parses it; fails the test otherwise.
  static StreamResponse NextResponse(GrpcStreamCall& call) {
    std::string bytes;
    StreamResponse response;
    EXPECT_EQ(call.Next(kLong, &bytes), NextResult::kMessage);
    EXPECT_TRUE(response.ParseFromString(bytes));
    return response;
  }

  std::unique_ptr<TestBackend> backend_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<grpc::GenericStub> stub_;
};

TEST_F(GrpcStreamCallTest, DeliversMessagesInOrderThenOk) {
  StreamRequest request;
  request.set_count(5);
  request.set_after_seq(10);
  request.set_key_prefix("k-");
  auto call = StartCall(request);
  for (uint64_t seq = 11; seq <= 15; ++seq) {
    StreamResponse response = NextResponse(*call);
    EXPECT_EQ(response.seq(), seq);
    EXPECT_EQ(response.key(), "k-" + std::to_string(seq));
    EXPECT_EQ(response.request().count(), 5);
  }
  std::string bytes;
  EXPECT_EQ(call->Next(kLong, &bytes), NextResult::kEnd);
  EXPECT_TRUE(call->FinalStatus().ok()) << call->FinalStatus();
  // kEnd is sticky.
  EXPECT_EQ(call->Next(absl::ZeroDuration(), &bytes), NextResult::kEnd);
  EXPECT_TRUE(backend_->WaitForFinished(1, kLong));
  EXPECT_FALSE(backend_->calls()[0].cancelled);
}

TEST_F(GrpcStreamCallTest, ErrorAfterMessagesKeepsCodeAndMessage) {
  StreamRequest request;
  request.set_count(3);
  request.set_fail_code(static_cast<int>(absl::StatusCode::kResourceExhausted));
  request.set_fail_message("quota gone");
  auto call = StartCall(request);
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    EXPECT_EQ(NextResponse(*call).seq(), seq);
  }
  std::string bytes;
  EXPECT_EQ(call->Next(kLong, &bytes), NextResult::kEnd);
  EXPECT_EQ(call->FinalStatus(), absl::ResourceExhaustedError("quota gone"));
}

TEST_F(GrpcStreamCallTest, ErrorBeforeAnyMessage) {
  StreamRequest request;
  request.set_fail_code(static_cast<int>(absl::StatusCode::kNotFound));
  request.set_fail_message("no such ticker");
  auto call = StartCall(request);
  std::string bytes;
  EXPECT_EQ(call->Next(kLong, &bytes), NextResult::kEnd);
  EXPECT_EQ(call->FinalStatus(), absl::NotFoundError("no such ticker"));
}

TEST_F(GrpcStreamCallTest, BufferedMessagesComeBeforeTheEnd) {
  StreamRequest request;
  request.set_count(3);
  request.set_fail_code(static_cast<int>(absl::StatusCode::kAborted));
  auto call = StartCall(request);
  // Let the backend finish before reading anything.
  ASSERT_TRUE(backend_->WaitForFinished(1, kLong));
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    EXPECT_EQ(NextResponse(*call).seq(), seq);
  }
  std::string bytes;
  EXPECT_EQ(call->Next(kLong, &bytes), NextResult::kEnd);
  EXPECT_EQ(call->FinalStatus().code(), absl::StatusCode::kAborted);
}

TEST_F(GrpcStreamCallTest, NextTimesOutOnAnIdleStream) {
  StreamRequest request;
  request.set_count(1);
  request.set_hold_open(true);
  auto call = StartCall(request);
  EXPECT_EQ(NextResponse(*call).seq(), 1u);
  std::string bytes;
  absl::Time start = absl::Now();
  EXPECT_EQ(call->Next(absl::Milliseconds(200), &bytes), NextResult::kTimeout);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(190));
  EXPECT_EQ(call->Next(absl::ZeroDuration(), &bytes), NextResult::kTimeout);
  EXPECT_EQ(backend_->active_calls(), 1u);
}

TEST_F(GrpcStreamCallTest, CancelEndsAPendingNextAndReachesTheBackend) {
  StreamRequest request;
  request.set_count(1);
  request.set_hold_open(true);
  auto call = StartCall(request);
  EXPECT_EQ(NextResponse(*call).seq(), 1u);
  ASSERT_TRUE(backend_->WaitForCalls(1, kLong));

  std::thread canceller([&call] {
    absl::SleepFor(absl::Milliseconds(50));  // Let Next() start waiting.
    call->Cancel();
  });
  std::string bytes;
  absl::Time start = absl::Now();
  EXPECT_EQ(call->Next(kLong, &bytes), NextResult::kEnd);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  canceller.join();
  EXPECT_EQ(call->FinalStatus().code(), absl::StatusCode::kCancelled);
  call->Cancel();  // Idempotent.
  EXPECT_EQ(call->Next(kLong, &bytes), NextResult::kEnd);

  ASSERT_TRUE(backend_->WaitForCancelled(1, kLong));
  EXPECT_TRUE(backend_->calls()[0].cancelled);
  EXPECT_TRUE(backend_->WaitForFinished(1, kLong));
}

TEST_F(GrpcStreamCallTest, CancelDropsBufferedMessages) {
  StreamRequest request;
  request.set_count(2);
  auto call = StartCall(request);
  ASSERT_TRUE(backend_->WaitForFinished(1, kLong));
  call->Cancel();
  std::string bytes;
  EXPECT_EQ(call->Next(kLong, &bytes), NextResult::kEnd);
  EXPECT_EQ(call->FinalStatus().code(), absl::StatusCode::kCancelled);
}

TEST_F(GrpcStreamCallTest, DestroyingAnOpenCallCancelsUpstream) {
  StreamRequest request;
  request.set_hold_open(true);
  auto call = StartCall(request);
  ASSERT_TRUE(backend_->WaitForCalls(1, kLong));
  absl::Time start = absl::Now();
  call.reset();
  ASSERT_TRUE(backend_->WaitForCancelled(1, kLong));
  // The backend notices at once (generous bound for a loaded machine).
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_TRUE(backend_->WaitForFinished(1, kLong));
  EXPECT_EQ(backend_->active_calls(), 0u);
}

TEST_F(GrpcStreamCallTest, SendsMetadata) {
  StreamRequest request;
  request.set_count(1);
  GrpcStreamCall::Options options;
  options.metadata = {
      {"last-event-id", "7"}, {"x-trace", "abc"}, {"x-trace", "def"}};
  auto call = StartCall(request, options);
  StreamResponse response = NextResponse(*call);
  EXPECT_TRUE(response.has_last_event_id_metadata());
  EXPECT_EQ(response.last_event_id_metadata(), "7");
  std::string bytes;
  EXPECT_EQ(call->Next(kLong, &bytes), NextResult::kEnd);
  auto metadata = backend_->calls()[0].metadata;
  EXPECT_EQ(metadata.count("x-trace"), 2u);
}

TEST_F(GrpcStreamCallTest, ServerInitialMetadataIsInOnceAMessageIs) {
  StreamRequest request;
  request.set_count(1);
  request.set_hold_open(true);
  (*request.mutable_initial_metadata())["x-request-id"] = "req-42";
  (*request.mutable_initial_metadata())["x-shard"] = "7";
  auto call = StartCall(request);
  NextResponse(*call);
  std::vector<std::pair<std::string, std::string>> metadata =
      call->ServerInitialMetadata();
  EXPECT_THAT(
      metadata,
      ::testing::IsSupersetOf(
          {std::pair<std::string, std::string>("x-request-id", "req-42"),
           std::pair<std::string, std::string>("x-shard", "7")}));
}

TEST_F(GrpcStreamCallTest, NoServerInitialMetadataWithoutACall) {
  StreamRequest request;
  (*request.mutable_initial_metadata())["x-request-id"] = "req-43";
  GrpcStreamCall::Options options;
  options.metadata = {{"Bad Key", "x"}};
  auto call = StartCall(request, options);
  std::string bytes;
  EXPECT_EQ(call->Next(kLong, &bytes), NextResult::kEnd);
  EXPECT_TRUE(call->ServerInitialMetadata().empty());
}

TEST_F(GrpcStreamCallTest, InvalidMetadataEndsWithoutCalling) {
  for (const auto& [key, value] :
       std::vector<std::pair<std::string, std::string>>{
           {"last-event-id", "a\nb"},
           {"Upper", "x"},
           {"", "x"},
           {"grpc-timeout", "1S"},
           {"x-bad", std::string("\0", 1)}}) {
    GrpcStreamCall::Options options;
    options.metadata = {{key, value}};
    auto call = StartCall(StreamRequest(), options);
    std::string bytes;
    EXPECT_EQ(call->Next(kLong, &bytes), NextResult::kEnd) << key;
    EXPECT_EQ(call->FinalStatus().code(), absl::StatusCode::kInvalidArgument)
        << key;
  }
  EXPECT_TRUE(CheckGrpcMetadata("x-blob-bin", std::string("\0\n", 2)).ok());
  EXPECT_TRUE(backend_->calls().empty());
}

TEST_F(GrpcStreamCallTest, DeadlineEndsTheCall) {
  StreamRequest request;
  request.set_hold_open(true);
  GrpcStreamCall::Options options;
  options.timeout = absl::Milliseconds(300);
  auto call = StartCall(request, options);
  std::string bytes;
  EXPECT_EQ(call->Next(kLong, &bytes), NextResult::kEnd);
  EXPECT_EQ(call->FinalStatus().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST_F(GrpcStreamCallTest, SlowConsumerStopsTheBackendAndLosesNothing) {
  constexpr int kCount = 100000;
  StreamRequest request;
  request.set_count(kCount);
  request.set_key_prefix(std::string(1024, 'p'));
  auto call = StartCall(request);
  ASSERT_TRUE(backend_->WaitForCalls(1, kLong));

  // Without reading, wait until the backend's writes stop progressing: poll
  // until two samples half a second apart agree (bounded by kLong).
  int64_t written = -1;
  absl::Time deadline = absl::Now() + kLong;
  while (absl::Now() < deadline) {
    int64_t now_written = backend_->calls()[0].messages_written;
    if (now_written > 0 && now_written == written) break;
    written = now_written;
    absl::SleepFor(absl::Milliseconds(500));
  }
  EXPECT_GT(written, 0);
  RecordProperty("messages_written_while_not_reading",
                 static_cast<int>(written));
  EXPECT_LT(written, kCount / 4) << "flow control did not hold back";
  EXPECT_FALSE(backend_->calls()[0].finished);

  for (int seq = 1; seq <= kCount; ++seq) {
    std::string bytes;
    ASSERT_EQ(call->Next(kLong, &bytes), NextResult::kMessage) << seq;
    StreamResponse response;
    ASSERT_TRUE(response.ParseFromString(bytes));
    ASSERT_EQ(response.seq(), static_cast<uint64_t>(seq));
  }
  std::string bytes;
  EXPECT_EQ(call->Next(kLong, &bytes), NextResult::kEnd);
  EXPECT_TRUE(call->FinalStatus().ok()) << call->FinalStatus();
  EXPECT_EQ(backend_->calls()[0].messages_written, kCount);
}

TEST_F(GrpcStreamCallTest, ManyConcurrentStreams) {
  constexpr int kStreams = 500;
  std::vector<std::unique_ptr<GrpcStreamCall>> calls;
  StreamRequest request;
  request.set_count(1);
  request.set_hold_open(true);
  for (int i = 0; i < kStreams; ++i) calls.push_back(StartCall(request));
  for (auto& call : calls) EXPECT_EQ(NextResponse(*call).seq(), 1u);
  ASSERT_TRUE(backend_->WaitForCalls(kStreams, kLong));
  EXPECT_EQ(backend_->active_calls(), static_cast<size_t>(kStreams));
  calls.clear();
  ASSERT_TRUE(backend_->WaitForCancelled(kStreams, kLong));
  ASSERT_TRUE(backend_->WaitForFinished(kStreams, kLong));
  EXPECT_EQ(backend_->active_calls(), 0u);
}

TEST_F(GrpcStreamCallTest, CancelRacingTheEndIsSafe) {
  // Cancel and destroy at every stage of short calls; must neither crash nor
  // hang, and every call must end.
  constexpr int kRounds = 200;
  for (int i = 0; i < kRounds; ++i) {
    StreamRequest request;
    request.set_count(i % 3);
    auto call = StartCall(request);
    std::string bytes;
    if (i % 2 == 0) call->Next(absl::Microseconds(i * 20), &bytes);
    std::thread canceller([&call] { call->Cancel(); });
    if (i % 4 == 1) call->Next(kLong, &bytes);
    canceller.join();
    EXPECT_EQ(call->Next(kLong, &bytes), NextResult::kEnd);
  }
  // Calls cancelled early may never reach the backend; those that did must
  // all finish there. A last complete call orders itself after them on the
  // connection.
  StreamRequest last;
  last.set_count(1);
  auto call = StartCall(last);
  EXPECT_EQ(NextResponse(*call).seq(), 1u);
  std::string bytes;
  EXPECT_EQ(call->Next(kLong, &bytes), NextResult::kEnd);
  EXPECT_TRUE(backend_->WaitForFinished(backend_->calls().size(), kLong));
  EXPECT_EQ(backend_->active_calls(), 0u);
}

// A consumer that never waits in Next(): it polls with a zero timeout only
// when the ready callback said so, as the gateway's StreamPump does. It must
// see every message and the end.
TEST_F(GrpcStreamCallTest, ReadyCallbackDrivesAPollingConsumer) {
  StreamRequest request;
  request.set_count(50);
  request.set_interval_ms(1);
  auto call = StartCall(request);
  absl::Mutex mu;
  int signals = 0;
  call->SetReadyCallback([&] {
    absl::MutexLock lock(&mu);
    ++signals;
  });
  std::vector<uint64_t> seqs;
  bool ended = false;
  int seen = 0;
  const absl::Time deadline = absl::Now() + kLong;
  while (!ended && absl::Now() < deadline) {
    {
      absl::MutexLock lock(&mu);
      auto signalled = [&] { return signals > seen; };
      mu.AwaitWithDeadline(absl::Condition(&signalled), deadline);
      seen = signals;
    }
    std::string bytes;
    for (;;) {
      const NextResult result = call->Next(absl::ZeroDuration(), &bytes);
      if (result == NextResult::kTimeout) break;
      if (result == NextResult::kEnd) {
        ended = true;
        break;
      }
      StreamResponse response;
      ASSERT_TRUE(response.ParseFromString(bytes));
      seqs.push_back(response.seq());
    }
  }
  ASSERT_TRUE(ended);
  EXPECT_TRUE(call->FinalStatus().ok()) << call->FinalStatus();
  ASSERT_EQ(seqs.size(), 50u);
  for (size_t i = 0; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], i + 1);
}

TEST_F(GrpcStreamCallTest, NoReadyCallbackAfterItIsCleared) {
  StreamRequest request;
  request.set_count(2);
  // The first message may arrive before the callback is set (then nothing
  // notifies it); the second comes well after.
  request.set_interval_ms(200);
  request.set_hold_open(true);
  auto call = StartCall(request);
  std::atomic<int> calls{0};
  call->SetReadyCallback([&] { calls.fetch_add(1); });
  EXPECT_EQ(NextResponse(*call).seq(), 1u);
  EXPECT_EQ(NextResponse(*call).seq(), 2u);
  call->SetReadyCallback(nullptr);
  const int before = calls.load();
  call->Cancel();  // Would notify a registered callback.
  std::string bytes;
  EXPECT_EQ(call->Next(kLong, &bytes), NextResult::kEnd);
  EXPECT_EQ(calls.load(), before);
  EXPECT_GE(before, 1);
}

TEST_F(GrpcStreamCallTest, DeadlinePassesWhilePolling) {
  StreamRequest request;
  request.set_hold_open(true);
  GrpcStreamCall::Options options;
  options.timeout = absl::Milliseconds(200);
  auto call = StartCall(request, options);
  EXPECT_LE(call->Deadline(), absl::Now() + absl::Milliseconds(200));
  std::string bytes;
  NextResult result = NextResult::kTimeout;
  const absl::Time give_up = absl::Now() + kLong;
  while (result == NextResult::kTimeout && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(20));  // The consumer's own pace.
    result = call->Next(absl::ZeroDuration(), &bytes);
  }
  EXPECT_EQ(result, NextResult::kEnd);
  EXPECT_EQ(call->FinalStatus().code(), absl::StatusCode::kDeadlineExceeded);
}

}  // namespace
}  // namespace sse_gateway
