// Backends through the real gateway and real gRPC backends: TLS, mTLS, the
// server-name override, several backends, and channel pools against a
// backend that limits concurrent streams per HTTP/2 connection.

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/raw_http_client.h"
#include "tests/sse_test_client.h"
#include "tests/test_backend.h"
#include "tests/test_certificates.h"
#include "tests/test_environment.h"
#include "tests/test_gateway.h"

namespace sse_gateway {
namespace {

using ::testing::HasSubstr;

class BackendsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    certs_ = TestCertificates::Shared();
    ASSERT_NE(certs_, nullptr);
  }

  void TearDown() override {
    if (gateway_) gateway_->Stop();
    for (auto& backend : backends_) backend->Shutdown();
  }

  // A TLS backend serving `cert`/`key`; requiring client certificates
  // signed by the test CA when `require_client_cert`.
  TestBackend* StartTlsBackend(const std::string& cert, const std::string& key,
                               bool require_client_cert) {
    TestBackend::Options options;
    options.tls_cert_chain = ReadFileOrEmpty(cert);
    options.tls_private_key = ReadFileOrEmpty(key);
    if (require_client_cert) {
      options.tls_client_ca = ReadFileOrEmpty(certs_->ca_cert);
    }
    backends_.push_back(TestBackend::Start(options));
    return backends_.back().get();
  }

  // backend_tls trusting the test CA.
  static BackendTlsConfig TrustTestCa() {
    BackendTlsConfig tls;
    tls.key = "backend_tls";
    tls.ca_file = certs_->ca_cert;
    return tls;
  }

  // Starts a gateway in front of `address` with `tls`, serving /s.
  void StartGateway(const std::string& address,
                    std::optional<BackendTlsConfig> tls) {
    GatewayConfig config = TestGatewayConfig(address);
    config.backend_tls = std::move(tls);
    config.routes.push_back(TestRoute("/s"));
    StartGateway(config);
  }

  void StartGateway(const GatewayConfig& config) {
    gateway_ = StartTestGateway(config);
    ASSERT_NE(gateway_, nullptr);
  }

  SseResponse Get(const std::string& target) {
    SseTestClient client("127.0.0.1", gateway_->port());
    return client.Get(target);
  }

  // Expects /s?count=2 to stream two events and end cleanly.
  void ExpectStreams() {
    SseResponse response = Get("/s?count=2&key_prefix=k");
    EXPECT_EQ(response.status, 200) << response.body;
    ASSERT_EQ(response.events.size(), 3u) << response.body;
    EXPECT_THAT(response.events[0].data, HasSubstr("\"key\":\"k1\""));
    EXPECT_THAT(response.events[1].data, HasSubstr("\"key\":\"k2\""));
    EXPECT_EQ(response.events[2].type, "end");
    EXPECT_EQ(response.events[2].data, "{\"code\":0,\"message\":\"\"}");
  }

  // Expects /s to fail before any upstream message with 503 (UNAVAILABLE).
  void ExpectUnavailable() {
    SseResponse response = Get("/s?count=2");
    EXPECT_EQ(response.status, 503) << response.body;
    EXPECT_THAT(response.body, HasSubstr("\"code\":14"));
  }

  static const TestCertificates* certs_;
  std::vector<std::unique_ptr<TestBackend>> backends_;
  std::unique_ptr<Gateway> gateway_;
};

const TestCertificates* BackendsTest::certs_ = nullptr;

TEST_F(BackendsTest, TlsToTheBackend) {
  TestBackend* backend =
      StartTlsBackend(certs_->server_cert, certs_->server_key,
                      /*require_client_cert=*/false);
  StartGateway(backend->address(), TrustTestCa());
  ExpectStreams();
  EXPECT_EQ(backend->calls().size(), 1u);
  SseResponse ready = Get("/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_THAT(ready.body, HasSubstr("\"channels\":[\"ready\"]"));
}

TEST_F(BackendsTest, PlaintextToATlsBackendIsUnavailable) {
  TestBackend* backend =
      StartTlsBackend(certs_->server_cert, certs_->server_key,
                      /*require_client_cert=*/false);
  StartGateway(backend->address(), std::nullopt);
  ExpectUnavailable();
  EXPECT_EQ(Get("/readyz").status, 503);
}

