// Credentials and browsers through the real gateway and a real gRPC backend:
// forwarded metadata, the token query parameter, cookies, CORS and response
// metadata copied to headers.

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/raw_http_client.h"
#include "tests/sse_test_client.h"
#include "tests/test_backend.h"
#include "tests/test_environment.h"
#include "tests/test_gateway.h"

namespace sse_gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;
using Entry = std::pair<const std::string, std::string>;

constexpr char kApp[] = "https://app.example.test";

// The metadata the backend received, minus what gRPC itself adds.
std::multimap<std::string, std::string> ForwardedMetadata(
    const TestBackend::ObservedCall& call) {
  std::multimap<std::string, std::string> forwarded;
  for (const auto& [key, value] : call.metadata) {
    if (key == "user-agent" || key == "te" || key == "content-type" ||
        key == ":authority" || key == "accept-encoding" ||
        absl::StartsWith(key, "grpc-")) {
      continue;
    }
    forwarded.emplace(key, value);
  }
  return forwarded;
}

class CredentialsTest : public GatewayTest {
 protected:
  // A gateway with the route /s, no access log, as `edit` changes it.
  void StartWith(const std::function<void(GatewayConfig&)>& edit) {
    StartGateway([&](GatewayConfig& config) {
      config.access_log = "off";
      config.routes.push_back(TestRoute("/s"));
      edit(config);
    });
  }

  SseResponse Send(const std::string& method, const std::string& path,
                   const httplib::Headers& headers) {
    SseTestClient client("127.0.0.1", port());
    return client.Send(method, path, headers);
  }
};

TEST_F(CredentialsTest, ForwardsTheAllowlistGrpcMetadataAndForwardedFor) {
  StartWith([](GatewayConfig& c) {
    c.forward_headers = {"authorization", "x-tenant"};
  });
  SseResponse response =
      Get("/s?count=1", {{"Authorization", "Bearer abc"},
                         {"X-Tenant", "acme"},
                         {"X-Other", "not forwarded"},
                         {"Cookie", "session=1"},
                         {"Grpc-Metadata-Trace-Id", "t-9"},
                         {"X-Forwarded-For", "203.0.113.7"}});
  ASSERT_EQ(response.status, 200) << response.body;
  ASSERT_EQ(backend_->calls().size(), 1u);
  EXPECT_THAT(
      ForwardedMetadata(backend_->calls()[0]),
      UnorderedElementsAre(Entry("authorization", "Bearer abc"),
                           Entry("x-tenant", "acme"), Entry("trace-id", "t-9"),
                           Entry("x-forwarded-for", "203.0.113.7, 127.0.0.1")));
}

TEST_F(CredentialsTest, HopByHopHeadersAreRefusedEvenWhenConfigured) {
  StartWith([](GatewayConfig& c) {
    // Bypasses the config file's check on purpose.
    c.forward_headers = {"te", "keep-alive", "connection", "x-a", "x-b"};
  });
  RawHttpClient raw(gateway_->port());
  raw.Send(
      "GET /s?count=1 HTTP/1.1\r\nHost: t\r\n"
      "Connection: keep-alive, X-A\r\nKeep-Alive: timeout=5\r\n"
      "TE: trailers\r\nX-A: named-in-connection\r\nX-B: kept\r\n"
      "Grpc-Metadata-Upgrade: h2c\r\n\r\n");
  EXPECT_THAT(raw.ReadUntil("event: end"), HasSubstr("200 OK"));
  ASSERT_EQ(backend_->calls().size(), 1u);
  EXPECT_THAT(ForwardedMetadata(backend_->calls()[0]),
              UnorderedElementsAre(Entry("x-b", "kept"),
                                   Entry("x-forwarded-for", "127.0.0.1")));
}

TEST_F(CredentialsTest, UnsendableHeaderIs400NamingItAndMakesNoCall) {
  StartWith([](GatewayConfig&) {});
  SseResponse response =
      Get("/s?count=1", {{"Grpc-Metadata-Grpc-Status", "0"}});
  EXPECT_EQ(response.status, 400);
  EXPECT_THAT(response.body, HasSubstr("Grpc-Metadata-Grpc-Status"));
  EXPECT_TRUE(backend_->calls().empty());
}

