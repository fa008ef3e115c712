#include "gateway/route/path_template.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sse_gateway {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Optional;
using ::testing::Pair;

PathTemplate MustParse(absl::string_view text) {
  absl::StatusOr<PathTemplate> parsed = PathTemplate::Parse(text);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return *parsed;
}

TEST(PathTemplateTest, LiteralsOnly) {
  PathTemplate t = MustParse("/v1/ticks");
  EXPECT_THAT(t.Match("/v1/ticks"), Optional(ElementsAre()));
  EXPECT_EQ(t.Match("/v1/ticks/x"), std::nullopt);
  EXPECT_EQ(t.Match("/v1/tick"), std::nullopt);
  EXPECT_EQ(t.literal_prefix(), 2u);
}

TEST(PathTemplateTest, SimpleVariable) {
  PathTemplate t = MustParse("/v1/feeds/{feed}/events");
  EXPECT_THAT(t.Match("/v1/feeds/news/events"),
              Optional(ElementsAre(Pair("feed", "news"))));
  EXPECT_THAT(t.Match("/v1/feeds/a%20b/events"),
              Optional(ElementsAre(Pair("feed", "a b"))));
  EXPECT_EQ(t.Match("/v1/feeds//events"), std::nullopt);
  EXPECT_EQ(t.Match("/v1/feeds/a/b/events"), std::nullopt);
  EXPECT_EQ(t.Match("/v1/feeds/%zz/events"), std::nullopt);
  EXPECT_EQ(t.literal_prefix(), 2u);
}

TEST(PathTemplateTest, VariableWithPatternAndNestedField) {
  PathTemplate t = MustParse("/v1/{room.name=rooms/*}/events");
  EXPECT_THAT(t.Match("/v1/rooms/42/events"),
              Optional(ElementsAre(Pair("room.name", "rooms/42"))));
  EXPECT_EQ(t.Match("/v1/halls/42/events"), std::nullopt);
}

TEST(PathTemplateTest, DoubleWildcardAndVerb) {
  PathTemplate rest = MustParse("/v1/{path=files/**}");
  EXPECT_THAT(rest.Match("/v1/files/a/b%2Fc/d"),
              Optional(ElementsAre(Pair("path", "files/a/b%2Fc/d"))));
  EXPECT_THAT(rest.Match("/v1/files"),
              Optional(ElementsAre(Pair("path", "files"))));
  PathTemplate verb = MustParse("/v1/feeds/{feed}:watch");
  EXPECT_THAT(verb.Match("/v1/feeds/news:watch"),
              Optional(ElementsAre(Pair("feed", "news"))));
  EXPECT_EQ(verb.Match("/v1/feeds/news"), std::nullopt);
  EXPECT_EQ(verb.Match("/v1/feeds/news:list"), std::nullopt);
}

TEST(PathTemplateTest, TwoVariables) {
  PathTemplate t = MustParse("/v1/{a}/x/{b.c}");
  EXPECT_THAT(t.Match("/v1/1/x/2"),
              Optional(ElementsAre(Pair("a", "1"), Pair("b.c", "2"))));
}

TEST(PathTemplateTest, RejectsBadTemplates) {
  for (const char* bad : {"", "v1/x", "/v1/{x", "/v1/{1x}", "/v1/{x=}",
                          "/v1/**/x", "/v1/a*b", "/v1/x:", "/v1//x"}) {
    SCOPED_TRACE(bad);
    absl::StatusOr<PathTemplate> parsed = PathTemplate::Parse(bad);
    ASSERT_FALSE(parsed.ok());
    EXPECT_THAT(parsed.status().message(), HasSubstr("path template"));
  }
}

}  // namespace
}  // namespace sse_gateway
