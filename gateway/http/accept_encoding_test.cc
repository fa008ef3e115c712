#include "gateway/http/accept_encoding.h"

#include "gtest/gtest.h"

namespace sse_gateway {
namespace {

constexpr ContentEncoding kIdentity = ContentEncoding::kIdentity;
constexpr ContentEncoding kGzip = ContentEncoding::kGzip;
constexpr ContentEncoding kBrotli = ContentEncoding::kBrotli;

TEST(NegotiateContentEncodingTest, BrotliFirstThenGzip) {
  // What browsers' EventSource sends.
  EXPECT_EQ(NegotiateContentEncoding("gzip, deflate, br", true, true), kBrotli);
  EXPECT_EQ(NegotiateContentEncoding("gzip, deflate, br, zstd", true, true),
            kBrotli);
  EXPECT_EQ(NegotiateContentEncoding("gzip, deflate", true, true), kGzip);
  EXPECT_EQ(NegotiateContentEncoding("br", true, true), kBrotli);
  EXPECT_EQ(NegotiateContentEncoding("deflate", true, true), kIdentity);
  EXPECT_EQ(NegotiateContentEncoding("", true, true), kIdentity);
  EXPECT_EQ(NegotiateContentEncoding("identity", true, true), kIdentity);
}

TEST(NegotiateContentEncodingTest, WhatTheRouteAllows) {
  EXPECT_EQ(NegotiateContentEncoding("gzip, br", true, false), kGzip);
  EXPECT_EQ(NegotiateContentEncoding("gzip, br", false, true), kBrotli);
  EXPECT_EQ(NegotiateContentEncoding("gzip, br", false, false), kIdentity);
  EXPECT_EQ(NegotiateContentEncoding("gzip", false, true), kIdentity);
}

TEST(NegotiateContentEncodingTest, QValues) {
  EXPECT_EQ(NegotiateContentEncoding("br;q=0, gzip", true, true), kGzip);
  EXPECT_EQ(NegotiateContentEncoding("br;q=0.5, gzip;q=0.8", true, true),
            kGzip);
  EXPECT_EQ(NegotiateContentEncoding("br;q=0.8, gzip;q=0.8", true, true),
            kBrotli);
  EXPECT_EQ(NegotiateContentEncoding("gzip;q=0, br;q=0", true, true),
            kIdentity);
  EXPECT_EQ(NegotiateContentEncoding("GZIP ; Q=1.000", true, true), kGzip);
  EXPECT_EQ(NegotiateContentEncoding("x-gzip", true, true), kGzip);
  // A coding refused is not brought back by a lower-preference fallback.
  EXPECT_EQ(NegotiateContentEncoding("br;q=0.1", true, true), kBrotli);
}

TEST(NegotiateContentEncodingTest, Wildcard) {
  EXPECT_EQ(NegotiateContentEncoding("*", true, true), kBrotli);
  EXPECT_EQ(NegotiateContentEncoding("*;q=0", true, true), kIdentity);
  EXPECT_EQ(NegotiateContentEncoding("br;q=0, *", true, true), kGzip);
  EXPECT_EQ(NegotiateContentEncoding("gzip, *;q=0", true, true), kGzip);
}

TEST(NegotiateContentEncodingTest, MalformedElementsAreIgnored) {
  EXPECT_EQ(NegotiateContentEncoding("br;q=2, gzip", true, true), kGzip);
  EXPECT_EQ(NegotiateContentEncoding("br;q=abc, gzip", true, true), kGzip);
  EXPECT_EQ(NegotiateContentEncoding("br;q=0.12345", true, true), kIdentity);
  EXPECT_EQ(NegotiateContentEncoding(",,;,gzip;;", true, true), kGzip);
  EXPECT_EQ(NegotiateContentEncoding(std::string(10000, ','), true, true),
            kIdentity);
}

}  // namespace
}  // namespace sse_gateway