TEST_F(CredentialsTest, TokenQueryParamBecomesAuthorizationAndIsNotLogged) {
  const std::string log_path =
      absl::StrCat(::testing::TempDir(), "/credentials_access.log");
  std::remove(log_path.c_str());
  StartWith([&](GatewayConfig& c) {
    c.token_query_param = "access_token";
    c.access_log = log_path;
  });
  const std::string token = "SeCrEt-T0ken-4711";
  SseResponse response = Get(absl::StrCat("/s?count=1&access_token=", token));
  ASSERT_EQ(response.status, 200) << response.body;
  ASSERT_EQ(response.events.size(), 2u);
  // An explicit Authorization header wins over the token.
  SseResponse explicit_header =
      Get(absl::StrCat("/s?access_token=", token, "&count=2"),
          {{"Authorization", "Bearer from-header"}});
  ASSERT_EQ(explicit_header.status, 200) << explicit_header.body;

  std::vector<TestBackend::ObservedCall> calls = backend_->calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_THAT(ForwardedMetadata(calls[0]),
              UnorderedElementsAre(Entry("authorization", "Bearer " + token),
                                   Entry("x-forwarded-for", "127.0.0.1")));
  EXPECT_EQ(calls[0].request.count(), 1);
  EXPECT_THAT(ForwardedMetadata(calls[1]),
              UnorderedElementsAre(Entry("authorization", "Bearer from-header"),
                                   Entry("x-forwarded-for", "127.0.0.1")));
  EXPECT_EQ(calls[1].request.count(), 2);

  // Both streams are logged (once they are over), without the token.
  const std::string log = WaitForFileLines(log_path, 2, absl::Seconds(30));
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 2) << log;
  EXPECT_THAT(log, HasSubstr("route=/s "));
  EXPECT_THAT(log, Not(HasSubstr(token)));
  EXPECT_THAT(log, Not(HasSubstr("access_token")));
}

TEST_F(CredentialsTest, WithoutTokenParamTheParameterIsAnUnknownField) {
  StartWith([](GatewayConfig&) {});
  SseResponse response = Get("/s?count=1&access_token=abc");
  EXPECT_EQ(response.status, 400);
  EXPECT_TRUE(backend_->calls().empty());
}

TEST_F(CredentialsTest, CookieIsForwardedOnlyWhenAllowed) {
  StartWith([](GatewayConfig&) {});  // Default: authorization only.
  ASSERT_EQ(Get("/s?count=1", {{"Cookie", "session=1"}}).status, 200);
  gateway_->Stop();
  gateway_ = nullptr;
  StartWith([](GatewayConfig& c) {
    c.forward_headers = {"authorization", "cookie"};
  });
  ASSERT_EQ(Get("/s?count=1", {{"Cookie", "session=2"}}).status, 200);
  std::vector<TestBackend::ObservedCall> calls = backend_->calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].metadata.count("cookie"), 0u);
  EXPECT_THAT(ForwardedMetadata(calls[1]),
              UnorderedElementsAre(Entry("cookie", "session=2"),
                                   Entry("x-forwarded-for", "127.0.0.1")));
}

TEST_F(CredentialsTest, CorsOnStreamsErrorsAndHealthz) {
  StartWith([](GatewayConfig& c) {
    CorsConfig cors;
    cors.allowed_origins = {kApp};
    cors.allow_credentials = true;
    c.cors = cors;
  });
  SseResponse stream = Get("/s?count=1", {{"Origin", kApp}});
  EXPECT_EQ(stream.status, 200);
  EXPECT_EQ(stream.header("Access-Control-Allow-Origin"), kApp);
  EXPECT_EQ(stream.header("Access-Control-Allow-Credentials"), "true");
  EXPECT_EQ(stream.header("Vary"), "Origin");
  EXPECT_EQ(stream.events.size(), 2u);

  SseResponse bad_request = Get("/s?nope=1", {{"Origin", kApp}});
  EXPECT_EQ(bad_request.status, 400);
  EXPECT_EQ(bad_request.header("Access-Control-Allow-Origin"), kApp);
  SseResponse unknown_path = Get("/missing", {{"Origin", kApp}});
  EXPECT_EQ(unknown_path.status, 404);
  EXPECT_EQ(unknown_path.header("Access-Control-Allow-Origin"), kApp);
  SseResponse healthz = Get("/healthz", {{"Origin", kApp}});
  EXPECT_EQ(healthz.status, 200);
  EXPECT_EQ(healthz.header("Access-Control-Allow-Origin"), kApp);

  SseResponse other = Get("/s?count=1", {{"Origin", "https://evil.test"}});
  EXPECT_EQ(other.status, 200);  // CORS is the browser's to enforce.
  EXPECT_EQ(other.headers.count("Access-Control-Allow-Origin"), 0u);
  EXPECT_EQ(other.headers.count("Access-Control-Allow-Credentials"), 0u);
}

