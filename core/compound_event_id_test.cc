#include "core/compound_event_id.h"

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/read_file.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace sse_gateway {

// For readable failures.
void PrintTo(const CompoundEntry& entry, std::ostream* os) {
  switch (entry.state) {
    case CompoundEntry::State::kFresh:
      *os << "Fresh";
      return;
    case CompoundEntry::State::kEnded:
      *os << "Ended";
      return;
    case CompoundEntry::State::kAt:
      *os << "At(\"" << absl::CHexEscape(entry.id) << "\")";
      return;
  }
}

namespace {

constexpr char kCasesPath[] = "tests/conformance/compound_event_id_cases.json";
constexpr absl::string_view kRefusalPrefix =
    "Last-Event-ID is not a compound id of this multiplexed request: ";

std::string Encode(const std::vector<std::string>& names,
                   const std::vector<CompoundEntry>& entries) {
  return EncodeCompoundEventId(CompoundIdFingerprint(names), entries);
}

bool AllBytesPrintable(absl::string_view text) {
  for (const char c : text) {
    const unsigned char byte = static_cast<unsigned char>(c);
    if (byte < 0x21 || byte > 0x7E) return false;
  }
  return true;
}

// Checks what every refusal must be: InvalidArgument, saying it is about
// Last-Event-ID, printable, and echoing no more than 40 bytes of `text`.
void ExpectRefusal(const absl::Status& status, absl::string_view text) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_TRUE(absl::StartsWith(status.message(), kRefusalPrefix)) << status;
  for (const char c : status.message()) {
    const unsigned char byte = static_cast<unsigned char>(c);
    EXPECT_TRUE(byte >= 0x20 && byte <= 0x7E) << status;
  }
  constexpr size_t kMaxEcho = 40;
  for (size_t i = 0; i + kMaxEcho < text.size(); ++i) {
    ASSERT_FALSE(
        absl::StrContains(status.message(), text.substr(i, kMaxEcho + 1)))
        << "echoes more than " << kMaxEcho << " bytes: " << status;
  }
}

// Decodes `text`, expecting a refusal whose message contains `mention`.
void ExpectRefused(absl::string_view text,
                   const std::vector<std::string>& names,
                   absl::string_view mention) {
  SCOPED_TRACE(text.substr(0, 80));
  const absl::StatusOr<std::vector<CompoundEntry>> decoded =
      DecodeCompoundEventId(text, names);
  ASSERT_FALSE(decoded.ok());
  ExpectRefusal(decoded.status(), text);
  EXPECT_TRUE(absl::StrContains(decoded.status().message(), mention))
      << decoded.status();
}

void ExpectRoundTrip(const std::vector<std::string>& names,
                     const std::vector<CompoundEntry>& entries) {
  const std::string encoded = Encode(names, entries);
  SCOPED_TRACE(encoded.substr(0, 80));
  EXPECT_TRUE(AllBytesPrintable(encoded));
  const absl::StatusOr<std::vector<CompoundEntry>> decoded =
      DecodeCompoundEventId(encoded, names);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, entries);
}

TEST(CompoundIdFingerprintTest, IsFnv1aOfNulTerminatedNames) {
  // FNV-1a of nothing is the offset basis; of one NUL byte, basis * prime.
  EXPECT_EQ(CompoundIdFingerprint({}), 2166136261u);
  EXPECT_EQ(CompoundIdFingerprint({""}), 0x050c5d1fu);
  EXPECT_EQ(CompoundIdFingerprint({"ticks"}), 0xd54e7e2fu);
  EXPECT_EQ(CompoundIdFingerprint({"prices", "news", "alerts"}), 0x370681a7u);
}

TEST(CompoundIdFingerprintTest, DependsOnOrderAndNameBoundaries) {
  EXPECT_NE(CompoundIdFingerprint({"a", "b"}),
            CompoundIdFingerprint({"b", "a"}));
  EXPECT_NE(CompoundIdFingerprint({"ab", ""}),
            CompoundIdFingerprint({"a", "b"}));
  EXPECT_NE(CompoundIdFingerprint({"ab"}), CompoundIdFingerprint({"a", "b"}));
}

