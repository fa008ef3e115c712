#include "core/stream_method.h"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/event_stream.h"
#include "core/schema.h"
#include "core/sse_message.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "proto/testing/v1/testing.pb.h"
#include "tests/test_backend.h"

namespace sse_gateway {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using ::testing::v1::StreamResponse;
using NextResult = EventStream::NextResult;

constexpr char kDescriptorSet[] = "proto/testing/v1/testing.descriptor_set.pb";
constexpr char kMethod[] = "testing.v1.TestService/Stream";
constexpr absl::Duration kLong = absl::Seconds(30);

using Bindings = std::vector<std::pair<std::string, std::string>>;

// Everything a stream produced up to its end.
struct Drained {
  std::vector<SseMessage> messages;
  absl::Status status;
};

Drained Drain(EventStream& stream) {
  Drained drained;
  SseMessage message;
  NextResult result;
  while ((result = stream.Next(kLong, &message)) == NextResult::kMessage) {
    drained.messages.push_back(message);
  }
  EXPECT_EQ(result, NextResult::kEnd) << "timed out";
  drained.status = stream.FinalStatus();
  return drained;
}

StreamResponse ParseData(const SseMessage& message) {
  StreamResponse response;
  EXPECT_TRUE(message.data.has_value());
  auto status = google::protobuf::util::JsonStringToMessage(
      message.data.value_or(""), &response);
  EXPECT_TRUE(status.ok()) << status << " in " << message.data.value_or("");
  return response;
}

std::vector<std::string> Ids(const Drained& drained) {
  std::vector<std::string> ids;
  for (const SseMessage& message : drained.messages) {
    ids.push_back(message.id.value_or("<none>"));
  }
  return ids;
}

class StreamMethodTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto schema = Schema::LoadDescriptorSetFiles({kDescriptorSet});
    ASSERT_TRUE(schema.ok()) << schema.status();
    schema_ = *std::move(schema);
    backend_ = TestBackend::Start();
    channel_ = grpc::CreateChannel(backend_->address(),
                                   grpc::InsecureChannelCredentials());
  }

  std::unique_ptr<StreamMethod> MakeMethod(StreamMethodOptions options,
                                           const Schema* schema = nullptr) {
    if (options.method.empty()) options.method = kMethod;
    auto method = StreamMethod::Create(schema ? schema : schema_.get(),
                                       channel_, std::move(options));
    EXPECT_TRUE(method.ok()) << method.status();
    return method.ok() ? *std::move(method) : nullptr;
  }

  // Opens `method` with a request built from `bindings` and drains it.
  Drained Run(const StreamMethod& method, const Bindings& bindings,
              const std::optional<std::string>& last_event_id = std::nullopt,
              const Bindings& metadata = {}) {
    auto request = method.BuildRequest(bindings);
    EXPECT_TRUE(request.ok()) << request.status();
    if (!request.ok()) return {};
    auto stream = method.Open(**request, last_event_id, metadata);
    EXPECT_TRUE(stream.ok()) << stream.status();
    if (!stream.ok()) return {};
    return Drain(**stream);
  }

  std::unique_ptr<Schema> schema_;
  std::unique_ptr<TestBackend> backend_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(StreamMethodTest, CreateNamesTheBadOption) {
  using Set = std::function<void(StreamMethodOptions&)>;
  const absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;
  const std::vector<std::tuple<Set, absl::StatusCode, std::string>> cases = {
      {[](auto& o) { o.method = "testing.v1.TestService/Nope"; },
       absl::StatusCode::kNotFound, "method: "},
      {[](auto& o) { o.method = "testing.v1.TestService/Unary"; }, kInvalid,
       "method: "},
      {[](auto& o) { o.id_field = "nope"; }, kInvalid, "id_field: "},
      {[](auto& o) { o.id_field = "request"; }, kInvalid, "id_field: "},
      {[](auto& o) { o.id_field = "request.echo.names"; }, kInvalid,
       "id_field: "},
      {[](auto& o) { o.resume_field = "nope"; }, kInvalid, "resume_field: "},
      {[](auto& o) { o.resume_field = "echo"; }, kInvalid, "resume_field: "},
      {[](auto& o) { o.resume_field = "echo.many_int64"; }, kInvalid,
       "resume_field: "},
      {[](auto& o) { o.retry_ms = -1; }, kInvalid, "retry_ms: "},
      {[](auto& o) { o.event = "a\nb"; }, kInvalid, "event: "},
      {[](auto& o) { o.buffer_capacity = 0; }, kInvalid, "buffer_capacity: "},
      {[](auto& o) { o.timeout = absl::ZeroDuration(); }, kInvalid,
       "timeout: "},
  };
  for (const auto& [set, code, prefix] : cases) {
    StreamMethodOptions options;
    options.method = kMethod;
    set(options);
    absl::Status status =
        StreamMethod::Create(schema_.get(), channel_, options).status();
    EXPECT_EQ(status.code(), code) << status;
    EXPECT_THAT(std::string(status.message()), StartsWith(prefix));
  }
  EXPECT_TRUE(backend_->calls().empty());
}