TEST_F(BackendsTest, TlsWithAnUntrustedCaIsUnavailable) {
  TestBackend* backend =
      StartTlsBackend(certs_->server_cert, certs_->server_key,
                      /*require_client_cert=*/false);
  BackendTlsConfig tls = TrustTestCa();
  tls.ca_file = certs_->client_cert;  // A PEM certificate, but not the CA.
  StartGateway(backend->address(), tls);
  ExpectUnavailable();
  EXPECT_TRUE(backend->calls().empty());
}

TEST_F(BackendsTest, MutualTlsWithAClientCertificate) {
  TestBackend* backend =
      StartTlsBackend(certs_->server_cert, certs_->server_key,
                      /*require_client_cert=*/true);
  BackendTlsConfig tls = TrustTestCa();
  tls.cert_file = certs_->client_cert;
  tls.key_file = certs_->client_key;
  StartGateway(backend->address(), tls);
  ExpectStreams();
  EXPECT_EQ(backend->calls().size(), 1u);
}

TEST_F(BackendsTest, MutualTlsWithoutAClientCertificateIsUnavailable) {
  TestBackend* backend =
      StartTlsBackend(certs_->server_cert, certs_->server_key,
                      /*require_client_cert=*/true);
  StartGateway(backend->address(), TrustTestCa());
  ExpectUnavailable();
  EXPECT_TRUE(backend->calls().empty());
}

TEST_F(BackendsTest, ServerNameOverride) {
  // The certificate names only backend.internal, not 127.0.0.1.
  TestBackend* backend =
      StartTlsBackend(certs_->other_server_cert, certs_->other_server_key,
                      /*require_client_cert=*/false);
  BackendTlsConfig tls = TrustTestCa();
  tls.server_name = TestCertificates::kOtherServerName;
  StartGateway(backend->address(), tls);
  ExpectStreams();
  EXPECT_EQ(backend->calls().size(), 1u);
}

TEST_F(BackendsTest, WithoutServerNameOverrideTheNameMismatchIsUnavailable) {
  TestBackend* backend =
      StartTlsBackend(certs_->other_server_cert, certs_->other_server_key,
                      /*require_client_cert=*/false);
  StartGateway(backend->address(), TrustTestCa());
  ExpectUnavailable();
  EXPECT_TRUE(backend->calls().empty());
}

TEST_F(BackendsTest, EachRouteReachesItsOwnBackend) {
  backends_.push_back(TestBackend::Start());
  TestBackend* plain = backends_.back().get();
  TestBackend* secure = StartTlsBackend(certs_->server_cert, certs_->server_key,
                                        /*require_client_cert=*/false);
  GatewayConfig config = TestGatewayConfig("");
  config.backend.clear();
  BackendConfig plain_config;
  plain_config.key = "backends[0]";
  plain_config.name = "plain";
  plain_config.address = plain->address();
  BackendConfig secure_config;
  secure_config.key = "backends[1]";
  secure_config.name = "secure";
  secure_config.address = secure->address();
  secure_config.tls = TrustTestCa();
  config.backends = {plain_config, secure_config};
  config.routes.push_back(
      TestRoute("/plain", [](RouteConfig& r) { r.backend = "plain"; }));
  config.routes.push_back(
      TestRoute("/secure", [](RouteConfig& r) { r.backend = "secure"; }));
  StartGateway(config);

  SseResponse a = Get("/plain?count=1&key_prefix=p");
  EXPECT_EQ(a.status, 200) << a.body;
  SseResponse b = Get("/secure?count=1&key_prefix=s");
  EXPECT_EQ(b.status, 200) << b.body;
  SseResponse c = Get("/secure?count=1&key_prefix=t");
  EXPECT_EQ(c.status, 200) << c.body;
  ASSERT_FALSE(b.events.empty());
  EXPECT_THAT(b.events[0].data, HasSubstr("\"key\":\"s1\""));

  std::vector<TestBackend::ObservedCall> plain_calls = plain->calls();
  std::vector<TestBackend::ObservedCall> secure_calls = secure->calls();
  ASSERT_EQ(plain_calls.size(), 1u);
  EXPECT_EQ(plain_calls[0].request.key_prefix(), "p");
  ASSERT_EQ(secure_calls.size(), 2u);
  EXPECT_EQ(secure_calls[0].request.key_prefix(), "s");
  EXPECT_EQ(secure_calls[1].request.key_prefix(), "t");

  SseResponse ready = Get("/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_THAT(ready.body, HasSubstr("{\"name\":\"plain\""));
  EXPECT_THAT(ready.body, HasSubstr("{\"name\":\"secure\""));

  // One backend down: not ready, and the body says which. The gateway's
  // channel notices the closed connection asynchronously, so wait for it.
  plain->Shutdown();
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  do {
    ready = Get("/readyz");
  } while (ready.status == 200 && absl::Now() < deadline);
  EXPECT_EQ(ready.status, 503) << ready.body;
  EXPECT_THAT(ready.body,
              HasSubstr("\"secure\",\"address\":\"" + secure->address() +
                        "\",\"channels\":[\"ready\"]"));
}