TEST(EncodeCompoundEventIdTest, WritesTheDocumentedFormat) {
  EXPECT_EQ(EncodeCompoundEventId(
                0x0000abcd, {CompoundEntry::Fresh(), CompoundEntry::At("17"),
                             CompoundEntry::Ended()}),
            "1:0000abcd:~,17,!");
  EXPECT_EQ(EncodeCompoundEventId(0xffffffff, {CompoundEntry::At("")}),
            "1:ffffffff:");
  EXPECT_EQ(
      EncodeCompoundEventId(1, {CompoundEntry::At("x"), CompoundEntry::At(""),
                                CompoundEntry::At("y")}),
      "1:00000001:x,,y");
}

TEST(AppendEscapedCompoundEntryIdTest, EscapesExactlyWhatIsDocumented) {
  std::string out = "kept|";
  AppendEscapedCompoundEntryId(std::string("%,!~: \t\r\n\0\x7F\x80\xFF", 13),
                               &out);
  EXPECT_EQ(out, "kept|%25%2C%21%7E%3A%20%09%0D%0A%00%7F%80%FF");
  for (int c = 0x21; c <= 0x7E; ++c) {
    std::string escaped;
    AppendEscapedCompoundEntryId(std::string(1, static_cast<char>(c)),
                                 &escaped);
    if (absl::StrContains("%,!~:", static_cast<char>(c))) {
      EXPECT_EQ(escaped.size(), 3u) << c;
    } else {
      EXPECT_EQ(escaped, std::string(1, static_cast<char>(c))) << c;
    }
  }
}

TEST(CompoundEventIdRoundTripTest, AllThreeStates) {
  ExpectRoundTrip({"a"}, {CompoundEntry::Fresh()});
  ExpectRoundTrip({"a"}, {CompoundEntry::Ended()});
  ExpectRoundTrip({"a"}, {CompoundEntry::At("42")});
  ExpectRoundTrip({"a", "b", "c"},
                  {CompoundEntry::At("1700000000000"), CompoundEntry::Fresh(),
                   CompoundEntry::Ended()});
}

TEST(CompoundEventIdRoundTripTest, EmptyIds) {
  ExpectRoundTrip({"a"}, {CompoundEntry::At("")});
  ExpectRoundTrip(
      {"a", "b", "c"},
      {CompoundEntry::At(""), CompoundEntry::At(""), CompoundEntry::At("")});
  ExpectRoundTrip(
      {"a", "b", "c"},
      {CompoundEntry::Fresh(), CompoundEntry::At(""), CompoundEntry::Ended()});
  const std::vector<std::string> names = {"a", "b", "c"};
  const std::string encoded = Encode(
      names,
      {CompoundEntry::At("x"), CompoundEntry::At(""), CompoundEntry::At("y")});
  EXPECT_TRUE(absl::EndsWith(encoded, ":x,,y")) << encoded;
}

TEST(CompoundEventIdRoundTripTest, ReservedCharacters) {
  ExpectRoundTrip({"a", "b"}, {CompoundEntry::At("%,!~:"),
                               CompoundEntry::At("a%b,c!d~e:f%%")});
  // Ids that would read as another state if they were not escaped.
  ExpectRoundTrip({"a", "b", "c", "d"},
                  {CompoundEntry::At("~"), CompoundEntry::At("!"),
                   CompoundEntry::At(","), CompoundEntry::At("%7E")});
  EXPECT_EQ(Encode({"a"}, {CompoundEntry::At("~")}).substr(11), "%7E");
  EXPECT_EQ(Encode({"a"}, {CompoundEntry::At("!")}).substr(11), "%21");
}

TEST(CompoundEventIdRoundTripTest, NonAsciiSpacesAndControls) {
  ExpectRoundTrip({"a", "b"},
                  {CompoundEntry::At("caf\xC3\xA9"),
                   CompoundEntry::At("\xE2\x9C\x93 \xF0\x9F\x98\x80")});
  ExpectRoundTrip({"a"}, {CompoundEntry::At(" leading and trailing ")});
  ExpectRoundTrip({"a"}, {CompoundEntry::At("\t\x01\x7F")});
  // Any byte but CR, LF and NUL, including bytes that are not UTF-8.
  ExpectRoundTrip({"a"}, {CompoundEntry::At("\x80\xFF\xC3")});
  EXPECT_EQ(Encode({"a"}, {CompoundEntry::At("a b")}).substr(11), "a%20b");
}

