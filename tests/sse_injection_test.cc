// SSE injection: a backend whose id_field values or string fields hold CR,
// LF, CRLF, NUL, U+2028 or whole "\n\ndata: forged" / "\r\rid: x" sequences
// must never make a browser see an extra event, field, id or type. The real
// gateway runs in-process in front of a real gRPC backend; each response is
// read over HTTP (chunked coding undone by httplib) and fed to the WHATWG-
// exact SseParser (core/sse_parser.h), whose output is exactly what an
// EventSource would dispatch. Meanwhile a healthy stream on the same gateway
// must go on undisturbed.

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "proto/testing/v1/testing.grpc.pb.h"
#include "tests/sse_test_client.h"
#include "tests/test_backend.h"
#include "tests/test_gateway.h"

namespace sse_gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr absl::Duration kPatience = absl::Seconds(30);

// Attacker-chosen id values and strings. Each would inject a field, an
// event or an id if written to the stream unescaped.
const std::vector<std::string>& HostileTexts() {
  static const auto* texts = new std::vector<std::string>{
      "\r",
      "\n",
      "\r\n",
      std::string("nul\0byte", 8),
      "\n\ndata: forged\n\n",
      "\r\rid: x\r\r",
      "x\r\nevent: forged\r\nid: forged\r\ndata: forged\r\n\r\n",
      "\n\nevent: x\ndata: x\n\n",
  };
  return *texts;
}

// Strings that must reach the page unchanged inside the JSON data.
const std::vector<std::string>& HostileDataTexts() {
  static const auto* texts = [] {
    auto* all = new std::vector<std::string>(HostileTexts());
    all->push_back("line1\nline2\rline3\r\nline4");
    all->push_back("sep\xE2\x80\xA8para\xE2\x80\xA9");  // U+2028, U+2029
    all->push_back(std::string("\0\0\0", 3));
    all->push_back(":comment\n\nretry: 1\n\n");
    return all;
  }();
  return *texts;
}

// Percent-encodes every byte outside the unreserved set.
std::string QueryEscape(absl::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' ||
        c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppendFormat(&out, "%%%02X", c);
    }
  }
  return out;
}

// `text` with control bytes escaped, for failure messages.
std::string Printable(absl::string_view text) { return absl::CHexEscape(text); }

// What a browser dispatches for `body` when it arrives one byte at a time:
// the same events whatever the split.
std::vector<SseEvent> ParseByteByByte(absl::string_view body) {
  SseParser parser;
  std::vector<SseEvent> events;
  for (char c : body) parser.Feed(absl::string_view(&c, 1), &events);
  return events;
}

// Parses an `end` event's data, {"code":N,"message":"..."}.
struct EndData {
  int code = -1;
  std::string message;
};
EndData ParseEnd(const std::string& json) {
  google::protobuf::Struct parsed;
  EndData end;
  if (!google::protobuf::util::JsonStringToMessage(json, &parsed).ok()) {
    ADD_FAILURE() << "end data is not JSON: " << json;
    return end;
  }
  end.code = static_cast<int>(parsed.fields().at("code").number_value());
  end.message = parsed.fields().at("message").string_value();
  return end;
}

// A testing.v1.TestService whose Stream sends a clean first message (key
// "1") and then `count - 1` messages with key = key_prefix + seq, so the
// gateway meets a hostile id after the response head was sent.
class CleanFirstKeyService final : public testing::v1::TestService::Service {
 public:
  grpc::Status Stream(
      grpc::ServerContext* context, const testing::v1::StreamRequest* request,
      grpc::ServerWriter<testing::v1::StreamResponse>* writer) override {
    for (int seq = 1; seq <= request->count() && !context->IsCancelled();
         ++seq) {
      testing::v1::StreamResponse response;
      response.set_seq(static_cast<uint64_t>(seq));
      response.set_key(seq == 1 ? "1"
                                : absl::StrCat(request->key_prefix(), seq));
      if (!writer->Write(response)) break;
    }
    return grpc::Status::OK;
  }
};

class SseInjectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backend_ = TestBackend::Start();
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &clean_first_port_);
    builder.RegisterService(&clean_first_service_);
    clean_first_server_ = builder.BuildAndStart();
    ASSERT_NE(clean_first_server_, nullptr);
    ASSERT_NE(clean_first_port_, 0);

    GatewayConfig config = TestGatewayConfig("");
    config.backend.clear();
    config.backends.push_back(
        BackendConfig{"backends[0]", "test", backend_->address()});
    config.backends.push_back(
        BackendConfig{"backends[1]", "clean_first",
                      absl::StrCat("127.0.0.1:", clean_first_port_)});
    config.access_log = "off";
    auto keyed = [](const std::string& backend) {
      return [backend](RouteConfig& r) {
        r.backend = backend;
        r.upstream.id_field = "key";
        r.upstream.event = "tick";
        r.upstream.retry_ms = 1000;
      };
    };
    config.routes.push_back(TestRoute("/keyed", keyed("test")));
    config.routes.push_back(TestRoute("/keyed_later", keyed("clean_first")));
    config.routes.push_back(TestRoute("/seq", [](RouteConfig& r) {
      r.backend = "test";
      r.upstream.id_field = "seq";
      r.upstream.event = "tick";
    }));
    gateway_ = StartTestGateway(config);
    ASSERT_NE(gateway_, nullptr);
    StartHealthyStream();
  }

  void TearDown() override {
    if (healthy_thread_.joinable()) {
      // The healthy stream must still be flowing after every hostile case.
      const int64_t seen = healthy_events_.load();
      const absl::Time deadline = absl::Now() + kPatience;
      while (healthy_events_.load() < seen + 5 && absl::Now() < deadline) {
        absl::SleepFor(absl::Milliseconds(10));
      }
      EXPECT_GE(healthy_events_.load(), seen + 5)
          << "the healthy stream stalled";
      stop_healthy_.store(true);
      healthy_thread_.join();
      absl::MutexLock lock(&healthy_mu_);
      EXPECT_THAT(healthy_errors_, IsEmpty());
      EXPECT_EQ(healthy_status_, 200);
    }
    if (gateway_) gateway_->Stop();
    if (clean_first_server_) {
      clean_first_server_->Shutdown(std::chrono::system_clock::now());
    }
    if (backend_) backend_->Shutdown();
  }

  // A long stream on /seq whose events must stay numbered 1, 2, 3... with
  // their own data, whatever the hostile requests next to it do.
  void StartHealthyStream() {
    healthy_thread_ = std::thread([this] {
      SseTestClient client("127.0.0.1", gateway_->port(), kPatience);
      int64_t expected = 1;
      SseResponse response = client.Get(
          "/seq?count=1000000&interval_ms=10&key_prefix=healthy-", {},
          [&](const SseEvent& event) {
            const std::string want_key = absl::StrCat("healthy-", expected);
            if (event.type != "tick" ||
                event.last_event_id != absl::StrCat(expected) ||
                !absl::StrContains(event.data,
                                   absl::StrCat("\"key\":\"", want_key))) {
              absl::MutexLock lock(&healthy_mu_);
              healthy_errors_.push_back(
                  absl::StrCat("event ", expected, ": type=", event.type,
                               " id=", Printable(event.last_event_id),
                               " data=", Printable(event.data)));
            }
            ++expected;
            healthy_events_.fetch_add(1);
            return !stop_healthy_.load();
          });
      absl::MutexLock lock(&healthy_mu_);
      healthy_status_ = response.status;
    });
    const absl::Time deadline = absl::Now() + kPatience;
    while (healthy_events_.load() < 3 && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    ASSERT_GE(healthy_events_.load(), 3) << "the healthy stream never started";
  }

  SseResponse Get(const std::string& target) {
    SseTestClient client("127.0.0.1", gateway_->port(), kPatience);
    return client.Get(target);
  }

  std::unique_ptr<TestBackend> backend_;
  CleanFirstKeyService clean_first_service_;
  int clean_first_port_ = 0;
  std::unique_ptr<grpc::Server> clean_first_server_;
  std::unique_ptr<Gateway> gateway_;

  std::thread healthy_thread_;
  std::atomic<int64_t> healthy_events_{0};
  std::atomic<bool> stop_healthy_{false};
  absl::Mutex healthy_mu_;
  std::vector<std::string> healthy_errors_ ABSL_GUARDED_BY(healthy_mu_);
  int healthy_status_ ABSL_GUARDED_BY(healthy_mu_) = 0;
};

// Every id of the stream is hostile, the first included: the call fails
// before the head is sent, so the answer is a plain HTTP error (EventSource
// stops) and not a single event or field reaches the parser.
TEST_F(SseInjectionTest, HostileFirstIdIsAnHttpErrorWithNoEvents) {
  size_t calls = backend_->calls().size();
  for (const std::string& prefix : HostileTexts()) {
    SCOPED_TRACE(Printable(prefix));
    SseResponse response =
        Get(absl::StrCat("/keyed?count=3&key_prefix=", QueryEscape(prefix)));
    // The hostile bytes did reach the backend, so the gateway really met them.
    ASSERT_TRUE(backend_->WaitForCalls(++calls, kPatience));
    EXPECT_EQ(backend_->calls().back().request.key_prefix(), prefix);

    EXPECT_EQ(response.status, 500);
    EXPECT_THAT(response.header("Content-Type"), HasSubstr("application/json"));
    EXPECT_THAT(response.events, IsEmpty());
    const EndData error = ParseEnd(response.body);
    EXPECT_EQ(error.code, 13);
    EXPECT_THAT(error.message, HasSubstr("CR, LF or NUL"));
    EXPECT_FALSE(absl::StrContains(response.body, "\n"));
    EXPECT_FALSE(absl::StrContains(response.body, "\r"));
    // Even read as an event stream, the body dispatches nothing.
    SseParser parser;
    std::vector<SseEvent> events;
    parser.Feed(response.body, &events);
    parser.Feed("\n\n", &events);
    EXPECT_THAT(events, IsEmpty());
    EXPECT_EQ(parser.last_event_id(), "");
  }
}