TEST_F(StreamMethodTest, StreamsJsonWithSequenceIdsAndEventName) {
  StreamMethodOptions options;
  options.event = "tick";
  auto method = MakeMethod(options);
  ASSERT_NE(method, nullptr);
  EXPECT_EQ(method->method()->full_name(), "testing.v1.TestService.Stream");
  Drained drained = Run(*method, {{"count", "3"}, {"key_prefix", "k"}});
  EXPECT_TRUE(drained.status.ok()) << drained.status;
  EXPECT_THAT(Ids(drained), ElementsAre("1", "2", "3"));
  for (size_t i = 0; i < drained.messages.size(); ++i) {
    const SseMessage& message = drained.messages[i];
    EXPECT_EQ(message.event, "tick");
    EXPECT_EQ(message.retry_ms, std::nullopt);
    EXPECT_EQ(message.data->find('\n'), std::string::npos);
    StreamResponse response = ParseData(message);
    EXPECT_EQ(response.seq(), i + 1);
    EXPECT_EQ(response.key(), "k" + std::to_string(i + 1));
    EXPECT_EQ(response.request().count(), 3);
  }
}

TEST_F(StreamMethodTest, RetryOnlyOnTheFirstEvent) {
  StreamMethodOptions options;
  options.retry_ms = 2500;
  auto method = MakeMethod(options);
  ASSERT_NE(method, nullptr);
  Drained drained = Run(*method, {{"count", "3"}});
  ASSERT_EQ(drained.messages.size(), 3u);
  EXPECT_EQ(drained.messages[0].retry_ms, 2500);
  EXPECT_EQ(drained.messages[1].retry_ms, std::nullopt);
  EXPECT_EQ(drained.messages[2].retry_ms, std::nullopt);
  EXPECT_EQ(drained.messages[0].event, std::nullopt);
}

TEST_F(StreamMethodTest, SixtyFourBitValuesStayExact) {
  StreamMethodOptions options;
  options.id_field = "big";
  auto method = MakeMethod(options);
  ASSERT_NE(method, nullptr);
  Drained drained = Run(*method, {{"count", "1"},
                                  {"echo.a_int64", "9007199254740993"},
                                  {"echo.a_uint64", "18446744073709551615"}});
  ASSERT_EQ(drained.messages.size(), 1u);
  const std::string& data = *drained.messages[0].data;
  EXPECT_THAT(data, HasSubstr("\"big\":\"9007199254740993\""));
  EXPECT_THAT(data, HasSubstr("\"aUint64\":\"18446744073709551615\""));
  EXPECT_EQ(drained.messages[0].id, "9007199254740993");
  EXPECT_EQ(ParseData(drained.messages[0]).request().echo().a_uint64(),
            18446744073709551615u);
}

TEST_F(StreamMethodTest, JsonOptionsApply) {
  StreamMethodOptions options;
  options.json.use_proto_names = true;
  options.json.emit_defaults = true;
  options.json.enums_as_ints = true;
  auto method = MakeMethod(options);
  ASSERT_NE(method, nullptr);
  Drained drained = Run(*method, {{"count", "1"}, {"echo.color", "COLOR_RED"}});
  ASSERT_EQ(drained.messages.size(), 1u);
  const std::string& data = *drained.messages[0].data;
  EXPECT_THAT(data, HasSubstr("\"has_last_event_id_metadata\":false"));
  EXPECT_THAT(data, HasSubstr("\"color\":1"));
}