TEST(CompoundEventIdRoundTripTest, LongestIds) {
  ExpectRoundTrip(
      {"a", "b"},
      {CompoundEntry::At(std::string(kMaxCompoundEntryIdBytes, 'x')),
       CompoundEntry::At(std::string(kMaxCompoundEntryIdBytes, ':'))});
}

TEST(CompoundEventIdRoundTripTest, UnicodeNames) {
  ExpectRoundTrip({"pr\xC3\xA9ts", "\xE6\x96\xB0"},
                  {CompoundEntry::At("1"), CompoundEntry::Fresh()});
}

// The header's size claim: 16 subscriptions with 13-digit ids.
TEST(CompoundEventIdSizeTest, SixteenSubscriptionsWithThirteenDigitIds) {
  std::vector<std::string> names;
  std::vector<CompoundEntry> entries;
  for (int i = 0; i < 16; ++i) {
    names.push_back(absl::StrCat("subscription", i));
    entries.push_back(CompoundEntry::At(absl::StrCat(1700000000000 + i)));
    ASSERT_EQ(entries.back().id.size(), 13u);
  }
  const std::string encoded = Encode(names, entries);
  // "1:" + 8 hex digits, then per subscription one separator (':' or ',')
  // and the id.
  EXPECT_EQ(encoded.size(), 10u + 16u * (1u + 13u));
  EXPECT_EQ(encoded.size(), 234u);
  ExpectRoundTrip(names, entries);
}

TEST(DecodeCompoundEventIdTest, RefusesOtherVersionsAndMissingParts) {
  const std::vector<std::string> names = {"ticks"};
  ExpectRefused("", names, "empty");
  ExpectRefused("d54e7e2f:~", names, "version");
  ExpectRefused("2:d54e7e2f:~", names, "version");
  ExpectRefused("10:d54e7e2f:~", names, "version");
  ExpectRefused("1", names, "version");
  ExpectRefused("1:", names, "fingerprint");
  ExpectRefused("1:d54e7e2", names, "fingerprint");
  ExpectRefused("1:d54e7e2:~", names, "fingerprint");
  ExpectRefused("1:D54E7E2F:~", names, "fingerprint");
  ExpectRefused("1:d54e7e2g:~", names, "fingerprint");
  ExpectRefused("1:d54e7e2f", names, "':' after the fingerprint");
  ExpectRefused("1:d54e7e2f,~", names, "':' after the fingerprint");
  ExpectRefused("1:d54e7e2f~", names, "':' after the fingerprint");
}

TEST(DecodeCompoundEventIdTest, RefusesOtherSubscriptions) {
  const std::string id =
      Encode({"a", "b"}, {CompoundEntry::Fresh(), CompoundEntry::Fresh()});
  ASSERT_TRUE(DecodeCompoundEventId(id, {"a", "b"}).ok());
  ExpectRefused(id, {"b", "a"}, "other subscriptions");
  ExpectRefused(id, {"a", "c"}, "other subscriptions");
  ExpectRefused(id, {"a"}, "other subscriptions");
  ExpectRefused(id, {}, "other subscriptions");
}

TEST(DecodeCompoundEventIdTest, RefusesAWrongNumberOfEntries) {
  const std::vector<std::string> names = {"a", "b", "c"};
  const std::string head = Encode(names, {});  // "1:<fingerprint>:"
  ASSERT_EQ(head.size(), 11u);
  ExpectRefused(head, names, "1 entries for 3 subscriptions");
  ExpectRefused(head + "~,~", names, "2 entries for 3 subscriptions");
  ExpectRefused(head + "~,~,~,~", names, "4 entries for 3 subscriptions");
  ExpectRefused(head + "~,~,~,", names, "4 entries for 3 subscriptions");
  // No names: even the empty entry is one too many.
  ExpectRefused(Encode({}, {}), {}, "1 entries for 0 subscriptions");
}

