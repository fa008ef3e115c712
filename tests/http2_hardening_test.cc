// Hostile HTTP/2 clients against the real Gateway (tests/h2_test_client.h's
// raw connection writes exactly the frames a test builds): rapid reset
// (CVE-2023-44487), PING and SETTINGS floods, a header list over the limit,
// a CONTINUATION flood (CVE-2024-27316), more streams than advertised, and
// requests an HTTP/1 head could not carry. Each must cost the gateway no
// unbounded upstream calls or memory, end only the offender's connection or
// stream, and leave a well-behaved client's stream on another connection
// running.

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/h2_test_client.h"
#include "tests/test_backend.h"
#include "tests/test_gateway.h"

namespace sse_gateway {
namespace {

constexpr absl::Duration kPatience = absl::Seconds(60);

class Http2HardeningTest : public GatewayTest {
 protected:
  void StartHttp2(const std::function<void(Http2Config&)>& edit = nullptr) {
    StartGateway([&](GatewayConfig& config) {
      config.http2.enabled = true;
      if (edit) edit(config.http2);
      config.routes.push_back(TestRoute("/stream"));
    });
  }

  std::unique_ptr<H2RawConnection> Raw(H2RawOptions options = {}) {
    absl::StatusOr<std::unique_ptr<H2RawConnection>> raw =
        H2RawConnection::Connect(port(), options);
    EXPECT_TRUE(raw.ok()) << raw.status();
    return raw.ok() ? *std::move(raw) : nullptr;
  }

