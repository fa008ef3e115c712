#include "gateway/route/metadata_forwarding.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sse_gateway {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;
using Params = std::vector<std::pair<std::string, std::string>>;

Metadata BuildOk(const MetadataForwarding& forwarding,
                 const httplib::Headers& headers,
                 const std::optional<std::string>& token = std::nullopt) {
  absl::StatusOr<Metadata> metadata =
      forwarding.Build(headers, "10.0.0.9", token);
  EXPECT_TRUE(metadata.ok()) << metadata.status();
  return metadata.ok() ? *metadata : Metadata();
}

TEST(MetadataForwardingTest, DefaultForwardsAuthorizationOnly) {
  MetadataForwarding forwarding;
  EXPECT_THAT(BuildOk(forwarding, {{"Authorization", "Bearer abc"},
                                   {"Cookie", "session=1"},
                                   {"X-Other", "x"}}),
              ElementsAre(Pair("authorization", "Bearer abc"),
                          Pair("x-forwarded-for", "10.0.0.9")));
}

TEST(MetadataForwardingTest, ConfiguredHeadersAreMatchedCaseInsensitively) {
  MetadataForwarding forwarding({"X-Tenant", "cookie"}, std::nullopt);
  EXPECT_THAT(
      BuildOk(forwarding, {{"x-tenant", "t1"},
                           {"X-TENANT", "t2"},
                           {"Cookie", "a=1"},
                           {"Authorization", "Basic x"}}),
      ElementsAre(Pair("x-tenant", "t1"), Pair("x-tenant", "t2"),
                  Pair("cookie", "a=1"), Pair("x-forwarded-for", "10.0.0.9")));
}

TEST(MetadataForwardingTest, GrpcMetadataHeadersPassThrough) {
  MetadataForwarding forwarding({}, std::nullopt);
  EXPECT_THAT(
      BuildOk(forwarding, {{"Grpc-Metadata-X-Trace", "t"},
                           {"grpc-metadata-blob-bin", "AAEC"}}),
      ElementsAre(Pair("blob-bin", std::string("\0\1\2", 3)),
                  Pair("x-trace", "t"), Pair("x-forwarded-for", "10.0.0.9")));
}

TEST(MetadataForwardingTest, ForwardedForAppendsTheClient) {
  MetadataForwarding forwarding;
  EXPECT_THAT(BuildOk(forwarding, {{"X-Forwarded-For", "1.1.1.1, 2.2.2.2"},
                                   {"X-Forwarded-For", " 3.3.3.3 "}}),
              ElementsAre(Pair("x-forwarded-for",
                               "1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.9")));
}

TEST(MetadataForwardingTest, HopByHopHeadersAreNeverForwarded) {
  // Not configurable (the constructor drops them), not via Grpc-Metadata-*,
  // and not when the request's Connection header names them.
  MetadataForwarding forwarding({"te", "upgrade", "x-a", "x-b"}, std::nullopt);
  EXPECT_THAT(forwarding.forward_headers(), ElementsAre("x-a", "x-b"));
  EXPECT_THAT(
      BuildOk(forwarding, {{"TE", "trailers"},
                           {"Upgrade", "websocket"},
                           {"Connection", "keep-alive, X-A"},
                           {"X-A", "dropped"},
                           {"X-B", "kept"},
                           {"Grpc-Metadata-Keep-Alive", "x"}}),
      ElementsAre(Pair("x-b", "kept"), Pair("x-forwarded-for", "10.0.0.9")));
}

TEST(MetadataForwardingTest, UnsendableHeadersAreErrorsNamingTheHeader) {
  MetadataForwarding forwarding;
  absl::StatusOr<Metadata> bad_value = forwarding.Build(
      {{"Authorization", "Bearer \x01secret"}}, "10.0.0.9", std::nullopt);
  ASSERT_FALSE(bad_value.ok());
  EXPECT_EQ(bad_value.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_value.status().message(), HasSubstr("Authorization"));
  EXPECT_THAT(bad_value.status().message(), Not(HasSubstr("secret")));

  absl::StatusOr<Metadata> bad_name =
      forwarding.Build({{"Grpc-Metadata-A!b", "x"}}, "10.0.0.9", std::nullopt);
  ASSERT_FALSE(bad_name.ok());
  EXPECT_THAT(bad_name.status().message(), HasSubstr("Grpc-Metadata-A!b"));

  absl::StatusOr<Metadata> reserved = forwarding.Build(
      {{"Grpc-Metadata-Grpc-Timeout", "1S"}}, "10.0.0.9", std::nullopt);
  EXPECT_FALSE(reserved.ok());

  absl::StatusOr<Metadata> bad_base64 = forwarding.Build(
      {{"Grpc-Metadata-X-Bin", "***"}}, "10.0.0.9", std::nullopt);
  ASSERT_FALSE(bad_base64.ok());
  EXPECT_THAT(bad_base64.status().message(), HasSubstr("base64"));
}