TEST(DecodeCompoundEventIdTest, RefusesMalformedEscapes) {
  const std::vector<std::string> names = {"a"};
  const std::string head = Encode(names, {});
  for (const char* entry :
       {"%", "a%", "%2", "a%2", "%G1", "%2c", "%2g", "%%25", "% 2", "%-1"}) {
    ExpectRefused(head + entry, names, "two upper-case hex digits");
  }
}

TEST(DecodeCompoundEventIdTest, RefusesNeedlessEscapes) {
  const std::vector<std::string> names = {"a"};
  const std::string head = Encode(names, {});
  for (int c = 0x21; c <= 0x7E; ++c) {
    const std::string entry =
        absl::StrCat("%", std::string(1, "0123456789ABCDEF"[c >> 4]),
                     std::string(1, "0123456789ABCDEF"[c & 0xF]));
    const absl::StatusOr<std::vector<CompoundEntry>> decoded =
        DecodeCompoundEventId(head + entry, names);
    if (absl::StrContains("%,!~:", static_cast<char>(c))) {
      ASSERT_TRUE(decoded.ok()) << entry << ": " << decoded.status();
      EXPECT_EQ(*decoded, std::vector<CompoundEntry>{CompoundEntry::At(
                              std::string(1, static_cast<char>(c)))});
    } else {
      ExpectRefused(head + entry, names, "needless escape");
    }
  }
}

TEST(DecodeCompoundEventIdTest, RefusesRawBytesThatMustBeEscaped) {
  const std::vector<std::string> names = {"a"};
  const std::string head = Encode(names, {});
  for (int c = 0; c <= 0xFF; ++c) {
    if (c >= 0x21 && c <= 0x7E) continue;
    ExpectRefused(head + "x" + std::string(1, static_cast<char>(c)), names,
                  "raw byte");
  }
  ExpectRefused(head + "a:b", names, "unescaped ':'");
  ExpectRefused(head + "~~", names, "unescaped '~'");
  ExpectRefused(head + "a~", names, "unescaped '~'");
  ExpectRefused(head + "!1", names, "unescaped '!'");
  ExpectRefused(head + "!!", names, "unescaped '!'");
}

TEST(DecodeCompoundEventIdTest, RefusesIdsHoldingCrLfOrNul) {
  const std::vector<std::string> names = {"a", "b"};
  const std::string head = Encode(names, {});
  ExpectRefused(head + "~,a%0Db", names, "CR");
  ExpectRefused(head + "~,a%0Ab", names, "LF");
  ExpectRefused(head + "~,a%00b", names, "NUL");
  ExpectRefused(head + "%0D,~", names, "entry 1 of 2");
  // What Encode writes for such ids is refused too.
  ExpectRefused(
      Encode(names, {CompoundEntry::At("x\ny"), CompoundEntry::Fresh()}), names,
      "LF");
}

TEST(DecodeCompoundEventIdTest, RefusesIdsLongerThanTheLimit) {
  const std::vector<std::string> names = {"a", "b"};
  const std::string head = Encode(names, {});
  const std::string longest(kMaxCompoundEntryIdBytes, 'x');
  EXPECT_TRUE(DecodeCompoundEventId(head + "~," + longest, names).ok());
  ExpectRefused(head + "~," + longest + "x", names, "longer than 1024 bytes");
  std::string escaped;
  for (size_t i = 0; i <= kMaxCompoundEntryIdBytes; ++i) escaped += "%20";
  ExpectRefused(head + escaped + ",~", names, "longer than 1024 bytes");
}

TEST(DecodeCompoundEventIdTest, EchoesOnlyAShortPrintablePrefix) {
  const std::vector<std::string> names = {"a"};
  const std::string head = Encode(names, {});
  const std::string text = head + std::string(5000, 'q') + "\n";
  const absl::StatusOr<std::vector<CompoundEntry>> decoded =
      DecodeCompoundEventId(text, names);
  ASSERT_FALSE(decoded.ok());
  ExpectRefusal(decoded.status(), text);
  EXPECT_LT(decoded.status().message().size(), 300u) << decoded.status();

  const absl::StatusOr<std::vector<CompoundEntry>> binary =
      DecodeCompoundEventId(std::string("\x01\xFF\r\n", 4), names);
  ASSERT_FALSE(binary.ok());
  ExpectRefusal(binary.status(), "");
}