// A hostile id after a clean first event: the browser sees the clean event,
// then the documented final `end` event with code 13 (INTERNAL), and nothing
// of the hostile id: no forged event, field, id or type.
TEST_F(SseInjectionTest, HostileLaterIdEndsTheStreamWithTheDocumentedError) {
  for (const std::string& prefix : HostileTexts()) {
    SCOPED_TRACE(Printable(prefix));
    SseResponse response = Get(
        absl::StrCat("/keyed_later?count=3&key_prefix=", QueryEscape(prefix)));
    EXPECT_EQ(response.status, 200);
    EXPECT_TRUE(response.completed);
    ASSERT_EQ(response.events.size(), 2u) << Printable(response.body);
    const SseEvent& tick = response.events[0];
    EXPECT_EQ(tick.type, "tick");
    EXPECT_EQ(tick.last_event_id, "1");
    EXPECT_EQ(tick.data, R"({"seq":"1","key":"1"})");
    const SseEvent& end = response.events[1];
    EXPECT_EQ(end.type, "end");
    EXPECT_EQ(end.last_event_id, "1");  // `end` carries no id of its own.
    const EndData error = ParseEnd(end.data);
    EXPECT_EQ(error.code, 13);
    EXPECT_THAT(error.message,
                HasSubstr("the id field contains CR, LF or NUL"));
    EXPECT_EQ(response.reconnection_time_ms, 1000);
    EXPECT_EQ(ParseByteByByte(response.body), response.events);
    EXPECT_FALSE(absl::StrContains(response.body, "forged"));
    EXPECT_FALSE(absl::StrContains(response.body, "id: x"));
  }
}

// Hostile strings in the message (and in the backend's status message) stay
// inside one data line of one event: exactly `count` ticks with their own
// ids and the exact strings back after JSON parsing, then a single `end`.
TEST_F(SseInjectionTest, HostileDataStringsStayInsideTheirEvent) {
  constexpr int kCount = 3;
  size_t calls = backend_->calls().size();
  for (const std::string& text : HostileDataTexts()) {
    SCOPED_TRACE(Printable(text));
    const std::string escaped = QueryEscape(text);
    SseResponse response = Get(absl::StrFormat(
        "/seq?count=%d&key_prefix=%s&echo.a_string=%s&echo.names=%s"
        "&fail_code=9&fail_message=%s",
        kCount, escaped, escaped, escaped, escaped));
    ASSERT_TRUE(backend_->WaitForCalls(++calls, kPatience));
    EXPECT_EQ(backend_->calls().back().request.echo().a_string(), text);

    EXPECT_EQ(response.status, 200);
    ASSERT_EQ(response.events.size(), kCount + 1u) << Printable(response.body);
    for (int i = 0; i < kCount; ++i) {
      const SseEvent& event = response.events[i];
      EXPECT_EQ(event.type, "tick");
      EXPECT_EQ(event.last_event_id, absl::StrCat(i + 1));
      EXPECT_FALSE(absl::StrContains(event.data, "\n"));
      testing::v1::StreamResponse message;
      ASSERT_TRUE(
          google::protobuf::util::JsonStringToMessage(event.data, &message)
              .ok())
          << Printable(event.data);
      EXPECT_EQ(message.seq(), static_cast<uint64_t>(i + 1));
      EXPECT_EQ(message.key(), absl::StrCat(text, i + 1));
      EXPECT_EQ(message.request().echo().a_string(), text);
      ASSERT_EQ(message.request().echo().names_size(), 1);
      EXPECT_EQ(message.request().echo().names(0), text);
      EXPECT_EQ(message.request().fail_message(), text);
    }
    EXPECT_EQ(ParseByteByByte(response.body), response.events);
    const SseEvent& end = response.events.back();
    EXPECT_EQ(end.type, "end");
    EXPECT_EQ(end.last_event_id, absl::StrCat(kCount));
    const EndData error = ParseEnd(end.data);
    EXPECT_EQ(error.code, 9);
    EXPECT_EQ(error.message, text);
  }
}

}  // namespace
}  // namespace sse_gateway
