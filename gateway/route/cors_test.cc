#include "gateway/route/cors.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sse_gateway {
namespace {

using ::testing::HasSubstr;

constexpr char kApp[] = "https://app.example.com";

httplib::Request RequestFrom(const std::string& origin,
                             const std::string& method = "GET") {
  httplib::Request request;
  request.method = method;
  request.path = "/v1/ticks";
  if (!origin.empty()) request.set_header("Origin", origin);
  return request;
}

httplib::Request Preflight(const std::string& origin, const std::string& method,
                           const std::string& headers = "") {
  httplib::Request request = RequestFrom(origin, "OPTIONS");
  request.set_header("Access-Control-Request-Method", method);
  if (!headers.empty()) {
    request.set_header("Access-Control-Request-Headers", headers);
  }
  return request;
}

CorsPolicy Policy(std::vector<std::string> origins, bool credentials) {
  CorsConfig config;
  config.allowed_origins = std::move(origins);
  config.allow_credentials = credentials;
  config.max_age = absl::Seconds(120);
  return CorsPolicy(config, {"X-Tenant"}, {"x-request-id"});
}

TEST(CorsTest, AllowedOriginIsEchoedWithVary) {
  CorsPolicy policy = Policy({kApp}, false);
  httplib::Response response;
  policy.AddResponseHeaders(RequestFrom(kApp), response);
  EXPECT_EQ(response.get_header_value("Access-Control-Allow-Origin"), kApp);
  EXPECT_EQ(response.get_header_value("Vary"), "Origin");
  EXPECT_EQ(response.get_header_value("Access-Control-Expose-Headers"),
            "x-request-id");
  EXPECT_FALSE(response.has_header("Access-Control-Allow-Credentials"));
}

TEST(CorsTest, OtherOrNoOriginGetsNoAllowOrigin) {
  CorsPolicy policy = Policy({kApp}, true);
  for (const char* origin :
       {"https://evil.example.com", "https://app.example.com:8443",
        "http://app.example.com", "null", ""}) {
    httplib::Response response;
    policy.AddResponseHeaders(RequestFrom(origin), response);
    EXPECT_FALSE(response.has_header("Access-Control-Allow-Origin")) << origin;
    EXPECT_FALSE(response.has_header("Access-Control-Allow-Credentials"))
        << origin;
    EXPECT_EQ(response.get_header_value("Vary"), "Origin");
  }
}

TEST(CorsTest, WildcardAnswersStarAndCredentialsEchoTheOrigin) {
  httplib::Response any;
  Policy({"*"}, false).AddResponseHeaders(RequestFrom("https://x.test"), any);
  EXPECT_EQ(any.get_header_value("Access-Control-Allow-Origin"), "*");

  httplib::Response credentialed;
  Policy({kApp}, true).AddResponseHeaders(RequestFrom(kApp), credentialed);
  EXPECT_EQ(credentialed.get_header_value("Access-Control-Allow-Origin"), kApp);
  EXPECT_EQ(credentialed.get_header_value("Access-Control-Allow-Credentials"),
            "true");
}

TEST(CorsTest, PreflightAllowedIs204WithTheAllowedHeaders) {
  CorsPolicy policy = Policy({kApp}, true);
  httplib::Request request = Preflight(
      kApp, "GET", "Last-Event-ID, x-tenant, X-Secret, Grpc-Metadata-Trace");
  EXPECT_TRUE(CorsPolicy::IsPreflight(request));
  httplib::Response response;
  policy.ServePreflight(request, response);
  EXPECT_EQ(response.status, 204);
  EXPECT_EQ(response.get_header_value("Access-Control-Allow-Origin"), kApp);
  EXPECT_EQ(response.get_header_value("Access-Control-Allow-Methods"), "GET");
  EXPECT_EQ(response.get_header_value("Access-Control-Allow-Headers"),
            "last-event-id, x-tenant, grpc-metadata-trace");
  EXPECT_EQ(response.get_header_value("Access-Control-Max-Age"), "120");
  EXPECT_EQ(response.get_header_value("Access-Control-Allow-Credentials"),
            "true");
}

TEST(CorsTest, PreflightForbiddenOriginOrMethodIs403Json) {
  CorsPolicy policy = Policy({kApp}, false);
  httplib::Response bad_origin;
  policy.ServePreflight(Preflight("https://evil.test", "GET"), bad_origin);
  EXPECT_EQ(bad_origin.status, 403);
  EXPECT_THAT(bad_origin.body, HasSubstr("\"code\":7"));
  EXPECT_THAT(bad_origin.body, HasSubstr("evil.test"));
  EXPECT_FALSE(bad_origin.has_header("Access-Control-Allow-Origin"));

  httplib::Response bad_method;
  policy.ServePreflight(Preflight(kApp, "POST"), bad_method);
  EXPECT_EQ(bad_method.status, 403);
  EXPECT_THAT(bad_method.body, HasSubstr("POST"));
}

TEST(CorsTest, IsPreflightNeedsOptionsOriginAndRequestMethod) {
  EXPECT_FALSE(CorsPolicy::IsPreflight(RequestFrom(kApp, "OPTIONS")));
  EXPECT_FALSE(CorsPolicy::IsPreflight(Preflight("", "GET")));
  httplib::Request get = Preflight(kApp, "GET");
  get.method = "GET";
  EXPECT_FALSE(CorsPolicy::IsPreflight(get));
}

TEST(CorsTest, CheckConfig) {
  CorsConfig good;
  good.allowed_origins = {kApp, "http://localhost:3000", "*"};
  EXPECT_TRUE(CheckCorsConfig(good).ok());

  CorsConfig star_with_credentials = good;
  star_with_credentials.allow_credentials = true;
  absl::Status status = CheckCorsConfig(star_with_credentials);
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("allowed_origins[2]"));
  EXPECT_THAT(status.message(), HasSubstr("allow_credentials"));

  EXPECT_FALSE(CheckCorsConfig(CorsConfig()).ok());
  for (const char* origin :
       {"app.example.com", "https://app.example.com/", "https://a.test/x",
        "https://", "https://a b", "https://*.example.com", "://a.test",
        "https://u@a.test"}) {
    EXPECT_FALSE(CheckCorsOrigin(origin).ok()) << origin;
  }
}

}  // namespace
}  // namespace sse_gateway