#if !defined(NDEBUG) && GTEST_HAS_DEATH_TEST
TEST(EncodeCompoundEventIdDeathTest, AssertsIdLength) {
  const std::vector<CompoundEntry> entries = {
      CompoundEntry::At(std::string(kMaxCompoundEntryIdBytes + 1, 'x'))};
  EXPECT_DEATH(EncodeCompoundEventId(0, entries), "check failed");
}
#endif

// --- Property-style checks with pseudo-random input (fixed seed). ---

// A random id: short, drawn mostly from the bytes that matter (reserved
// characters, '%' escapes' look-alikes, controls, high bytes), never CR, LF
// or NUL.
std::string RandomId(std::mt19937& rng) {
  static constexpr char kInteresting[] = "%,!~:0123456789ABCDEFaf \t\x7F";
  std::uniform_int_distribution<int> length(0, 24);
  std::uniform_int_distribution<int> kind(0, 3);
  std::uniform_int_distribution<int> any_byte(1, 255);
  std::uniform_int_distribution<int> interesting(0, sizeof(kInteresting) - 2);
  std::string id;
  const int n = length(rng);
  while (static_cast<int>(id.size()) < n) {
    char c;
    if (kind(rng) == 0) {
      c = kInteresting[interesting(rng)];
    } else {
      c = static_cast<char>(any_byte(rng));
    }
    if (c == '\r' || c == '\n' || c == '\0') continue;
    id.push_back(c);
  }
  return id;
}

TEST(CompoundEventIdPropertyTest, DecodeOfEncodeIsIdentity) {
  std::mt19937 rng(20220623);
  std::uniform_int_distribution<int> subscriptions(1, 16);
  std::uniform_int_distribution<int> state(0, 4);
  int entries_checked = 0;
  for (int round = 0; round < 500; ++round) {
    const int n = subscriptions(rng);
    std::vector<std::string> names;
    std::vector<CompoundEntry> entries;
    for (int i = 0; i < n; ++i) {
      names.push_back(absl::StrCat("s", round, "_", i));
      switch (state(rng)) {
        case 0:
          entries.push_back(CompoundEntry::Fresh());
          break;
        case 1:
          entries.push_back(CompoundEntry::Ended());
          break;
        default:
          entries.push_back(CompoundEntry::At(RandomId(rng)));
          break;
      }
    }
    const std::string encoded = Encode(names, entries);
    ASSERT_TRUE(AllBytesPrintable(encoded)) << encoded;
    const absl::StatusOr<std::vector<CompoundEntry>> decoded =
        DecodeCompoundEventId(encoded, names);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    ASSERT_EQ(*decoded, entries) << encoded;
    entries_checked += n;
  }
  EXPECT_GT(entries_checked, 3000);
}

// Every id has exactly one encoding: whatever decodes encodes back to the
// same text.
TEST(CompoundEventIdPropertyTest, WhatDecodesIsCanonical) {
  static constexpr char kAlphabet[] = "%,!~:0123456789ABCDEFadx \x80";
  const std::vector<std::string> names = {"a", "b"};
  const std::string head = Encode(names, {});
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> length(0, 12);
  std::uniform_int_distribution<int> pick(0, sizeof(kAlphabet) - 2);
  int accepted = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string text = head;
    const int n = length(rng);
    for (int i = 0; i < n; ++i) text.push_back(kAlphabet[pick(rng)]);
    const absl::StatusOr<std::vector<CompoundEntry>> decoded =
        DecodeCompoundEventId(text, names);
    if (!decoded.ok()) {
      ExpectRefusal(decoded.status(), text);
      continue;
    }
    ++accepted;
    ASSERT_EQ(Encode(names, *decoded), text);
  }
  EXPECT_GT(accepted, 100);
}

// --- The shared conformance cases ---