TEST_F(StreamMethodTest, IdsFromTheIdField) {
  StreamMethodOptions options;
  options.id_field = "key";
  auto method = MakeMethod(options);
  ASSERT_NE(method, nullptr);
  Drained drained =
      Run(*method, {{"count", "3"}, {"key_prefix", "evt-"}}, std::string("41"));
  EXPECT_TRUE(drained.status.ok()) << drained.status;
  // With an id_field, a Last-Event-ID does not renumber anything.
  EXPECT_THAT(Ids(drained), ElementsAre("evt-1", "evt-2", "evt-3"));
}

TEST_F(StreamMethodTest, SequenceIdsContinueAfterANumericLastEventId) {
  auto method = MakeMethod(StreamMethodOptions());
  ASSERT_NE(method, nullptr);
  EXPECT_THAT(Ids(Run(*method, {{"count", "2"}}, std::string("41"))),
              ElementsAre("42", "43"));
  EXPECT_THAT(Ids(Run(*method, {{"count", "2"}}, std::string("abc"))),
              ElementsAre("1", "2"));
  EXPECT_THAT(Ids(Run(*method, {{"count", "2"}}, std::string("-5"))),
              ElementsAre("1", "2"));
  EXPECT_THAT(Ids(Run(*method, {{"count", "2"}}, std::string(""))),
              ElementsAre("1", "2"));
  // Without resume_field the request itself is untouched.
  EXPECT_EQ(backend_->calls()[0].request.after_seq(), 0u);
}

TEST_F(StreamMethodTest, LastEventIdMetadataAbsentVersusEmpty) {
  auto method = MakeMethod(StreamMethodOptions());
  ASSERT_NE(method, nullptr);
  Drained absent = Run(*method, {{"count", "1"}}, std::nullopt);
  Drained empty = Run(*method, {{"count", "1"}}, std::string(""));
  Drained given = Run(*method, {{"count", "1"}}, std::string("x-7"));
  ASSERT_EQ(absent.messages.size(), 1u);
  ASSERT_EQ(empty.messages.size(), 1u);
  ASSERT_EQ(given.messages.size(), 1u);
  EXPECT_FALSE(ParseData(absent.messages[0]).has_last_event_id_metadata());
  EXPECT_TRUE(ParseData(empty.messages[0]).has_last_event_id_metadata());
  EXPECT_EQ(ParseData(empty.messages[0]).last_event_id_metadata(), "");
  EXPECT_EQ(ParseData(given.messages[0]).last_event_id_metadata(), "x-7");

  auto calls = backend_->calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].metadata.count("last-event-id"), 0u);
  ASSERT_EQ(calls[1].metadata.count("last-event-id"), 1u);
  EXPECT_EQ(calls[1].metadata.find("last-event-id")->second, "");
}

TEST_F(StreamMethodTest, ResumeFieldIsSetFromLastEventId) {
  StreamMethodOptions options;
  options.resume_field = "after_seq";
  options.id_field = "seq";
  auto method = MakeMethod(options);
  ASSERT_NE(method, nullptr);
  Drained drained = Run(*method, {{"count", "2"}}, std::string("41"));
  EXPECT_THAT(Ids(drained), ElementsAre("42", "43"));
  ASSERT_EQ(backend_->calls().size(), 1u);
  EXPECT_EQ(backend_->calls()[0].request.after_seq(), 41u);

  // An empty Last-Event-ID leaves the field alone.
  Drained fresh = Run(*method, {{"count", "1"}}, std::string(""));
  EXPECT_THAT(Ids(fresh), ElementsAre("1"));
  EXPECT_EQ(backend_->calls()[1].request.after_seq(), 0u);
}