// Opens `n` streams on /s (one message each, then held open) on raw
// connections, and returns them without reading.
std::vector<std::unique_ptr<RawHttpClient>> OpenHeldStreams(int port, int n) {
  std::vector<std::unique_ptr<RawHttpClient>> clients;
  for (int i = 0; i < n; ++i) {
    clients.push_back(std::make_unique<RawHttpClient>(port));
    clients.back()->Send(GetRequest("/s?count=1&hold_open=true"));
  }
  return clients;
}

class ChannelPoolTest : public BackendsTest {
 protected:
  // A backend allowing 100 concurrent streams per connection and a gateway
  // with `channels` channels to it.
  void StartPooled(int channels, absl::Duration open_wait) {
    TestBackend::Options options;
    options.max_concurrent_streams = 100;
    backends_.push_back(TestBackend::Start(options));
    GatewayConfig config = TestGatewayConfig("");
    config.backend.clear();
    config.open_wait = open_wait;
    config.heartbeat = absl::InfiniteDuration();
    BackendConfig backend;
    backend.key = "backends[0]";
    backend.name = "limited";
    backend.address = backends_.back()->address();
    backend.channels = channels;
    config.backends = {backend};
    config.routes.push_back(TestRoute("/s"));
    StartGateway(config);
  }
};

TEST_F(ChannelPoolTest, ThreeChannelsHold250Streams) {
  StartPooled(/*channels=*/3, absl::Seconds(5));
  std::vector<std::unique_ptr<RawHttpClient>> clients =
      OpenHeldStreams(gateway_->port(), 250);
  int with_event = 0;
  for (auto& client : clients) {
    std::string received = client->ReadUntil("id: 1\n");
    if (RawHttpClient::Count(received, "id: 1\n") != 1) break;
    ++with_event;
  }
  EXPECT_EQ(with_event, 250);
  EXPECT_EQ(backends_[0]->active_calls(), 250u);
  SseResponse ready = Get("/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_THAT(ready.body,
              HasSubstr("\"channels\":[\"ready\",\"ready\",\"ready\"]"));
  for (auto& client : clients) client->Close();
  EXPECT_TRUE(backends_[0]->WaitForCancelled(250, absl::Seconds(30)));
}

// Why the pool exists: with one channel, the 101st call is queued by the gRPC
// client (no second connection is opened) and never reaches the backend.
TEST_F(ChannelPoolTest, OneChannelQueuesTheStreamsOverTheLimit) {
  StartPooled(/*channels=*/1, absl::Milliseconds(300));
  std::vector<std::unique_ptr<RawHttpClient>> clients =
      OpenHeldStreams(gateway_->port(), 100);
  for (auto& client : clients) {
    ASSERT_EQ(RawHttpClient::Count(client->ReadUntil("id: 1\n"), "id: 1\n"), 1);
  }
  ASSERT_TRUE(backends_[0]->WaitForCalls(100, absl::Seconds(30)));
  RawHttpClient extra(gateway_->port());
  extra.Send(GetRequest("/s?count=1&hold_open=true"));
  // After open_wait the gateway answers 200 without an event: the call has
  // neither failed nor reached the backend.
  std::string head = extra.ReadUntil("\r\n\r\n");
  EXPECT_THAT(head, HasSubstr("200 OK"));
  EXPECT_THAT(head, ::testing::Not(HasSubstr("id: 1\n")));
  EXPECT_EQ(backends_[0]->calls().size(), 100u);
  // Once one stream ends, the queued call goes through.
  clients[0]->Close();
  EXPECT_EQ(RawHttpClient::Count(extra.ReadUntil("id: 1\n"), "id: 1\n"), 1);
  EXPECT_EQ(backends_[0]->calls().size(), 101u);
}

}  // namespace
}  // namespace sse_gateway