struct EncodeCase {
  std::string name;
  std::vector<std::string> names;
  std::vector<CompoundEntry> entries;
  std::string expect;
};

struct RefusedCase {
  std::string name;
  std::vector<std::string> names;
  std::string header;
};

struct Cases {
  std::vector<EncodeCase> encode;
  std::vector<RefusedCase> refused;
};

std::vector<std::string> StringList(const google::protobuf::Value& value) {
  std::vector<std::string> strings;
  for (const google::protobuf::Value& item : value.list_value().values()) {
    strings.push_back(item.string_value());
  }
  return strings;
}

absl::StatusOr<Cases> LoadCases() {
  absl::StatusOr<std::string> contents = ReadFileToString(kCasesPath);
  if (!contents.ok()) return contents.status();
  google::protobuf::Struct root;
  const auto parsed =
      google::protobuf::util::JsonStringToMessage(*contents, &root);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad JSON in ", kCasesPath, ": ", parsed.ToString()));
  }
  const auto& fields = root.fields();
  if (fields.count("encode") == 0 || fields.count("decode_refused") == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(kCasesPath, " lacks \"encode\" or \"decode_refused\""));
  }
  Cases cases;
  for (const auto& item : fields.at("encode").list_value().values()) {
    const auto& f = item.struct_value().fields();
    for (const char* key : {"name", "names", "entries", "expect"}) {
      if (f.count(key) == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("an encode case lacks \"", key, "\""));
      }
    }
    EncodeCase c;
    c.name = f.at("name").string_value();
    c.names = StringList(f.at("names"));
    c.expect = f.at("expect").string_value();
    for (const auto& entry : f.at("entries").list_value().values()) {
      const auto& e = entry.struct_value().fields();
      const std::string state =
          e.count("state") > 0 ? e.at("state").string_value() : "";
      if (state == "fresh") {
        c.entries.push_back(CompoundEntry::Fresh());
      } else if (state == "ended") {
        c.entries.push_back(CompoundEntry::Ended());
      } else if (state == "at" && e.count("id") > 0) {
        c.entries.push_back(CompoundEntry::At(e.at("id").string_value()));
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("case ", c.name, ": bad entry"));
      }
    }
    cases.encode.push_back(std::move(c));
  }
  for (const auto& item : fields.at("decode_refused").list_value().values()) {
    const auto& f = item.struct_value().fields();
    for (const char* key : {"name", "names", "header", "why"}) {
      if (f.count(key) == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("a decode_refused case lacks \"", key, "\""));
      }
    }
    cases.refused.push_back(RefusedCase{f.at("name").string_value(),
                                        StringList(f.at("names")),
                                        f.at("header").string_value()});
  }
  if (cases.encode.empty() || cases.refused.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(kCasesPath, " holds no cases"));
  }
  return cases;
}

TEST(CompoundEventIdConformanceTest, EncodeCasesBothWays) {
  const absl::StatusOr<Cases> cases = LoadCases();
  ASSERT_TRUE(cases.ok()) << cases.status();
  EXPECT_GE(cases->encode.size(), 10u);
  for (const EncodeCase& c : cases->encode) {
    SCOPED_TRACE(c.name);
    ASSERT_EQ(c.names.size(), c.entries.size());
    EXPECT_EQ(Encode(c.names, c.entries), c.expect);
    const absl::StatusOr<std::vector<CompoundEntry>> decoded =
        DecodeCompoundEventId(c.expect, c.names);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, c.entries);
  }
}

TEST(CompoundEventIdConformanceTest, RefusedCases) {
  const absl::StatusOr<Cases> cases = LoadCases();
  ASSERT_TRUE(cases.ok()) << cases.status();
  EXPECT_GE(cases->refused.size(), 12u);
  for (const RefusedCase& c : cases->refused) {
    SCOPED_TRACE(c.name);
    const absl::StatusOr<std::vector<CompoundEntry>> decoded =
        DecodeCompoundEventId(c.header, c.names);
    ASSERT_FALSE(decoded.ok());
    ExpectRefusal(decoded.status(), c.header);
  }
}

}  // namespace
}  // namespace sse_gateway
