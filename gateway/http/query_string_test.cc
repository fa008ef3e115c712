#include "gateway/http/query_string.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sse_gateway {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

TEST(QueryStringTest, DecodesPlusAndPercentInOrder) {
  absl::StatusOr<QueryParams> params =
      ParseQueryString("b=2&a=h%C3%A9+x&b=1&plus=%2B&empty=&flag&&eq=a=b");
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_THAT(*params,
              ElementsAre(Pair("b", "2"), Pair("a", "h\xc3\xa9 x"),
                          Pair("b", "1"), Pair("plus", "+"), Pair("empty", ""),
                          Pair("flag", ""), Pair("eq", "a=b")));
}

TEST(QueryStringTest, EmptyQuery) {
  absl::StatusOr<QueryParams> params = ParseQueryString("");
  ASSERT_TRUE(params.ok());
  EXPECT_TRUE(params->empty());
}

TEST(QueryStringTest, KeysAreDecodedToo) {
  absl::StatusOr<QueryParams> params = ParseQueryString("filter%2Eregion=eu");
  ASSERT_TRUE(params.ok());
  EXPECT_THAT(*params, ElementsAre(Pair("filter.region", "eu")));
}

TEST(QueryStringTest, RejectsBrokenEscapesAndEmptyKeys) {
  for (const char* bad : {"a=%", "a=%4", "a=%zz", "a=%4g", "%=1", "=1"}) {
    SCOPED_TRACE(bad);
    absl::StatusOr<QueryParams> params = ParseQueryString(bad);
    ASSERT_FALSE(params.ok());
    EXPECT_EQ(params.status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_THAT(ParseQueryString("a=%zz").status().message(),
              HasSubstr("invalid percent-encoding"));
  EXPECT_THAT(ParseQueryString("=1").status().message(),
              HasSubstr("empty name"));
}

TEST(QueryStringTest, NulAndBinaryBytesSurviveDecoding) {
  absl::StatusOr<QueryParams> params = ParseQueryString("a=%00%FF");
  ASSERT_TRUE(params.ok());
  EXPECT_EQ((*params)[0].second, std::string("\0\xff", 2));
}

TEST(QueryStringTest, PathOfTarget) {
  EXPECT_EQ(PathOfTarget("/v1/x?a=1&b=2"), "/v1/x");
  EXPECT_EQ(PathOfTarget("/v1/a%2Fb#frag"), "/v1/a%2Fb");
  EXPECT_EQ(PathOfTarget("/%u006detrics"), "/%u006detrics");
  EXPECT_EQ(PathOfTarget(""), "");
}

TEST(QueryStringTest, QueryOfTarget) {
  EXPECT_EQ(QueryOfTarget("/v1/x?a=1&b=2"), "a=1&b=2");
  EXPECT_EQ(QueryOfTarget("/v1/x?a=1#frag"), "a=1");
  EXPECT_EQ(QueryOfTarget("/v1/x"), "");
  EXPECT_EQ(QueryOfTarget("/v1/x?"), "");
}

}  // namespace
}  // namespace sse_gateway