TEST_F(StreamMethodTest, UnusableLastEventIdMakesNoCall) {
  StreamMethodOptions options;
  options.resume_field = "after_seq";
  auto method = MakeMethod(options);
  ASSERT_NE(method, nullptr);
  auto request = method->BuildRequest({{"count", "1"}});
  ASSERT_TRUE(request.ok()) << request.status();

  for (const std::string& bad : {std::string("abc"), std::string("-1"),
                                 std::string("99999999999999999999")}) {
    auto stream = method->Open(**request, bad, {});
    EXPECT_EQ(stream.status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
    EXPECT_THAT(std::string(stream.status().message()),
                HasSubstr("Last-Event-ID"))
        << bad;
  }
  auto unprintable = method->Open(**request, std::string("4\x01"), {});
  EXPECT_EQ(unprintable.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(unprintable.status().message()),
              HasSubstr("Last-Event-ID"));
  auto bad_metadata = method->Open(**request, std::nullopt, {{"X-Up", "1"}});
  EXPECT_EQ(bad_metadata.status().code(), absl::StatusCode::kInvalidArgument);

  // A good call afterwards is the only one the backend ever saw.
  auto stream = method->Open(**request, std::string("7"), {});
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_TRUE(Drain(**stream).status.ok());
  ASSERT_EQ(backend_->calls().size(), 1u);
  EXPECT_EQ(backend_->calls()[0].request.after_seq(), 7u);
}

TEST_F(StreamMethodTest, ForwardsExtraMetadata) {
  auto method = MakeMethod(StreamMethodOptions());
  ASSERT_NE(method, nullptr);
  Run(*method, {{"count", "1"}}, std::nullopt, {{"x-user", "bob"}});
  ASSERT_EQ(backend_->calls().size(), 1u);
  auto metadata = backend_->calls()[0].metadata;
  ASSERT_EQ(metadata.count("x-user"), 1u);
  EXPECT_EQ(metadata.find("x-user")->second, "bob");
}

TEST_F(StreamMethodTest, BuildRequestRejectsBadBindings) {
  auto method = MakeMethod(StreamMethodOptions());
  ASSERT_NE(method, nullptr);
  auto unknown = method->BuildRequest({{"nope", "1"}});
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  auto bad_value = method->BuildRequest({{"count", "12x"}});
  EXPECT_EQ(bad_value.status().code(), absl::StatusCode::kInvalidArgument);
  auto good = method->BuildRequest({{"count", "12"}, {"echo.names", "a"}});
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ((*good)->GetDescriptor()->full_name(), "testing.v1.StreamRequest");
  EXPECT_TRUE(backend_->calls().empty());
}

TEST_F(StreamMethodTest, AcceptsAGeneratedRequestOfTheSameType) {
  auto method = MakeMethod(StreamMethodOptions());
  ASSERT_NE(method, nullptr);
  ::testing::v1::StreamRequest request;
  request.set_count(2);
  auto stream = method->Open(request, std::nullopt, {});
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_THAT(Ids(Drain(**stream)), ElementsAre("1", "2"));

  auto wrong = method->Open(StreamResponse(), std::nullopt, {});
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(StreamMethodTest, BackendErrorsArePreserved) {
  auto method = MakeMethod(StreamMethodOptions());
  ASSERT_NE(method, nullptr);
  Drained drained = Run(
      *method,
      {{"count", "2"}, {"fail_code", "7"}, {"fail_message", "not for you"}});
  EXPECT_EQ(drained.messages.size(), 2u);
  EXPECT_EQ(drained.status, absl::PermissionDeniedError("not for you"));
}

TEST_F(StreamMethodTest, CancelAndDestroyCancelUpstream) {
  auto method = MakeMethod(StreamMethodOptions());
  ASSERT_NE(method, nullptr);
  auto request = method->BuildRequest({{"count", "1"}, {"hold_open", "true"}});
  ASSERT_TRUE(request.ok()) << request.status();

  auto stream = method->Open(**request, std::nullopt, {});
  ASSERT_TRUE(stream.ok()) << stream.status();
  SseMessage message;
  ASSERT_EQ((*stream)->Next(kLong, &message), NextResult::kMessage);
  EXPECT_EQ((*stream)->Next(absl::Milliseconds(50), &message),
            NextResult::kTimeout);
  std::thread canceller([&stream] { (*stream)->Cancel(); });
  EXPECT_EQ((*stream)->Next(kLong, &message), NextResult::kEnd);
  canceller.join();
  EXPECT_EQ((*stream)->FinalStatus().code(), absl::StatusCode::kCancelled);
  ASSERT_TRUE(backend_->WaitForCancelled(1, kLong));

  auto second = method->Open(**request, std::nullopt, {});
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_TRUE(backend_->WaitForCalls(2, kLong));
  second->reset();
  ASSERT_TRUE(backend_->WaitForCancelled(2, kLong));
  EXPECT_TRUE(backend_->calls()[1].cancelled);
}

TEST_F(StreamMethodTest, IdWithLineBreakEndsTheStreamWithInternal) {
  StreamMethodOptions options;
  options.id_field = "key";
  auto method = MakeMethod(options);
  ASSERT_NE(method, nullptr);
  for (const std::string& prefix :
       {std::string("a\r"), std::string("a\n"), std::string("a\0", 2)}) {
    Drained drained =
        Run(*method,
            {{"count", "3"}, {"hold_open", "true"}, {"key_prefix", prefix}});
    EXPECT_TRUE(drained.messages.empty());
    EXPECT_EQ(drained.status.code(), absl::StatusCode::kInternal);
    EXPECT_THAT(std::string(drained.status.message()), HasSubstr(kMethod));
  }
  // The held-open calls were cancelled, not left running.
  EXPECT_TRUE(backend_->WaitForCancelled(3, kLong));
}

TEST_F(StreamMethodTest, UnparsableResponseEndsTheStreamWithInternal) {
  // A schema that disagrees with the backend: StreamResponse.key (a string
  // on the wire) declared as a message, so "k1" cannot parse.
  google::protobuf::FileDescriptorSet set;
  for (const google::protobuf::FileDescriptor* file : schema_->files()) {
    file->CopyTo(set.add_file());
  }
  bool changed = false;
  for (auto& file : *set.mutable_file()) {
    for (auto& message : *file.mutable_message_type()) {
      if (message.name() != "StreamResponse") continue;
      for (auto& field : *message.mutable_field()) {
        if (field.name() != "key") continue;
        field.set_type(google::protobuf::FieldDescriptorProto::TYPE_MESSAGE);
        field.set_type_name(".testing.v1.Filter");
        changed = true;
      }
    }
  }
  ASSERT_TRUE(changed);
  auto skewed = Schema::FromDescriptorSet(set);
  ASSERT_TRUE(skewed.ok()) << skewed.status();
  auto method = MakeMethod(StreamMethodOptions(), skewed->get());
  ASSERT_NE(method, nullptr);
  Drained drained = Run(
      *method, {{"count", "2"}, {"hold_open", "true"}, {"key_prefix", "k"}});
  EXPECT_TRUE(drained.messages.empty());
  EXPECT_EQ(drained.status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(drained.status.message()), HasSubstr(kMethod));
  EXPECT_TRUE(backend_->WaitForCancelled(1, kLong));
}

TEST_F(StreamMethodTest, ServesManyRequestsConcurrently) {
  auto method = MakeMethod(StreamMethodOptions());
  ASSERT_NE(method, nullptr);
  constexpr int kThreads = 8;
  constexpr int kStreamsPerThread = 25;
  std::vector<std::thread> threads;
  std::vector<int> good(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kStreamsPerThread; ++i) {
        auto request = method->BuildRequest({{"count", "5"}});
        if (!request.ok()) continue;
        auto stream = method->Open(**request, std::to_string(i), {});
        if (!stream.ok()) continue;
        std::vector<std::string> ids;
        SseMessage message;
        while ((*stream)->Next(kLong, &message) == NextResult::kMessage) {
          ids.push_back(*message.id);
        }
        std::vector<std::string> expected;
        for (int k = 1; k <= 5; ++k) expected.push_back(std::to_string(i + k));
        if (ids == expected && (*stream)->FinalStatus().ok()) ++good[t];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(good[t], kStreamsPerThread);
  EXPECT_EQ(backend_->calls().size(),
            static_cast<size_t>(kThreads * kStreamsPerThread));
}

}  // namespace
}  // namespace sse_gateway