TEST_F(CredentialsTest, CorsWildcardWithoutCredentials) {
  StartWith([](GatewayConfig& c) {
    CorsConfig cors;
    cors.allowed_origins = {"*"};
    c.cors = cors;
  });
  SseResponse stream = Get("/s?count=1", {{"Origin", "https://any.test"}});
  EXPECT_EQ(stream.header("Access-Control-Allow-Origin"), "*");
  EXPECT_EQ(stream.headers.count("Access-Control-Allow-Credentials"), 0u);
}

TEST_F(CredentialsTest, CorsPreflight) {
  StartWith([](GatewayConfig& c) {
    c.forward_headers = {"authorization", "x-tenant"};
    CorsConfig cors;
    cors.allowed_origins = {kApp};
    cors.allow_credentials = true;
    cors.max_age = absl::Seconds(300);
    c.cors = cors;
  });
  SseResponse allowed =
      Send("OPTIONS", "/s",
           {{"Origin", kApp},
            {"Access-Control-Request-Method", "GET"},
            {"Access-Control-Request-Headers",
             "last-event-id,authorization,x-tenant,x-unknown"}});
  EXPECT_EQ(allowed.status, 204);
  EXPECT_EQ(allowed.header("Access-Control-Allow-Origin"), kApp);
  EXPECT_EQ(allowed.header("Access-Control-Allow-Methods"), "GET");
  EXPECT_EQ(allowed.header("Access-Control-Allow-Headers"),
            "last-event-id, authorization, x-tenant");
  EXPECT_EQ(allowed.header("Access-Control-Max-Age"), "300");
  EXPECT_EQ(allowed.header("Access-Control-Allow-Credentials"), "true");

  SseResponse bad_origin = Send("OPTIONS", "/s",
                                {{"Origin", "https://evil.test"},
                                 {"Access-Control-Request-Method", "GET"}});
  EXPECT_EQ(bad_origin.status, 403);
  EXPECT_THAT(bad_origin.body, HasSubstr("\"code\":7"));
  EXPECT_EQ(bad_origin.headers.count("Access-Control-Allow-Origin"), 0u);
  SseResponse bad_method =
      Send("OPTIONS", "/s",
           {{"Origin", kApp}, {"Access-Control-Request-Method", "POST"}});
  EXPECT_EQ(bad_method.status, 403);
  EXPECT_THAT(bad_method.body, HasSubstr("POST"));
  // Not a preflight: still 405.
  EXPECT_EQ(Send("OPTIONS", "/s", {{"Origin", kApp}}).status, 405);
  EXPECT_TRUE(backend_->calls().empty());
}

TEST_F(CredentialsTest, WithoutCorsNoHeadersAndOptionsIs405) {
  StartWith([](GatewayConfig&) {});
  SseResponse stream = Get("/s?count=1", {{"Origin", kApp}});
  EXPECT_EQ(stream.status, 200);
  EXPECT_EQ(stream.headers.count("Access-Control-Allow-Origin"), 0u);
  EXPECT_EQ(stream.headers.count("Vary"), 0u);
  SseResponse preflight =
      Send("OPTIONS", "/s",
           {{"Origin", kApp}, {"Access-Control-Request-Method", "GET"}});
  EXPECT_EQ(preflight.status, 405);
  EXPECT_EQ(preflight.headers.count("Access-Control-Allow-Origin"), 0u);
}

TEST_F(CredentialsTest, AllowlistedResponseMetadataBecomesHeaders) {
  StartWith([](GatewayConfig& c) {
    c.response_headers = {"x-request-id", "x-shard"};
  });
  SseResponse response =
      Get("/s?count=1&initial_metadata_entries=x-request-id%3Dreq-77"
          "&initial_metadata_entries=x-internal%3Dsecret"
          "&initial_metadata_entries=x-shard%3D3");
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.header("X-Request-Id"), "req-77");
  EXPECT_EQ(response.header("x-shard"), "3");
  EXPECT_EQ(response.headers.count("x-internal"), 0u);
  EXPECT_EQ(response.header("Content-Type"), "text/event-stream");
}

TEST_F(CredentialsTest, ResponseMetadataIsNotCopiedByDefault) {
  StartWith([](GatewayConfig&) {});
  SseResponse response =
      Get("/s?count=1&initial_metadata_entries=x-request-id%3Dreq-78");
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.headers.count("x-request-id"), 0u);
}

}  // namespace
}  // namespace sse_gateway
