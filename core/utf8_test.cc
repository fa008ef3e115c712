#include "core/utf8.h"

#include <string>

#include "gtest/gtest.h"

namespace sse_gateway {
namespace {

constexpr char kFffd[] = "\xEF\xBF\xBD";

TEST(Utf8Test, SequenceLengths) {
  EXPECT_EQ(Utf8SequenceLength("a", 0), 1u);
  EXPECT_EQ(Utf8SequenceLength("\xC3\xA9", 0), 2u);          // é
  EXPECT_EQ(Utf8SequenceLength("\xE2\x82\xAC", 0), 3u);      // €
  EXPECT_EQ(Utf8SequenceLength("\xF0\x9F\x98\x80", 0), 4u);  // 😀
  EXPECT_EQ(Utf8SequenceLength("\xC0\xAF", 0), 0u);          // overlong '/'
  EXPECT_EQ(Utf8SequenceLength("\xED\xA0\x80", 0), 0u);      // surrogate
  EXPECT_EQ(Utf8SequenceLength("\xF4\x90\x80\x80", 0), 0u);  // > U+10FFFF
  EXPECT_EQ(Utf8SequenceLength("\xE2\x82", 0), 0u);          // truncated
  EXPECT_EQ(Utf8SequenceLength("\x80", 0), 0u);              // continuation
}

TEST(Utf8Test, ReplacesMaximalSubpartsAsABrowserDoes) {
  const struct {
    std::string in;
    std::string out;
  } cases[] = {
      {"plain", "plain"},
      {"caf\xC3\xA9", "caf\xC3\xA9"},
      {"\xE2\x82", kFffd},                                   // one subpart
      {"\xE2\x82x", std::string(kFffd) + "x"},               // cut short
      {"\xF0\x80\x80", std::string(kFffd) + kFffd + kFffd},  // F0 needs 90+
      {"\xED\xA0\x80", std::string(kFffd) + kFffd + kFffd},  // surrogate
      {"\xFF", kFffd},
      {"a\xC3", std::string("a") + kFffd},
  };
  for (const auto& c : cases) {
    std::string out;
    EXPECT_EQ(AppendUtf8Replacing(c.in, &out), c.in == c.out) << c.in;
    EXPECT_EQ(out, c.out) << c.in;
  }
}

// Both functions agree on validity for every string of up to three bytes
// drawn from bytes at every boundary of the encoding, and a valid string is
// decoded unchanged.
TEST(Utf8Test, ValidityAgreesEverywhere) {
  const unsigned char bytes[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F,
                                 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0,
                                 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF};
  std::string text;
  int checked = 0;
  for (unsigned char a : bytes) {
    for (unsigned char b : bytes) {
      for (unsigned char c : bytes) {
        for (size_t length = 1; length <= 3; ++length) {
          text.assign({static_cast<char>(a), static_cast<char>(b),
                       static_cast<char>(c)});
          text.resize(length);
          std::string decoded;
          const bool valid = IsValidUtf8(text);
          ASSERT_EQ(AppendUtf8Replacing(text, &decoded), valid);
          if (valid) ASSERT_EQ(decoded, text);
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(checked, 3 * 20 * 20 * 20);
}

}  // namespace
}  // namespace sse_gateway