  // A well-behaved client with one endless stream that has had its first
  // event: the bystander that the attack must not disturb.
  struct Bystander {
    std::unique_ptr<H2TestClient> client;
    int32_t stream = 0;
    size_t events() const { return client->stream(stream).events.size(); }
  };
  Bystander StartBystander() {
    Bystander bystander;
    absl::StatusOr<std::unique_ptr<H2TestClient>> client =
        H2TestClient::Connect(port());
    EXPECT_TRUE(client.ok()) << client.status();
    if (!client.ok()) return bystander;
    bystander.client = *std::move(client);
    bystander.stream = bystander.client->StartStream(
        "GET", "/stream?count=100000&interval_ms=5");
    EXPECT_TRUE(bystander.client->PumpUntil(
        [&] { return bystander.events() > 0; }, kPatience));
    return bystander;
  }
  // The bystander keeps getting events: 20 more arrive.
  void ExpectBystanderFlows(Bystander& bystander) {
    ASSERT_NE(bystander.client, nullptr);
    const size_t before = bystander.events();
    EXPECT_TRUE(bystander.client->PumpUntil(
        [&] { return bystander.events() >= before + 20; }, kPatience));
    EXPECT_FALSE(bystander.client->stream(bystander.stream).reset);
    EXPECT_FALSE(bystander.client->closed());
  }
};

// HEADERS then RST_STREAM, thousands of times in a tight loop: the gateway
// opens (almost) no upstream calls (a stream reset in the same read as its
// HEADERS is never dispatched), ends the connection with GOAWAY once past
// the reset budget, and another connection's stream runs on.
TEST_F(Http2HardeningTest, RapidResetOpensBoundedCallsAndStarvesNoOne) {
  ASSERT_NO_FATAL_FAILURE(StartHttp2());
  Bystander bystander = StartBystander();
  const size_t calls_before = backend_->calls().size();

  std::unique_ptr<H2RawConnection> raw = Raw();
  ASSERT_NE(raw, nullptr);
  raw->SendPreface();
  constexpr int kStreams = 5000;
  std::string batch;
  int sent = 0;
  for (uint32_t id = 1; sent < kStreams; id += 2, ++sent) {
    absl::StatusOr<std::string> block =
        raw->encoder().EncodeRequest("GET", "/stream?count=1&hold_open=true");
    ASSERT_TRUE(block.ok());
    batch += H2HeadersFrame(id, *block);
    batch += H2RstStreamFrame(id, NGHTTP2_CANCEL);
    if (batch.size() > 16 * 1024) {
      raw->SendRaw(batch);
      batch.clear();
      raw->Pump(absl::ZeroDuration());
      if (raw->peer_closed()) break;
    }
  }
  raw->SendRaw(batch);
  ASSERT_TRUE(raw->WaitForPeerClose(kPatience)) << raw->DebugString();
  const std::optional<H2GoAway> goaway = raw->goaway();
  ASSERT_TRUE(goaway.has_value()) << raw->DebugString();
  // nghttp2's reset-rate limit says INTERNAL_ERROR.
  EXPECT_NE(goaway->error_code, NGHTTP2_NO_ERROR)
      << H2ErrorCodeName(goaway->error_code);

  const size_t opened = backend_->calls().size() - calls_before;
  std::printf(
      "[measured] rapid reset: %d HEADERS+RST_STREAM pairs sent before the "
      "GOAWAY, %zu upstream calls opened\n",
      sent, opened);
  RecordProperty("rapid_reset_upstream_calls", static_cast<int>(opened));
  // The reset budget (1000) bounds it even if every HEADERS were read alone.
  EXPECT_LE(opened, 1000u);
  // Whatever was opened is cancelled.
  EXPECT_TRUE(WaitForActiveStreams(1));
  ExpectBystanderFlows(bystander);
}

// A client that floods PINGs (or SETTINGS) and never reads the
// acknowledgements: its connection is closed once the queued
// acknowledgements pass the limit, not grown without bound.
TEST_F(Http2HardeningTest, PingAndSettingsFloodsCloseTheConnection) {
  ASSERT_NO_FATAL_FAILURE(StartHttp2());
  Bystander bystander = StartBystander();
  for (const bool settings : {false, true}) {
    SCOPED_TRACE(settings ? "SETTINGS flood" : "PING flood");
    H2RawOptions options;
    options.auto_ack_ping = false;
    options.auto_ack_settings = false;
    // Reads nothing much: the gateway's acknowledgements back up.
    options.transport.receive_buffer_bytes = 4096;
    std::unique_ptr<H2RawConnection> raw = Raw(options);
    ASSERT_NE(raw, nullptr);
    raw->SendPreface();
    const std::string frame =
        settings ? H2SettingsFrame({{NGHTTP2_SETTINGS_ENABLE_PUSH, 0}})
                 : H2PingFrame(42);
    std::string batch;
    for (int i = 0; i < 4096; ++i) batch += frame;
    // Writes (without reading what the gateway sends) until the gateway
    // closes; a gateway that kept up with the flood would take all of it.
    const absl::Time started = absl::Now();
    const absl::Time give_up = started + kPatience;
    while (absl::Now() < give_up && raw->Flush(kPatience)) {
      raw->SendRaw(batch);
    }
    EXPECT_TRUE(raw->WaitForPeerClose(kPatience));
    std::printf("[measured] %s: connection closed %s after it began\n",
                settings ? "SETTINGS flood" : "PING flood",
                absl::FormatDuration(absl::Now() - started).c_str());
  }
  ExpectBystanderFlows(bystander);
}

// The flood limit counts acknowledgements a client does not read: one that
// reads them may send a burst of thousands.
TEST_F(Http2HardeningTest, AReadingClientMayPingInBursts) {
  ASSERT_NO_FATAL_FAILURE(StartHttp2());
  std::unique_ptr<H2RawConnection> raw = Raw();
  ASSERT_NE(raw, nullptr);
  raw->SendPreface();
  std::string burst;
  for (int i = 0; i < 5000; ++i) burst += H2PingFrame(i);
  raw->SendRaw(burst);
  ASSERT_TRUE(raw->PumpUntil(
      [&] { return raw->CountFrames(NGHTTP2_PING) >= 5000; }, kPatience))
      << raw->CountFrames(NGHTTP2_PING) << " PING ACKs";
  EXPECT_FALSE(raw->peer_closed());
  EXPECT_FALSE(raw->goaway().has_value());
}

// A request whose decoded header list is over max_header_list_bytes gets
// 431 with a JSON message and no upstream call; the connection goes on.
TEST_F(Http2HardeningTest, HeaderListOverTheLimitIs431) {
  ASSERT_NO_FATAL_FAILURE(StartHttp2(
      [](Http2Config& http2) { http2.max_header_list_bytes = 8192; }));
  absl::StatusOr<std::unique_ptr<H2TestClient>> connected =
      H2TestClient::Connect(port());
  ASSERT_TRUE(connected.ok()) << connected.status();
  H2TestClient& client = **connected;
  const int32_t big = client.StartStream("GET", "/stream?count=1",
                                         {{"x-big", std::string(9000, 'a')}});
  ASSERT_GT(big, 0);
  ASSERT_TRUE(
      client.PumpUntil([&] { return client.stream(big).ended; }, kPatience));
  EXPECT_EQ(client.stream(big).status, 431);
  EXPECT_EQ(client.stream(big).header("content-type"), "application/json");
  EXPECT_THAT(client.stream(big).body,
              ::testing::HasSubstr("larger than 8192 bytes"));
  // Many fields adding up to too much, too.
  H2HeaderList many;
  for (int i = 0; i < 300; ++i) many.push_back({absl::StrCat("x-", i), "v"});
  const int32_t many_id = client.StartStream("GET", "/stream?count=1", many);
  ASSERT_TRUE(client.PumpUntil([&] { return client.stream(many_id).ended; },
                               kPatience));
  EXPECT_EQ(client.stream(many_id).status, 431);
  EXPECT_TRUE(backend_->calls().empty());
  // The connection is fine.
  const int32_t fine = client.StartStream("GET", "/stream?count=2");
  ASSERT_TRUE(
      client.PumpUntil([&] { return client.stream(fine).ended; }, kPatience));
  EXPECT_EQ(client.stream(fine).status, 200);
  EXPECT_EQ(backend_->calls().size(), 1u);
}

// HEADERS without END_HEADERS followed by endless CONTINUATION frames: the
// connection is closed (GOAWAY) after a few, no call is made.
TEST_F(Http2HardeningTest, ContinuationFloodClosesTheConnection) {
  ASSERT_NO_FATAL_FAILURE(StartHttp2());
  Bystander bystander = StartBystander();
  const size_t calls_before = backend_->calls().size();
  std::unique_ptr<H2RawConnection> raw = Raw();
  ASSERT_NE(raw, nullptr);
  raw->SendPreface();
  absl::StatusOr<std::string> block =
      raw->encoder().EncodeRequest("GET", "/stream?count=1");
  ASSERT_TRUE(block.ok());
  // The request's block, then header fields that never end.
  raw->SendRaw(H2HeadersFrame(1, *block, NGHTTP2_FLAG_END_STREAM));
  absl::StatusOr<std::string> filler =
      raw->encoder().Encode({{"x-filler", std::string(100, 'f')}});
  ASSERT_TRUE(filler.ok());
  int sent = 0;
  for (; sent < 100000 && !raw->peer_closed(); ++sent) {
    raw->SendRaw(H2ContinuationFrame(1, *filler));
    if (sent % 64 == 0) raw->Pump(absl::ZeroDuration());
  }
  ASSERT_TRUE(raw->WaitForPeerClose(kPatience)) << raw->DebugString();
  // A GOAWAY is sent; a client that keeps writing
  // may see the connection reset before it reads it.
  std::printf(
      "[measured] CONTINUATION flood: closed (%s) after at most %d frames\n",
      raw->goaway().has_value()
          ? H2ErrorCodeName(raw->goaway()->error_code).c_str()
          : "reset before the GOAWAY was read",
      sent);
  if (raw->goaway().has_value()) {
    EXPECT_NE(raw->goaway()->error_code, NGHTTP2_NO_ERROR);
  }
  EXPECT_EQ(backend_->calls().size(), calls_before);
  ExpectBystanderFlows(bystander);
}

// More concurrent streams than SETTINGS_MAX_CONCURRENT_STREAMS. Before the
// client acknowledged the gateway's SETTINGS, the extra ones are refused
// (RST_STREAM REFUSED_STREAM, RFC 9113 5.1.2) and the connection goes on;
// after, the client breaks the protocol and nghttp2 ends the connection
// (GOAWAY PROTOCOL_ERROR, last stream 7). Either way no call is made for the
// extra streams, and a bystander is not disturbed.
TEST_F(Http2HardeningTest, StreamsBeyondTheAdvertisedLimit) {
  ASSERT_NO_FATAL_FAILURE(
      StartHttp2([](Http2Config& http2) { http2.max_concurrent_streams = 4; }));
  Bystander bystander = StartBystander();
  for (const bool acknowledged : {false, true}) {
    SCOPED_TRACE(acknowledged ? "SETTINGS acknowledged" : "not acknowledged");
    const size_t calls_before = backend_->calls().size();
    H2RawOptions options;
    options.auto_ack_settings = acknowledged;
    std::unique_ptr<H2RawConnection> raw = Raw(options);
    ASSERT_NE(raw, nullptr);
    raw->SendPreface();
    ASSERT_NE(raw->WaitForFrame(NGHTTP2_SETTINGS, 0, kPatience), nullptr);
    ASSERT_TRUE(raw->PingRoundTrip(kPatience));
    for (uint32_t id = 1; id <= 11; id += 2) {
      ASSERT_TRUE(
          raw->SendRequest(id, "GET", "/stream?count=1&hold_open=true").ok());
    }
    if (!acknowledged) {
      ASSERT_TRUE(raw->PumpUntil(
          [&] { return raw->CountFrames(NGHTTP2_RST_STREAM) >= 2; }, kPatience))
          << raw->DebugString();
      for (int32_t refused : {9, 11}) {
        const H2ReceivedFrame* reset =
            raw->FindFrame(NGHTTP2_RST_STREAM, refused);
        ASSERT_NE(reset, nullptr) << raw->DebugString();
        EXPECT_EQ(reset->error_code, NGHTTP2_REFUSED_STREAM);
      }
      ASSERT_TRUE(raw->PumpUntil(
          [&] { return raw->CountFrames(NGHTTP2_HEADERS) >= 4; }, kPatience));
      EXPECT_TRUE(raw->PingRoundTrip(kPatience));
      EXPECT_FALSE(raw->peer_closed());
    } else {
      ASSERT_TRUE(raw->WaitForPeerClose(kPatience)) << raw->DebugString();
      ASSERT_TRUE(raw->goaway().has_value()) << raw->DebugString();
      EXPECT_EQ(raw->goaway()->error_code, NGHTTP2_PROTOCOL_ERROR);
      EXPECT_EQ(raw->goaway()->last_stream_id, 7);
    }
    EXPECT_LE(backend_->calls().size() - calls_before, 4u);
    raw->Close();
    EXPECT_TRUE(WaitForActiveStreams(1));
  }
  ExpectBystanderFlows(bystander);
}

// Requests an HTTP/1 head could not carry, or that HTTP/2 calls malformed:
// each gets 400 or RST_STREAM, none reaches the backend, and the
// connection goes on.
TEST_F(Http2HardeningTest, MalformedRequestsAreRefusedWithoutACall) {
  ASSERT_NO_FATAL_FAILURE(StartHttp2());
  std::unique_ptr<H2RawConnection> raw = Raw();
  ASSERT_NE(raw, nullptr);
  raw->SendPreface();
  const std::vector<H2HeaderList> requests = {
      {{":method", "GET"}, {":scheme", "http"}, {":path", "/stream?a b"}},
      {{":method", "GET"}, {":scheme", "http"}, {":path", "/stream\x01"}},
      {{":method", "GET"}, {":scheme", "http"}, {":path", "stream"}},
      {{":method", "GET"}, {":scheme", "http"}},
      {{":method", "GET"},
       {":scheme", "http"},
       {":path", "/stream?count=1"},
       {"connection", "close"}},
      {{":method", "GET"},
       {":scheme", "http"},
       {":path", "/stream?count=1"},
       {"X-Upper", "1"}},
      {{":method", "GET"},
       {":scheme", "http"},
       {":path", "/stream?count=1"},
       {"x-evil", "a\r\nx-injected: 1"}},
      {{":method", "GET"},
       {":scheme", "http"},
       {":path", "/stream?count=1"},
       {"x-nul", std::string("a\0b", 3)}},
      {{":method", "GET"},
       {":scheme", "http"},
       {":path", "/stream?count=1"},
       {"transfer-encoding", "chunked"}},
      {{"x-first", "1"},
       {":method", "GET"},
       {":scheme", "http"},
       {":path", "/stream?count=1"}},
  };
  uint32_t id = 1;
  std::vector<uint32_t> ids;
  for (const H2HeaderList& request : requests) {
    absl::StatusOr<std::string> block = raw->encoder().Encode(request);
    ASSERT_TRUE(block.ok());
    raw->SendRaw(H2HeadersFrame(id, *block));
    ids.push_back(id);
    id += 2;
  }
  ASSERT_TRUE(raw->PumpUntil(
      [&] {
        for (uint32_t stream : ids) {
          if (raw->FindFrame(NGHTTP2_RST_STREAM, stream) == nullptr &&
              raw->FindFrame(NGHTTP2_HEADERS, stream) == nullptr) {
            return false;
          }
        }
        return true;
      },
      kPatience))
      << raw->DebugString();
  for (uint32_t stream : ids) {
    const H2ReceivedFrame* headers = raw->FindFrame(NGHTTP2_HEADERS, stream);
    if (headers == nullptr) continue;  // Reset.
    std::string status;
    for (const auto& [name, value] : headers->headers) {
      if (name == ":status") status = value;
    }
    EXPECT_EQ(status, "400") << "stream " << stream;
  }
  EXPECT_TRUE(backend_->calls().empty());
  // The connection still serves a good request.
  ASSERT_TRUE(raw->SendRequest(id, "GET", "/stream?count=1").ok());
  ASSERT_NE(raw->WaitForFrame(NGHTTP2_HEADERS, id, kPatience), nullptr)
      << raw->DebugString();
  EXPECT_TRUE(backend_->WaitForCalls(1, kPatience));
}

}  // namespace
}  // namespace sse_gateway
