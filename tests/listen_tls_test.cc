// TLS on the gateway's listening side (config key `tls`), through a real
// gRPC backend and the real gateway: an HTTPS client trusting the test CA
// reads a stream and /healthz; a plain-HTTP client to the TLS port fails
// without harming the gateway; bad certificate or key files fail start-up
// naming the key; a handshake that never completes is closed at
// head_timeout_ms.

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gateway/config/config.h"
#include "gateway/gateway.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "tests/prometheus_text.h"
#include "tests/raw_http_client.h"
#include "tests/test_backend.h"
#include "tests/test_certificates.h"
#include "tests/test_gateway.h"

namespace sse_gateway {
namespace {

using ::testing::HasSubstr;

class ListenTlsTest : public GatewayTest {
 protected:
  static void SetUpTestSuite() {
    certs_ = TestCertificates::Shared();
    ASSERT_NE(certs_, nullptr);
  }

  // A config serving /s over HTTPS with the test server certificate.
  GatewayConfig TlsConfig(const std::string& cert_file,
                          const std::string& key_file) {
    GatewayConfig config = TestGatewayConfig(backend_->address());
    config.file = "gw.yaml";
    config.tls = ListenTlsConfig{cert_file, key_file};
    config.routes.push_back(TestRoute("/s"));
    return config;
  }

  void StartTlsGateway() {
    gateway_ =
        StartTestGateway(TlsConfig(certs_->server_cert, certs_->server_key));
    ASSERT_NE(gateway_, nullptr);
  }

  // An HTTPS client that verifies the gateway against the test CA.
  std::unique_ptr<httplib::SSLClient> HttpsClient() {
    auto client =
        std::make_unique<httplib::SSLClient>("127.0.0.1", gateway_->port());
    client->set_ca_cert_path(certs_->ca_cert.c_str());
    client->enable_server_certificate_verification(true);
    client->set_connection_timeout(10);
    client->set_read_timeout(30);
    return client;
  }

  // The start-up error of a gateway with these files.
  std::string CreateError(const std::string& cert_file,
                          const std::string& key_file) {
    absl::StatusOr<std::unique_ptr<Gateway>> gateway =
        Gateway::Create(TlsConfig(cert_file, key_file));
    EXPECT_FALSE(gateway.ok())
        << "created with " << cert_file << ", " << key_file;
    if (gateway.ok()) return "";
    return std::string(gateway.status().message());
  }