TEST(MetadataForwardingTest, KeysGrpcReservesAreRefusedNamingTheHeader) {
  // Every key gRPC 1.51's metadata batch handles itself. Some abort the
  // process when sent (grpclb_client_stats), others would be overwritten.
  MetadataForwarding forwarding;
  for (const char* key :
       {"grpclb_client_stats", "lb-token", "lb-cost-bin",
        "endpoint-load-metrics-bin", "user-agent", "content-type", "te", "host",
        "grpc-timeout", "grpc-trace-bin", "Grpc-Tags-Bin"}) {
    const std::string header = absl::StrCat("Grpc-Metadata-", key);
    absl::StatusOr<Metadata> built =
        forwarding.Build({{header, "AAEC"}}, "10.0.0.9", std::nullopt);
    ASSERT_FALSE(built.ok()) << key;
    EXPECT_EQ(built.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(built.status().message(), HasSubstr(header));
    EXPECT_THAT(built.status().message(), HasSubstr("reserved by gRPC"));
    EXPECT_FALSE(CheckForwardHeaderName(key).ok()) << key;
  }
}

TEST(MetadataForwardingTest, TokenBecomesBearerUnlessAuthorizationIsSent) {
  MetadataForwarding forwarding({"authorization"}, "access_token");
  EXPECT_THAT(BuildOk(forwarding, {}, "tok"),
              ElementsAre(Pair("x-forwarded-for", "10.0.0.9"),
                          Pair("authorization", "Bearer tok")));
  EXPECT_THAT(BuildOk(forwarding, {{"Authorization", "Bearer header"}}, "tok"),
              ElementsAre(Pair("authorization", "Bearer header"),
                          Pair("x-forwarded-for", "10.0.0.9")));
  absl::StatusOr<Metadata> bad =
      forwarding.Build({}, "10.0.0.9", std::string("se\ncret"));
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("access_token"));
  EXPECT_THAT(bad.status().message(), Not(HasSubstr("cret")));
}

TEST(MetadataForwardingTest, TakeTokenRemovesTheParameter) {
  MetadataForwarding forwarding({}, "access_token");
  Params params = {{"symbol", "A"}, {"access_token", "t1"}, {"count", "2"}};
  absl::StatusOr<std::optional<std::string>> token =
      forwarding.TakeToken(&params);
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(*token, "t1");
  EXPECT_THAT(params, ElementsAre(Pair("symbol", "A"), Pair("count", "2")));

  Params empty = {{"access_token", ""}};
  token = forwarding.TakeToken(&empty);
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(*token, std::nullopt);
  EXPECT_TRUE(empty.empty());

  Params twice = {{"access_token", "a"}, {"access_token", "b"}};
  EXPECT_FALSE(forwarding.TakeToken(&twice).ok());

  MetadataForwarding none;
  Params untouched = {{"access_token", "t1"}};
  token = none.TakeToken(&untouched);
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(*token, std::nullopt);
  EXPECT_EQ(untouched.size(), 1u);
}

TEST(MetadataForwardingTest, CheckForwardHeaderName) {
  EXPECT_TRUE(CheckForwardHeaderName("X-Tenant").ok());
  EXPECT_TRUE(CheckForwardHeaderName("cookie").ok());
  for (const char* name :
       {"Connection", "keep-alive", "Proxy-Connection", "TE", "trailer",
        "Transfer-Encoding", "upgrade", "Host", "content-length"}) {
    absl::Status status = CheckForwardHeaderName(name);
    EXPECT_FALSE(status.ok()) << name;
    EXPECT_THAT(status.message(), HasSubstr("never forwarded")) << name;
  }
  EXPECT_FALSE(CheckForwardHeaderName("grpc-metadata-x").ok());
  EXPECT_FALSE(CheckForwardHeaderName("x y").ok());
  EXPECT_FALSE(CheckForwardHeaderName("").ok());
}

}  // namespace
}  // namespace sse_gateway