  static const TestCertificates* certs_;
};

const TestCertificates* ListenTlsTest::certs_ = nullptr;

TEST_F(ListenTlsTest, StreamsOverHttps) {
  StartTlsGateway();
  std::unique_ptr<httplib::SSLClient> client = HttpsClient();
  httplib::Result result = client->Get("/s?count=2&key_prefix=k");
  ASSERT_TRUE(result) << httplib::to_string(result.error()) << " "
                      << client->get_openssl_verify_result();
  EXPECT_EQ(result->status, 200) << result->body;
  EXPECT_EQ(result->get_header_value("Content-Type"), "text/event-stream");
  const std::string& body = result->body;
  size_t first = body.find("\"key\":\"k1\"");
  size_t second = body.find("\"key\":\"k2\"");
  size_t end = body.find("event: end\ndata: {\"code\":0,\"message\":\"\"}");
  ASSERT_NE(first, std::string::npos) << body;
  ASSERT_NE(second, std::string::npos) << body;
  ASSERT_NE(end, std::string::npos) << body;
  EXPECT_LT(first, second);
  EXPECT_LT(second, end);
}

TEST_F(ListenTlsTest, RequestHeadersReachTheBackendOverTls) {
  // Headers are read from the decrypted request head: Last-Event-ID sets the
  // backend's resume field, so the stream continues after it.
  GatewayConfig config = TlsConfig(certs_->server_cert, certs_->server_key);
  config.routes[0].upstream.id_field = "seq";
  config.routes[0].upstream.resume_field = "after_seq";
  gateway_ = StartTestGateway(config);
  ASSERT_NE(gateway_, nullptr);
  std::unique_ptr<httplib::SSLClient> client = HttpsClient();
  httplib::Result result = client->Get("/s?count=1", {{"Last-Event-ID", "4"}});
  ASSERT_TRUE(result) << httplib::to_string(result.error());
  EXPECT_EQ(result->status, 200) << result->body;
  EXPECT_THAT(result->body, HasSubstr("id: 5\n")) << result->body;
  EXPECT_THAT(result->body, HasSubstr("\"seq\":\"5\"")) << result->body;
}

TEST_F(ListenTlsTest, HealthzOverTls) {
  StartTlsGateway();
  std::unique_ptr<httplib::SSLClient> client = HttpsClient();
  httplib::Result result = client->Get("/healthz");
  ASSERT_TRUE(result) << httplib::to_string(result.error());
  EXPECT_EQ(result->status, 200) << result->body;
}

TEST_F(ListenTlsTest, PlainHttpToTheTlsPortFailsWithoutHarm) {
  StartTlsGateway();
  {
    httplib::Client plain("127.0.0.1", gateway_->port());
    plain.set_connection_timeout(10);
    plain.set_read_timeout(30);
    httplib::Result result = plain.Get("/healthz");
    EXPECT_FALSE(result && result->status == 200);
  }
  // A client that does not trust the test CA is refused too.
  {
    httplib::SSLClient untrusting("127.0.0.1", gateway_->port());
    untrusting.set_ca_cert_path(certs_->client_cert.c_str());
    untrusting.enable_server_certificate_verification(true);
    EXPECT_FALSE(untrusting.Get("/healthz"));
  }
  // The gateway keeps serving HTTPS.
  std::unique_ptr<httplib::SSLClient> client = HttpsClient();
  httplib::Result result = client->Get("/healthz");
  ASSERT_TRUE(result) << httplib::to_string(result.error());
  EXPECT_EQ(result->status, 200);
}

TEST_F(ListenTlsTest, BadFilesFailStartUpNamingTheKey) {
  const std::string missing = certs_->dir + "/missing.pem";
  EXPECT_THAT(CreateError(missing, certs_->server_key),
              HasSubstr("gw.yaml: tls.cert_file: "));
  EXPECT_THAT(CreateError(certs_->server_cert, missing),
              HasSubstr("gw.yaml: tls.key_file: "));
  // Not PEM of the right kind: a key as the certificate, and vice versa.
  EXPECT_THAT(CreateError(certs_->server_key, certs_->server_key),
              HasSubstr("gw.yaml: tls.cert_file: "));
  EXPECT_THAT(CreateError(certs_->server_cert, certs_->server_cert),
              HasSubstr("gw.yaml: tls.key_file: "));
  // A key that does not belong to the certificate.
  EXPECT_THAT(CreateError(certs_->server_cert, certs_->other_server_key),
              HasSubstr("gw.yaml: tls.key_file: "));
}

// A client that starts a TLS handshake and never finishes it holds nothing
// but its socket until head_timeout_ms, and HTTPS goes on meanwhile.
TEST_F(ListenTlsTest, StalledHandshakeIsClosedAtTheHeadTimeout) {
  GatewayConfig config = TlsConfig(certs_->server_cert, certs_->server_key);
  config.head_timeout = absl::Seconds(1);
  gateway_ = StartTestGateway(config);
  ASSERT_NE(gateway_, nullptr);
  RawHttpClient stalled(gateway_->port());
  stalled.Send(std::string("\x16\x03\x01\x02\x00", 5));  // A record begins.
  // While it stalls, a full HTTPS request is served.
  std::unique_ptr<httplib::SSLClient> client = HttpsClient();
  httplib::Result healthz = client->Get("/healthz");
  ASSERT_TRUE(healthz) << httplib::to_string(healthz.error());
  EXPECT_EQ(healthz->status, 200);
  // The gateway closes it (EOF well before ReadUntil's own 30 s bound)...
  EXPECT_EQ(stalled.ReadUntil("never sent"), "");
  // ... and counts it as a head timeout.
  httplib::Result metrics = client->Get("/metrics");
  ASSERT_TRUE(metrics) << httplib::to_string(metrics.error());
  EXPECT_EQ(SampleInt(metrics->body, "sse_gateway_head_timeouts_total"), 1)
      << metrics->body;
}

}  // namespace
}  // namespace sse_gateway
