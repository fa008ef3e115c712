// The multiplex endpoint (gateway/route/multiplex_route.h) end to end: a real
// gRPC backend (TestBackend), the real Gateway, and a real HTTP client
// parsing the multiplexed stream with SseParser. Sixteen subscriptions over
// one connection, each getting exactly its route's events under compound
// ids; a reconnect with the last compound id resuming every subscription
// (one of them fan-out; also after multiplex.max_duration); a fan-out gap
// signalled as `name.gap`; one subscription failing mid-stream while the
// others go on, and not reopened on reconnect; route limits and early
// upstream failures refusing the whole request without leaking the others'
// calls; bad input; and fairness between a firehose and a slow subscription,
// measured (the numbers are printed to the test log, "[fairness ...]").

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/compound_event_id.h"
#include "core/sse_parser.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "tests/prometheus_text.h"
#include "tests/sse_test_client.h"
#include "tests/test_backend.h"
#include "tests/test_gateway.h"
#include "tests/wait_for.h"

namespace sse_gateway {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kPatience = absl::Seconds(60);
// The longest a test reads one stream.
constexpr absl::Duration kReadLimit = absl::Seconds(30);
constexpr char kMultiplexPath[] = "/v1/multiplex";
constexpr char kEndOk[] = R"({"code":0,"message":""})";

// Percent-encodes every byte but the unreserved ones (RFC 3986).
std::string Encode(absl::string_view text) {
  std::string out;
  for (const char ch : text) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' ||
        c == '~') {
      out.push_back(ch);
    } else {
      absl::StrAppendFormat(&out, "%%%02X", c);
    }
  }
  return out;
}

struct Sub {
  std::string name;
  std::string target;  // route path and query, as a plain request sends it
};

std::vector<std::string> NamesOf(const std::vector<Sub>& subs) {
  std::vector<std::string> names;
  for (const Sub& sub : subs) names.push_back(sub.name);
  return names;
}

// The multiplexed request for `subs`.
std::string MuxTarget(const std::vector<Sub>& subs) {
  std::vector<std::string> params;
  for (const Sub& sub : subs) {
    params.push_back(absl::StrCat(sub.name, "=", Encode(sub.target)));
  }
  return absl::StrCat(kMultiplexPath, "?", absl::StrJoin(params, "&"));
}

// The "seq" of a StreamResponse rendered as JSON, or -1.
int64_t SeqOf(absl::string_view data) {
  const absl::string_view key = "\"seq\":\"";
  const size_t at = data.find(key);
  if (at == absl::string_view::npos) return -1;
  const size_t from = at + key.size();
  const size_t to = data.find('"', from);
  int64_t seq = -1;
  if (to == absl::string_view::npos ||
      !absl::SimpleAtoi(data.substr(from, to - from), &seq)) {
    return -1;
  }
  return seq;
}

std::string FingerprintHex(const std::vector<std::string>& names) {
  return absl::StrFormat("%08x", CompoundIdFingerprint(names));
}

std::string Show(const CompoundEntry& entry) {
  switch (entry.state) {
    case CompoundEntry::State::kFresh:
      return "~";
    case CompoundEntry::State::kEnded:
      return "!";
    case CompoundEntry::State::kAt:
      return absl::StrCat("At(", entry.id, ")");
  }
  return "?";
}

std::string Show(const std::vector<CompoundEntry>& entries) {
  std::vector<std::string> shown;
  for (const CompoundEntry& entry : entries) shown.push_back(Show(entry));
  return absl::StrJoin(shown, ",");
}

// The events of one subscription of a multiplexed response.
struct SubEvents {
  std::vector<std::string> data;    // its events' data, in order
  std::vector<int64_t> seqs;        // the seq in each data
  std::vector<std::string> ids;     // its own id per event (from compound)
  std::vector<std::string> ends;    // data of its `name.end` events
  std::vector<std::string> others;  // any other `name.*` type seen
};

class MultiplexTest : public GatewayTest {
 protected:
  void SetUp() override {
    TestBackend::Options options;
    options.send_times_per_call = 1000;
    backend_ = TestBackend::Start(options);
  }

  // Routes (all testing.v1.TestService/Stream):
  //   /v1/stream   sequence ids, resume_field after_seq, retry_ms 1500
  //   /v1/seqid    id_field seq, resume_field after_seq, retry_ms 2500
  //   /v1/keyed    id_field key, event "update"
  //   /v1/plain    sequence ids, no resume field
  //   /v1/shared   fan-out, id_field seq, resume_field after_seq
  //   /v1/gapped   the same with replay_events 3 and gaps signalled
  //   /v1/limited  max_streams 1
  // and the multiplex endpoint at kMultiplexPath (16 subscriptions).
  void StartMux(const std::function<void(GatewayConfig&)>& edit = nullptr) {
    StartGateway([&](GatewayConfig& config) {
      config.open_wait = absl::Seconds(1);
      config.routes.push_back(TestRoute("/v1/stream", [](RouteConfig& r) {
        r.upstream.resume_field = "after_seq";
        r.upstream.retry_ms = 1500;
      }));
      config.routes.push_back(TestRoute("/v1/seqid", [](RouteConfig& r) {
        r.upstream.id_field = "seq";
        r.upstream.resume_field = "after_seq";
        r.upstream.retry_ms = 2500;
      }));
      config.routes.push_back(TestRoute("/v1/keyed", [](RouteConfig& r) {
        r.upstream.id_field = "key";
        r.upstream.event = "update";
      }));
      config.routes.push_back(TestRoute("/v1/plain"));
      config.routes.push_back(TestRoute("/v1/shared", [](RouteConfig& r) {
        r.upstream.id_field = "seq";
        r.upstream.resume_field = "after_seq";
        FanoutConfig fanout;
        fanout.on_gap = GapPolicy::kDedicated;
        r.fanout = fanout;
      }));
      config.routes.push_back(TestRoute("/v1/gapped", [](RouteConfig& r) {
        r.upstream.id_field = "seq";
        r.upstream.resume_field = "after_seq";
        FanoutConfig fanout;
        fanout.replay_events = 3;
        fanout.on_gap = GapPolicy::kSignal;
        r.fanout = fanout;
      }));
      config.routes.push_back(
          TestRoute("/v1/limited", [](RouteConfig& r) { r.max_streams = 1; }));
      MultiplexConfig multiplex;
      multiplex.path = kMultiplexPath;
      multiplex.max_subscriptions = 16;
      config.multiplex = multiplex;
      if (edit) edit(config);
    });
  }

  // GETs `target`; `on_event` (optional) returns false to disconnect. A
  // stream that goes on for more than kReadLimit (the condition the test
  // waits for never came) is a test failure, and is disconnected then.
  SseResponse Read(
      const std::string& target, const httplib::Headers& headers = {},
      const std::function<bool(const SseEvent&)>& on_event = nullptr) const {
    SseTestClient client("127.0.0.1", port(), kPatience);
    const absl::Time give_up = absl::Now() + kReadLimit;
    return client.Get(target, headers, [&](const SseEvent& event) {
      if (absl::Now() > give_up) {
        ADD_FAILURE() << "still reading " << target << " after " << kReadLimit;
        return false;
      }
      return on_event == nullptr || on_event(event);
    });
  }

  std::string Metrics() const {
    SseTestClient client("127.0.0.1", port(), kPatience);
    return client.Send("GET", "/metrics").body;
  }
  int64_t ActiveStreamsOn(const std::string& route) const {
    return SampleInt(
        Metrics(),
        absl::StrCat("sse_gateway_active_streams{route=\"", route, "\"}"));
  }

  // Splits `response` by subscription, decoding every id as a compound id
  // for `names` (a test failure if one does not decode).
  static std::vector<SubEvents> Split(const SseResponse& response,
                                      const std::vector<std::string>& names) {
    std::vector<SubEvents> split(names.size());
    for (const SseEvent& event : response.events) {
      if (event.type == "end") continue;
      absl::StatusOr<std::vector<CompoundEntry>> entries =
          DecodeCompoundEventId(event.last_event_id, names);
      EXPECT_TRUE(entries.ok()) << event.type << " " << event.last_event_id
                                << ": " << entries.status();
      bool known = false;
      for (size_t i = 0; i < names.size(); ++i) {
        if (event.type == names[i]) {
          known = true;
          split[i].data.push_back(event.data);
          split[i].seqs.push_back(SeqOf(event.data));
          if (entries.ok()) {
            EXPECT_EQ((*entries)[i].state, CompoundEntry::State::kAt)
                << event.last_event_id;
            split[i].ids.push_back((*entries)[i].id);
          }
        } else if (event.type == absl::StrCat(names[i], ".end")) {
          known = true;
          split[i].ends.push_back(event.data);
          if (entries.ok()) {
            EXPECT_EQ((*entries)[i], CompoundEntry::Ended())
                << event.last_event_id;
          }
        } else if (absl::StartsWith(event.type, absl::StrCat(names[i], "."))) {
          known = true;
          split[i].others.push_back(event.type);
        }
      }
      EXPECT_TRUE(known) << "event type " << event.type;
    }
    return split;
  }

  // The Stream calls whose request's key_prefix is `prefix`.
  std::vector<TestBackend::ObservedCall> CallsWithPrefix(
      const std::string& prefix) const {
    std::vector<TestBackend::ObservedCall> found;
    for (TestBackend::ObservedCall& call : backend_->calls()) {
      if (call.request.key_prefix() == prefix) found.push_back(std::move(call));
    }
    return found;
  }
};

std::vector<int64_t> Range(int64_t from, int64_t to) {
  std::vector<int64_t> range;
  for (int64_t i = from; i <= to; ++i) range.push_back(i);
  return range;
}

// 1. Sixteen subscriptions over one connection, to four routes with
// different parameters each: every subscription gets exactly what a direct
// request to its route gets, under its name, with compound ids that track
// every subscription's own last id.
TEST_F(MultiplexTest, SixteenSubscriptionsEachGetExactlyTheirRoutesEvents) {
  ASSERT_NO_FATAL_FAILURE(StartMux());
  std::vector<Sub> subs;
  for (int i = 0; i < 16; ++i) {
    std::string name = absl::StrCat("s", i);
    if (i == 1) name = "news_1";
    if (i == 2) name = "Tick-2";
    if (i == 3) name = "x";
    if (i == 15) name = std::string(32, 'z');  // the longest name
    std::string target;
    switch (i % 4) {
      case 0:
        target = "/v1/stream";
        break;
      case 1:
        target = "/v1/seqid";
        break;
      case 2:
        target = "/v1/keyed";
        break;
      case 3:
        target = "/v1/plain";
        break;
    }
    // Ids of the keyed route hold what the compound id must escape.
    const std::string prefix = i % 4 == 2
                                   ? absl::StrCat("k,%~!: \xC3\xA9", i, "-")
                                   : absl::StrCat("p", i, "-");
    absl::StrAppend(&target, "?count=", 2 + i, "&interval_ms=", (i % 3) * 7,
                    "&echo.a_int64=", 1000 * i + 7,
                    "&echo.color=", i % 2 == 0 ? "COLOR_RED" : "COLOR_GREEN",
                    "&key_prefix=", Encode(prefix));
    subs.push_back({name, target});
  }
  const std::vector<std::string> names = NamesOf(subs);

  // What each route sends to a direct request.
  std::vector<std::vector<std::string>> direct_data(subs.size());
  std::vector<std::vector<std::string>> direct_ids(subs.size());
  for (size_t i = 0; i < subs.size(); ++i) {
    SseResponse direct = Read(subs[i].target);
    ASSERT_EQ(direct.status, 200) << subs[i].target << " " << direct.body;
    ASSERT_FALSE(direct.events.empty());
    EXPECT_EQ(direct.events.back().type, "end");
    for (const SseEvent& event : direct.events) {
      if (event.type == "end") continue;
      direct_data[i].push_back(event.data);
      direct_ids[i].push_back(event.last_event_id);
    }
    ASSERT_EQ(direct_data[i].size(), 2 + i) << subs[i].target;
  }
  const size_t direct_calls = backend_->calls().size();
  ASSERT_EQ(direct_calls, subs.size());

  const std::string target = MuxTarget(subs);
  SseResponse mux = Read(target);
  ASSERT_EQ(mux.status, 200) << mux.body;
  EXPECT_EQ(mux.header("Content-Type"), "text/event-stream");
  EXPECT_TRUE(mux.completed);
  ASSERT_FALSE(mux.events.empty());
  EXPECT_EQ(mux.events.back().type, "end");
  EXPECT_EQ(mux.events.back().data, kEndOk);

  const std::vector<SubEvents> split = Split(mux, names);
  size_t expected_events = 1;  // the final `end`
  for (size_t i = 0; i < subs.size(); ++i) {
    SCOPED_TRACE(subs[i].name);
    EXPECT_EQ(split[i].data, direct_data[i]);
    EXPECT_EQ(split[i].ids, direct_ids[i]);
    EXPECT_EQ(split[i].ends, std::vector<std::string>{kEndOk});
    EXPECT_TRUE(split[i].others.empty());
    expected_events += direct_data[i].size() + 1;
  }
  EXPECT_EQ(mux.events.size(), expected_events);
  // The subscriptions' retry hints: the lowest is the one that holds.
  EXPECT_EQ(mux.reconnection_time_ms, 1500);

  // Every compound id says exactly where every subscription stood then.
  std::vector<CompoundEntry> expected(subs.size(), CompoundEntry::Fresh());
  std::vector<size_t> delivered(subs.size(), 0);
  for (size_t e = 0; e + 1 < mux.events.size(); ++e) {
    const SseEvent& event = mux.events[e];
    for (size_t i = 0; i < subs.size(); ++i) {
      if (event.type == names[i]) {
        ASSERT_LT(delivered[i], direct_ids[i].size());
        expected[i] = CompoundEntry::At(direct_ids[i][delivered[i]++]);
      } else if (event.type == absl::StrCat(names[i], ".end")) {
        // Its end follows all its events.
        EXPECT_EQ(delivered[i], direct_ids[i].size()) << names[i];
        expected[i] = CompoundEntry::Ended();
      }
    }
    absl::StatusOr<std::vector<CompoundEntry>> entries =
        DecodeCompoundEventId(event.last_event_id, names);
    ASSERT_TRUE(entries.ok()) << entries.status();
    EXPECT_EQ(*entries, expected)
        << "event " << e << " (" << event.type << "): " << Show(*entries)
        << " vs " << Show(expected);
    EXPECT_EQ(EncodeCompoundEventId(CompoundIdFingerprint(names), expected),
              event.last_event_id);
  }
  // An id the keyed route sent with ',' '%' '~' '!' ':' ' ' and UTF-8 made
  // it through the compound id escaped (and back, as checked above).
  EXPECT_TRUE(std::any_of(
      mux.events.begin(), mux.events.end(), [](const SseEvent& event) {
        return absl::StrContains(event.last_event_id,
                                 "k%2C%25%7E%21%3A%20%C3%A9");
      }));
  // The last compound id says every subscription has ended: resuming with
  // it is a 204, which stops EventSource, and opens nothing.
  const std::string last_id = mux.events.back().last_event_id;
  EXPECT_EQ(last_id,
            EncodeCompoundEventId(CompoundIdFingerprint(names),
                                  std::vector<CompoundEntry>(
                                      subs.size(), CompoundEntry::Ended())));
  SseResponse over = Read(target, {{"Last-Event-ID", last_id}});
  EXPECT_EQ(over.status, 204);
  EXPECT_TRUE(over.events.empty());

  // One upstream call per subscription, with its own request.
  ASSERT_TRUE(backend_->WaitForFinished(2 * subs.size(), kPatience));
  std::vector<TestBackend::ObservedCall> calls = backend_->calls();
  ASSERT_EQ(calls.size(), 2 * subs.size());
  for (size_t i = 0; i < subs.size(); ++i) {
    std::vector<TestBackend::ObservedCall> mine =
        CallsWithPrefix(calls[i].request.key_prefix());
    ASSERT_EQ(mine.size(), 2u) << subs[i].name;
    EXPECT_EQ(mine[1].request.SerializeAsString(),
              mine[0].request.SerializeAsString());
    EXPECT_EQ(mine[1].metadata.count("last-event-id"), 0u);
  }
  EXPECT_TRUE(WaitForActiveStreams(0));
}

// 2. A reconnect with the last compound id resumes every subscription after
// its own last event (sequence ids, an id field, a fan-out route), and one
// that had delivered nothing ("~") starts afresh.
TEST_F(MultiplexTest, ReconnectWithTheLastCompoundIdResumesEverySubscription) {
  ASSERT_NO_FATAL_FAILURE(StartMux());
  const std::vector<Sub> subs = {
      {"seq",
       "/v1/stream?count=100000&interval_ms=20&hold_open=true"
       "&key_prefix=a"},
      {"byseq",
       "/v1/seqid?count=100000&interval_ms=13&hold_open=true"
       "&key_prefix=b"},
      {"shared",
       "/v1/shared?count=100000&interval_ms=7&hold_open=true"
       "&key_prefix=c"},
      {"quiet", "/v1/stream?count=0&hold_open=true&key_prefix=d"},
  };
  const std::vector<std::string> names = NamesOf(subs);
  const std::string target = MuxTarget(subs);
  auto counts_reach = [&](const std::vector<int64_t>& at_least) {
    auto seen = std::make_shared<std::vector<int64_t>>(subs.size(), 0);
    return [&, seen, at_least](const SseEvent& event) {
      for (size_t i = 0; i < subs.size(); ++i) {
        if (event.type == names[i]) ++(*seen)[i];
      }
      for (size_t i = 0; i < subs.size(); ++i) {
        if ((*seen)[i] < at_least[i]) return event.type != "end";
      }
      return false;
    };
  };

  SseResponse first = Read(target, {}, counts_reach({5, 5, 5, 0}));
  ASSERT_EQ(first.status, 200) << first.body;
  ASSERT_FALSE(first.completed);
  ASSERT_FALSE(first.events.empty());
  const std::string last_id = first.events.back().last_event_id;
  absl::StatusOr<std::vector<CompoundEntry>> position =
      DecodeCompoundEventId(last_id, names);
  ASSERT_TRUE(position.ok()) << position.status();
  EXPECT_EQ((*position)[3], CompoundEntry::Fresh()) << last_id;
  const std::vector<SubEvents> before = Split(first, names);
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_GE(before[i].seqs.size(), 5u) << names[i];
    // The compound id records each one's last id: its last seq.
    EXPECT_EQ((*position)[i],
              CompoundEntry::At(absl::StrCat(before[i].seqs.back())))
        << names[i] << " in " << last_id;
  }
  EXPECT_TRUE(before[3].data.empty());
  const size_t calls_before = backend_->calls().size();
  EXPECT_EQ(calls_before, 4u);  // one shared call for `shared`

  // Resume (as EventSource would, with the last id it saw) and read on until
  // each has at least 10 more events.
  SseResponse second =
      Read(target, {{"Last-Event-ID", last_id}}, counts_reach({10, 10, 10, 0}));
  ASSERT_EQ(second.status, 200) << second.body;
  const std::vector<SubEvents> after = Split(second, names);
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(names[i]);
    std::vector<int64_t> all = before[i].seqs;
    all.insert(all.end(), after[i].seqs.begin(), after[i].seqs.end());
    ASSERT_GE(all.size(), 15u);
    // Nothing lost, nothing repeated: exactly 1, 2, ..., n.
    EXPECT_EQ(all, Range(1, static_cast<int64_t>(all.size())));
    EXPECT_TRUE(after[i].others.empty());  // no gap signal
    EXPECT_TRUE(after[i].ends.empty());
  }
  EXPECT_TRUE(after[3].data.empty());

  // Upstream: `seq` and `byseq` were resumed after their own last ids, the
  // fan-out one from its shared call's ring (no new call), `quiet` afresh.
  for (const auto& [prefix, index] :
       std::vector<std::pair<std::string, size_t>>{{"a", 0}, {"b", 1}}) {
    std::vector<TestBackend::ObservedCall> calls = CallsWithPrefix(prefix);
    ASSERT_EQ(calls.size(), 2u) << prefix;
    EXPECT_EQ(calls[1].request.after_seq(), before[index].seqs.back());
    auto metadata = calls[1].metadata.find("last-event-id");
    ASSERT_NE(metadata, calls[1].metadata.end());
    EXPECT_EQ(metadata->second, absl::StrCat(before[index].seqs.back()));
  }
  EXPECT_EQ(CallsWithPrefix("c").size(), 1u);
  std::vector<TestBackend::ObservedCall> quiet = CallsWithPrefix("d");
  ASSERT_EQ(quiet.size(), 2u);
  EXPECT_EQ(quiet[1].request.after_seq(), 0u);
  EXPECT_EQ(quiet[1].metadata.count("last-event-id"), 0u);
}

// A fan-out subscription resumed from an id older than its ring gets the
// hub's gap signal as `name.gap`, then the ring.
TEST_F(MultiplexTest, AFanoutGapIsSignalledUnderTheSubscriptionsName) {
  ASSERT_NO_FATAL_FAILURE(StartMux());
  const std::string gapped = "/v1/gapped?count=10&hold_open=true&key_prefix=g";
  int seen = 0;
  SseResponse plain = Read(gapped, {}, [&](const SseEvent& event) {
    return event.type != "message" || ++seen < 10;
  });
  ASSERT_EQ(seen, 10) << plain.body;
  // The shared call lingers with 8, 9, 10 in its ring.
  const std::vector<Sub> subs = {{"g", gapped},
                                 {"p", "/v1/plain?count=2&key_prefix=p"}};
  const std::vector<std::string> names = NamesOf(subs);
  const std::string from =
      EncodeCompoundEventId(CompoundIdFingerprint(names),
                            {CompoundEntry::At("1"), CompoundEntry::Fresh()});
  int g_events = 0;
  SseResponse mux = Read(MuxTarget(subs), {{"Last-Event-ID", from}},
                         [&](const SseEvent& event) {
                           return event.type != "g" || ++g_events < 3;
                         });
  ASSERT_EQ(mux.status, 200) << mux.body;
  const std::vector<SubEvents> split = Split(mux, names);
  EXPECT_EQ(split[0].others, std::vector<std::string>{"g.gap"});
  EXPECT_EQ(split[0].seqs, Range(8, 10));
  for (const SseEvent& event : mux.events) {
    if (event.type != "g.gap") continue;
    EXPECT_EQ(event.data, R"({"last_event_id":"1","resumed_after":"7"})");
    absl::StatusOr<std::vector<CompoundEntry>> entries =
        DecodeCompoundEventId(event.last_event_id, names);
    ASSERT_TRUE(entries.ok()) << entries.status();
    // The signal has no id of its own: `g` still stands at 1.
    EXPECT_EQ((*entries)[0], CompoundEntry::At("1"));
  }
  EXPECT_EQ(CallsWithPrefix("g").size(), 1u);  // the shared call, no other
}

// multiplex.max_duration ends the response with a retry hint and no `end`;
// the reconnect with the last compound id resumes every subscription.
TEST_F(MultiplexTest, MaxDurationEndsWithARetryAndTheReconnectResumes) {
  ASSERT_NO_FATAL_FAILURE(StartMux([](GatewayConfig& config) {
    config.multiplex->max_duration = absl::Milliseconds(500);
  }));
  const std::vector<Sub> subs = {
      {"a",
       "/v1/stream?count=100000&interval_ms=10&hold_open=true"
       "&key_prefix=a"},
      {"f",
       "/v1/shared?count=100000&interval_ms=10&hold_open=true"
       "&key_prefix=f"},
  };
  const std::vector<std::string> names = NamesOf(subs);
  const std::string target = MuxTarget(subs);
  SseResponse first = Read(target);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_TRUE(first.completed);
  EXPECT_TRUE(first.reconnection_time_ms.has_value());
  ASSERT_FALSE(first.events.empty());
  for (const SseEvent& event : first.events) {
    EXPECT_TRUE(event.type == "a" || event.type == "f") << event.type;
  }
  EXPECT_TRUE(absl::EndsWith(first.body, "\n\nretry: 1000\n\n") ||
              absl::EndsWith(first.body, "\n\nretry: 1000\n"))
      << first.body.substr(first.body.size() -
                           std::min<size_t>(first.body.size(), 200));
  const std::vector<SubEvents> before = Split(first, names);
  const std::string last_id = first.events.back().last_event_id;
  std::vector<int64_t> counts(2, 0);
  SseResponse second =
      Read(target, {{"Last-Event-ID", last_id}}, [&](const SseEvent& event) {
        if (event.type == "a") ++counts[0];
        if (event.type == "f") ++counts[1];
        return counts[0] < 5 || counts[1] < 5;
      });
  ASSERT_EQ(second.status, 200) << second.body;
  const std::vector<SubEvents> after = Split(second, names);
  for (size_t i = 0; i < 2; ++i) {
    SCOPED_TRACE(names[i]);
    ASSERT_FALSE(before[i].seqs.empty());
    std::vector<int64_t> all = before[i].seqs;
    all.insert(all.end(), after[i].seqs.begin(), after[i].seqs.end());
    EXPECT_EQ(all, Range(1, static_cast<int64_t>(all.size())));
  }
  EXPECT_EQ(CallsWithPrefix("a").size(), 2u);
  EXPECT_EQ(CallsWithPrefix("f").size(), 1u);  // resumed from the ring
}

// 3. A subscription whose upstream fails mid-stream ends alone (`bad.end`
// with its code), the other goes on; the compound id marks it ended ("!")
// and a reconnect with it does not reopen it.
TEST_F(MultiplexTest, ASubscriptionThatFailsMidStreamEndsAloneAndStaysEnded) {
  ASSERT_NO_FATAL_FAILURE(StartMux());
  const std::vector<Sub> subs = {
      {"good",
       "/v1/stream?count=100000&interval_ms=10&hold_open=true"
       "&key_prefix=good"},
      {"bad",
       "/v1/plain?count=3&interval_ms=30&fail_code=13"
       "&fail_message=boom&key_prefix=bad"},
      // Ends cleanly without a message: only its end.
      {"none", "/v1/plain?count=0&key_prefix=none"},
  };
  const std::vector<std::string> names = NamesOf(subs);
  const std::string target = MuxTarget(subs);
  int good_after_bad_end = 0;
  bool bad_ended = false;
  SseResponse first = Read(target, {}, [&](const SseEvent& event) {
    if (event.type == "bad.end") bad_ended = true;
    if (event.type == "good" && bad_ended) ++good_after_bad_end;
    return good_after_bad_end < 5 && event.type != "end";
  });
  ASSERT_EQ(first.status, 200) << first.body;
  ASSERT_FALSE(first.completed);
  const std::vector<SubEvents> split = Split(first, names);
  EXPECT_EQ(split[1].seqs, Range(1, 3));
  ASSERT_EQ(split[1].ends.size(), 1u);
  EXPECT_EQ(split[1].ends[0], R"({"code":13,"message":"boom"})");
  EXPECT_TRUE(split[0].ends.empty());
  EXPECT_TRUE(split[2].data.empty());
  EXPECT_EQ(split[2].ends, std::vector<std::string>{kEndOk});
  EXPECT_GE(good_after_bad_end, 5);
  // `good` went on, in order, after `bad` ended.
  EXPECT_EQ(split[0].seqs,
            Range(1, static_cast<int64_t>(split[0].seqs.size())));
  for (const SseEvent& event : first.events) {
    EXPECT_NE(event.type, "end") << "the whole stream must not end";
  }
  // From `bad.end` on, every compound id says "!" for `bad`.
  bool seen_end = false;
  for (const SseEvent& event : first.events) {
    seen_end = seen_end || event.type == "bad.end";
    if (!seen_end) continue;
    absl::StatusOr<std::vector<CompoundEntry>> entries =
        DecodeCompoundEventId(event.last_event_id, names);
    ASSERT_TRUE(entries.ok()) << entries.status();
    EXPECT_EQ((*entries)[1], CompoundEntry::Ended()) << event.last_event_id;
  }
  const std::string last_id = first.events.back().last_event_id;
  EXPECT_TRUE(absl::EndsWith(last_id, ",!,!")) << last_id;

  ASSERT_TRUE(WaitFor([&] { return backend_->active_calls() == 0; }));
  ASSERT_EQ(CallsWithPrefix("none").size(), 1u);
  ASSERT_EQ(CallsWithPrefix("bad").size(), 1u);
  ASSERT_EQ(CallsWithPrefix("good").size(), 1u);
  bool any_bad = false;
  SseResponse second =
      Read(target, {{"Last-Event-ID", last_id}}, [&](const SseEvent& event) {
        if (absl::StartsWith(event.type, "bad") ||
            absl::StartsWith(event.type, "none")) {
          any_bad = true;
        }
        return event.type != "good" ||
               SeqOf(event.data) < split[0].seqs.back() + 3;
      });
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_FALSE(any_bad);
  const std::vector<SubEvents> resumed = Split(second, names);
  ASSERT_FALSE(resumed[0].seqs.empty());
  EXPECT_EQ(resumed[0].seqs.front(), split[0].seqs.back() + 1);
  EXPECT_TRUE(resumed[1].data.empty());
  EXPECT_TRUE(resumed[1].ends.empty());
  EXPECT_TRUE(resumed[2].ends.empty());
  // The backend saw a new call for `good` only.
  EXPECT_EQ(CallsWithPrefix("bad").size(), 1u);
  EXPECT_EQ(CallsWithPrefix("none").size(), 1u);
  std::vector<TestBackend::ObservedCall> good = CallsWithPrefix("good");
  ASSERT_EQ(good.size(), 2u);
  EXPECT_EQ(good[1].request.after_seq(), split[0].seqs.back());
  EXPECT_EQ(backend_->calls().size(), 4u);
}

// 4. Limits: a route at its max_streams refuses the whole multiplexed request
// (503 + JSON; a retry-only stream to EventSource), and the subscriptions
// opened before it are cancelled and give their slots back. An upstream
// failure before the first message does the same with its own status. More
// than max_subscriptions is a 400.
TEST_F(MultiplexTest,
       ALimitOrEarlyFailureRefusesTheWholeRequestAndLeaksNothing) {
  ASSERT_NO_FATAL_FAILURE(StartMux());
  // A plain request holds /v1/limited's only slot.
  std::atomic<bool> release{false};
  std::atomic<bool> holding{false};
  std::thread holder([&] {
    Read("/v1/limited?count=1&hold_open=true&key_prefix=holder", {},
         [&](const SseEvent&) {
           holding = true;
           while (!release.load()) absl::SleepFor(absl::Milliseconds(5));
           return false;
         });
  });
  ASSERT_TRUE(WaitFor([&] { return holding.load(); }));
  ASSERT_EQ(backend_->active_calls(), 1u);
  ASSERT_EQ(gateway_->active_streams(), 1);

  const std::vector<Sub> subs = {
      {"a", "/v1/stream?count=1&hold_open=true&key_prefix=a"},
      {"lim", "/v1/limited?count=1&hold_open=true&key_prefix=lim"},
      {"c", "/v1/plain?count=1&hold_open=true&key_prefix=c"},
  };
  const std::string target = MuxTarget(subs);
  SseResponse refused = Read(target);
  EXPECT_EQ(refused.status, 503);
  EXPECT_EQ(refused.header("Content-Type"), "application/json");
  EXPECT_FALSE(refused.header("Retry-After").empty());
  EXPECT_THAT(refused.body, HasSubstr("{\"code\":14,\"message\":\"subscription "
                                      "lim: no stream slot free on "
                                      "/v1/limited"));
  // EventSource gets a retry-only stream instead.
  SseResponse retry = Read(target, {{"Accept", "text/event-stream"}});
  EXPECT_EQ(retry.status, 200);
  EXPECT_EQ(retry.header("Content-Type"), "text/event-stream");
  EXPECT_TRUE(retry.events.empty());
  EXPECT_TRUE(retry.reconnection_time_ms.has_value());
  EXPECT_THAT(retry.body, HasSubstr(": unavailable: subscription lim: "));

  // An upstream failing before its first message fails the request too.
  const std::vector<Sub> failing = {
      {"a", "/v1/stream?count=1&hold_open=true&key_prefix=a"},
      {"gone",
       "/v1/plain?count=0&fail_code=5&fail_message=no%20such"
       "&key_prefix=gone"},
  };
  SseResponse not_found = Read(MuxTarget(failing));
  EXPECT_EQ(not_found.status, 404);
  EXPECT_EQ(not_found.body,
            R"({"code":5,"message":"subscription gone: no such"})");

  // Nothing stays open but the holder: not the gateway's slots, not the
  // multiplex endpoint's stream, not an upstream call.
  EXPECT_TRUE(WaitFor([&] {
    std::vector<TestBackend::ObservedCall> calls = backend_->calls();
    for (const TestBackend::ObservedCall& call : calls) {
      if (call.request.key_prefix() != "holder" && !call.finished) return false;
    }
    return backend_->active_calls() == 1;
  })) << backend_->active_calls()
      << " calls open";
  EXPECT_TRUE(CallsWithPrefix("lim").empty());
  EXPECT_TRUE(CallsWithPrefix("c").empty());
  EXPECT_TRUE(WaitFor([&] { return gateway_->active_streams() == 1; }))
      << gateway_->active_streams();
  EXPECT_TRUE(WaitFor([&] {
    return ActiveStreamsOn("/v1/stream") == 0 &&
           ActiveStreamsOn("/v1/plain") == 0 &&
           ActiveStreamsOn(kMultiplexPath) == 0 &&
           ActiveStreamsOn("/v1/limited") == 1;
  })) << Metrics();

  // Seventeen subscriptions: 400 before anything is opened.
  const size_t calls = backend_->calls().size();
  std::vector<Sub> many;
  for (int i = 0; i < 17; ++i) {
    many.push_back({absl::StrCat("m", i), "/v1/plain?count=1"});
  }
  SseResponse too_many = Read(MuxTarget(many));
  EXPECT_EQ(too_many.status, 400);
  EXPECT_THAT(too_many.body, HasSubstr("\"code\":3"));
  EXPECT_THAT(too_many.body, HasSubstr("17 subscriptions"));
  EXPECT_THAT(too_many.body, HasSubstr("over the limit of 16"));
  EXPECT_EQ(backend_->calls().size(), calls);
  many.pop_back();  // sixteen are fine
  SseResponse sixteen = Read(MuxTarget(many));
  EXPECT_EQ(sixteen.status, 200) << sixteen.body;
  ASSERT_FALSE(sixteen.events.empty());
  EXPECT_EQ(sixteen.events.back().data, kEndOk);

  release = true;
  holder.join();
  EXPECT_TRUE(WaitForActiveStreams(0));
}

// 5. Bad input is refused before any upstream call, with a message naming
// the problem (and the subscription); the gateway goes on serving.
TEST_F(MultiplexTest, BadInputIsRefusedWithAMessageAndTheGatewayGoesOn) {
  ASSERT_NO_FATAL_FAILURE(StartMux());
  const std::string ok = Encode("/v1/plain?count=1");
  struct Case {
    std::string query;  // after "?"
    int status;
    std::string message;  // a part of the JSON body
  };
  const std::vector<Case> cases = {
      {"", 400, "needs at least one subscription"},
      // The query parser refuses an empty name before the endpoint does.
      {absl::StrCat("=", ok), 400, "query parameter with an empty name"},
      {absl::StrCat(std::string(33, 'n'), "=", ok), 400,
       "must be 1 to 32 characters"},
      {absl::StrCat("a.b=", ok), 400,
       "may only hold letters, digits, '_' and '-'"},
      {absl::StrCat("end=", ok), 400, "is reserved"},
      {absl::StrCat("error=", ok), 400, "is reserved"},
      {absl::StrCat("a=", ok, "&b=", ok, "&a=", ok), 400, "is used twice"},
      {absl::StrCat("a=", ok, "&ghost=", Encode("/v1/nope?count=1")), 404,
       "subscription ghost: no route for /v1/nope"},
      {absl::StrCat("rel=", Encode("v1/plain?count=1")), 400,
       "subscription rel: \\\"v1/plain?count=1\\\" is not a route path"},
      {"empty=", 400, "subscription empty: "},
      {absl::StrCat("loop=", Encode("/v1/multiplex?a=%2Fv1%2Fplain")), 400,
       "subscription loop: a multiplexed request cannot subscribe to the "
       "multiplex endpoint"},
      {absl::StrCat("esc=", Encode("/v1/pl%zzain?count=1")), 400,
       "subscription esc: the path /v1/pl%zzain has a malformed "
       "percent-escape"},
      {"a=%zz", 400, "\"code\":3"},
      {absl::StrCat("q=", Encode("/v1/plain?nope=1")), 400, "subscription q: "},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.query);
    SseResponse response = Read(absl::StrCat(kMultiplexPath, "?", c.query));
    EXPECT_EQ(response.status, c.status);
    EXPECT_EQ(response.header("Content-Type"), "application/json");
    EXPECT_THAT(response.body, HasSubstr(c.message));
  }
  SseResponse bad_query =
      Read(absl::StrCat(kMultiplexPath, "?q=", Encode("/v1/plain?nope=1")));
  EXPECT_THAT(bad_query.body, HasSubstr("nope"));

  // Last-Event-ID values that are not compound ids for these subscriptions.
  const std::vector<Sub> subs = {{"a", "/v1/stream?count=1"},
                                 {"b", "/v1/plain?count=1"}};
  const std::vector<std::string> names = NamesOf(subs);
  const std::string fp = FingerprintHex(names);
  const std::string other_fp = FingerprintHex({"b", "a"});
  ASSERT_NE(fp, other_fp);
  const std::vector<std::pair<std::string, std::string>> bad_ids = {
      {"garbage", "does not start with the version"},
      {absl::StrCat("2:", fp, ":1,2"), "does not start with the version"},
      {absl::StrCat("1:", other_fp, ":1,2"),
       "it was made for other subscriptions"},
      {absl::StrCat("1:", fp, ":1"), "it has 1 entries for 2 subscriptions"},
      {absl::StrCat("1:", fp, ":1,2,3"),
       "it has 3 entries for 2 subscriptions"},
      {absl::StrCat("1:", fp.substr(0, 7), "g:1,2"),
       "the fingerprint is not 8 lower-case hex digits"},
      {absl::StrCat("1:", fp, ":%41,~"), "needless escape"},
      {absl::StrCat("1:", fp, ":%0A,~"), "the id holds LF"},
      {absl::StrCat("1:", fp, ":", std::string(1025, '7'), ",~"),
       "the id is longer than 1024 bytes"},
  };
  const std::string target = MuxTarget(subs);
  for (const auto& [id, message] : bad_ids) {
    SCOPED_TRACE(id.substr(0, 80));
    SseResponse response = Read(target, {{"Last-Event-ID", id}});
    EXPECT_EQ(response.status, 400);
    EXPECT_THAT(response.body,
                HasSubstr("Last-Event-ID is not a compound id of this "
                          "multiplexed request"));
    EXPECT_THAT(response.body, HasSubstr(message));
    EXPECT_LT(response.body.size(), 600u) << "the input is not echoed whole";
  }
  // A well-formed compound id whose entry the route cannot resume from:
  // the subscription's own 400.
  SseResponse unparsable =
      Read(target, {{"Last-Event-ID", absl::StrCat("1:", fp, ":abc,~")}});
  EXPECT_EQ(unparsable.status, 400);
  EXPECT_THAT(unparsable.body, HasSubstr("subscription a: "));
  EXPECT_THAT(unparsable.body, HasSubstr("Last-Event-ID"));
  // Every subscription ended: 204, nothing opened.
  SseResponse done =
      Read(target, {{"Last-Event-ID", absl::StrCat("1:", fp, ":!,!")}});
  EXPECT_EQ(done.status, 204);
  EXPECT_TRUE(done.body.empty());
  EXPECT_TRUE(done.events.empty());
  // Other methods.
  SseTestClient client("127.0.0.1", port(), kPatience);
  SseResponse post = client.Send("POST", target);
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.header("Allow"), "GET");

  EXPECT_EQ(backend_->calls().size(), 0u) << "no refusal made a call";

  // Still serving, both a plain route and the multiplex endpoint (and a
  // compound id with one subscription ended opens only the other).
  EXPECT_EQ(Read("/v1/plain?count=1").status, 200);
  SseResponse fine = Read(target);
  EXPECT_EQ(fine.status, 200);
  ASSERT_FALSE(fine.events.empty());
  EXPECT_EQ(fine.events.back().data, kEndOk);
  const size_t calls = backend_->calls().size();
  EXPECT_EQ(calls, 3u);
  SseResponse half =
      Read(target, {{"Last-Event-ID", absl::StrCat("1:", fp, ":5,!")}});
  EXPECT_EQ(half.status, 200);
  const std::vector<SubEvents> split = Split(half, names);
  EXPECT_EQ(split[0].seqs, std::vector<int64_t>{6});
  EXPECT_TRUE(split[1].data.empty());
  EXPECT_TRUE(split[1].ends.empty());
  EXPECT_EQ(backend_->calls().size(), calls + 1);
  // A lone subscription that ends before any message: its end, then the
  // stream's.
  const std::vector<Sub> lone = {{"a", "/v1/plain?count=0"}};
  SseResponse ended = Read(MuxTarget(lone));
  EXPECT_EQ(ended.status, 200);
  ASSERT_EQ(ended.events.size(), 2u) << ended.body;
  EXPECT_EQ(ended.events[0].type, "a.end");
  EXPECT_EQ(ended.events[0].data, kEndOk);
  EXPECT_EQ(ended.events[0].last_event_id,
            absl::StrCat("1:", FingerprintHex(NamesOf(lone)), ":!"));
  EXPECT_EQ(ended.events[1].type, "end");
  EXPECT_EQ(ended.events[1].data, kEndOk);
  // An empty Last-Event-ID: every subscription afresh.
  SseResponse fresh = Read(target, {{"Last-Event-ID", ""}});
  EXPECT_EQ(fresh.status, 200);
  const std::vector<SubEvents> fresh_split = Split(fresh, names);
  EXPECT_EQ(fresh_split[0].seqs, std::vector<int64_t>{1});
  EXPECT_EQ(fresh_split[1].seqs, std::vector<int64_t>{1});
}

// 6. Fairness, measured: a slow subscription (one event per 100 ms, from
// the backend) next to a firehose. Two variants:
//   - live: the firehose is a call sending as fast as the backend can, read
//     by a client as fast as it can. Every slow event must arrive within 5 s
//     of the backend sending it.
//   - backlog: the firehose is a fan-out subscription replaying 150000
//     events from its ring (always ready: only the multiplexer's round robin
//     lets anything else through), read by a slow client through a small
//     receive buffer (so the gateway is held up writing). The slow
//     subscription must have all its events before the firehose has
//     finished replaying, and no slow event may have more stream bytes ahead
//     of it than the socket buffers between gateway and client can hold
//     (its time delay is that of the buffers draining at the client's pace,
//     so it is only reported).
class MultiplexFairnessTest : public MultiplexTest {
 protected:
  static constexpr int kSlowEvents = 30;
  static constexpr int kSlowIntervalMs = 100;
  static constexpr int kBacklogEvents = 150000;
  static constexpr int kSmallReceiveBuffer = 32 * 1024;

  struct Timeline {
    std::vector<std::pair<absl::Time, int64_t>> received;  // (when, bytes)
    // Stream bytes the client had received by `when`.
    int64_t BytesAt(absl::Time when) const {
      int64_t bytes = 0;
      for (const auto& [at, total] : received) {
        if (at > when) break;
        bytes = total;
      }
      return bytes;
    }
  };

  // GETs `target` as SseTestClient does (SseParser), through a socket with a
  // small receive buffer if `small_buffer`, recording when the bytes came;
  // `on_event` (given the bytes received so far) returns false to
  // disconnect. Gives up (a test failure) after kReadLimit.
  SseResponse ReadMeasured(
      const std::string& target, const httplib::Headers& headers,
      bool small_buffer, Timeline* timeline,
      const std::function<bool(const SseEvent&, int64_t)>& on_event) const {
    httplib::Client client("127.0.0.1", port());
    client.set_connection_timeout(absl::ToInt64Seconds(kPatience));
    client.set_read_timeout(absl::ToInt64Seconds(kPatience));
    client.set_keep_alive(false);
    client.set_decompress(false);
    client.set_url_encode(false);
    if (small_buffer) {
      client.set_socket_options([](socket_t fd) {
        const int bytes = kSmallReceiveBuffer;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
      });
    }
    SseResponse response;
    SseParser parser;
    std::vector<SseEvent> batch;
    int64_t total = 0;
    const absl::Time give_up = absl::Now() + kReadLimit;
    httplib::Result result = client.Get(
        target, headers,
        [&](const httplib::Response& head) {
          response.status = head.status;
          response.headers = head.headers;
          return true;
        },
        [&](const char* data, size_t length) {
          total += static_cast<int64_t>(length);
          timeline->received.emplace_back(absl::Now(), total);
          if (response.body.size() < 4096) {  // the start, for messages
            response.body.append(data,
                                 std::min(length, 4096 - response.body.size()));
          }
          batch.clear();
          parser.Feed(absl::string_view(data, length), &batch);
          bool go_on = true;
          for (SseEvent& event : batch) {
            if (go_on && absl::Now() > give_up) {
              ADD_FAILURE()
                  << "still reading " << target << " after " << kReadLimit;
              go_on = false;
            }
            if (go_on && !on_event(event, total)) go_on = false;
          }
          return go_on;
        });
    if (result) {
      response.status = result->status;
      response.completed = true;
      if (response.body.empty()) response.body = result->body;
    }
    return response;
  }

  // The most bytes the kernel may hold between the gateway and a client
  // with a kSmallReceiveBuffer receive buffer: the sender's largest
  // (autotuned) send buffer, the receive buffer (doubled by Linux), and
  // what the gateway writes at once, with 1 MiB to spare.
  static int64_t BufferedBytesBound() {
    int64_t wmem_max = 4 * 1024 * 1024;
    std::ifstream wmem("/proc/sys/net/ipv4/tcp_wmem");
    int64_t low = 0, initial = 0, high = 0;
    if (wmem >> low >> initial >> high && high > 0) wmem_max = high;
    return wmem_max + 2 * kSmallReceiveBuffer + 2 * 64 * 1024 + 1024 * 1024;
  }

  void RunFairness(bool backlog) {
    ASSERT_NO_FATAL_FAILURE(StartMux([](GatewayConfig& config) {
      config.routes.push_back(TestRoute("/v1/backlog", [](RouteConfig& r) {
        r.upstream.id_field = "seq";
        r.upstream.resume_field = "after_seq";
        FanoutConfig fanout;
        fanout.replay_events = 200000;
        fanout.linger = absl::Seconds(120);
        fanout.on_gap = GapPolicy::kDedicated;
        r.fanout = fanout;
      }));
    }));
    const std::string fast_target =
        backlog ? absl::StrCat("/v1/backlog?count=", kBacklogEvents,
                               "&hold_open=true&key_prefix=fast")
                : "/v1/plain?count=2000000000&hold_open=true&key_prefix=fast";
    httplib::Headers headers;
    const std::vector<Sub> subs = {
        {"fast", fast_target},
        {"slow", absl::StrCat("/v1/seqid?count=", kSlowEvents, "&interval_ms=",
                              kSlowIntervalMs, "&key_prefix=slow")},
    };
    const std::vector<std::string> names = NamesOf(subs);
    std::string resume_id;
    if (backlog) {
      // Fill the shared call's ring: one event read, then the call goes on
      // (lingering) until the backend has sent them all.
      int primed = 0;
      Read(fast_target, {}, [&](const SseEvent&) { return ++primed < 1; });
      ASSERT_TRUE(WaitFor([&] {
        std::vector<TestBackend::ObservedCall> calls = CallsWithPrefix("fast");
        return calls.size() == 1 && calls[0].messages_written == kBacklogEvents;
      }));
      // The firehose resumes after event 1: the rest is in the ring.
      headers.emplace("Last-Event-ID",
                      EncodeCompoundEventId(
                          CompoundIdFingerprint(names),
                          {CompoundEntry::At("1"), CompoundEntry::Fresh()}));
    }
    struct Arrival {
      int64_t seq;
      absl::Time at;
      int64_t fast_before;  // fast events received before it
      int64_t bytes;        // stream bytes received with it
    };
    std::vector<Arrival> arrivals;
    int64_t fast_events = 0;
    bool slow_ended = false;
    std::string other_end;
    absl::Time first_fast;
    absl::Time slow_end_at;
    Timeline timeline;
    auto on_event = [&](const SseEvent& event, int64_t bytes) {
      if (event.type == "fast") {
        if (fast_events++ == 0) first_fast = absl::Now();
        // The slow reader: about 10 events per millisecond at most.
        if (backlog && fast_events % 10 == 0) {
          absl::SleepFor(absl::Milliseconds(1));
        }
        return true;
      }
      if (event.type == "slow") {
        arrivals.push_back(
            {SeqOf(event.data), absl::Now(), fast_events, bytes});
        return true;
      }
      if (event.type == "slow.end") {
        slow_ended = true;
        slow_end_at = absl::Now();
        return false;
      }
      other_end = event.type + " " + event.data;
      return false;
    };
    SseResponse response =
        ReadMeasured(MuxTarget(subs), headers,
                     /*small_buffer=*/backlog, &timeline, on_event);
    ASSERT_EQ(response.status, 200) << response.body.substr(0, 200);
    const std::string variant = backlog ? "backlog" : "live";
    // The firehose never ends by itself: it was streaming all along.
    EXPECT_EQ(other_end, "");
    std::vector<TestBackend::ObservedCall> slow_calls = CallsWithPrefix("slow");
    ASSERT_EQ(slow_calls.size(), 1u);
    const std::vector<absl::Time>& sent = slow_calls[0].send_times;
    std::cout << "[fairness " << variant << "] slow subscription got "
              << arrivals.size() << " of " << kSlowEvents
              << " events (backend sent " << sent.size() << ")" << std::endl;
    ASSERT_TRUE(slow_ended);
    ASSERT_EQ(arrivals.size(), static_cast<size_t>(kSlowEvents));
    for (int k = 0; k < kSlowEvents; ++k) {
      EXPECT_EQ(arrivals[k].seq, k + 1);
    }
    ASSERT_EQ(sent.size(), static_cast<size_t>(kSlowEvents));

    std::vector<double> delays_ms;
    std::vector<int64_t> ahead;  // bytes received between send and receipt
    int64_t max_interleave = 0;
    for (int k = 0; k < kSlowEvents; ++k) {
      const absl::Duration delay = arrivals[k].at - sent[k];
      delays_ms.push_back(absl::ToDoubleMilliseconds(delay));
      ahead.push_back(arrivals[k].bytes - timeline.BytesAt(sent[k]));
      if (!backlog) {
        EXPECT_LT(delay, absl::Seconds(5)) << "slow event " << k + 1;
      }
      if (k > 0) {
        max_interleave =
            std::max(max_interleave,
                     arrivals[k].fast_before - arrivals[k - 1].fast_before);
      }
    }
    std::vector<double> sorted = delays_ms;
    std::sort(sorted.begin(), sorted.end());
    const int64_t max_ahead = *std::max_element(ahead.begin(), ahead.end());
    const double seconds = absl::ToDoubleSeconds(slow_end_at - first_fast);
    const int64_t fast_during =
        arrivals.back().fast_before - arrivals.front().fast_before;
    std::cout << "[fairness " << variant << "] slow: " << kSlowEvents
              << " events, one per " << kSlowIntervalMs
              << " ms; delay backend send -> client receipt"
              << absl::StrFormat(
                     " (ms): min %.2f, median %.2f, p90 %.2f, max %.2f",
                     sorted.front(), sorted[sorted.size() / 2],
                     sorted[sorted.size() * 9 / 10], sorted.back())
              << "\n[fairness " << variant << "]   delays in order (ms):";
    for (double d : delays_ms) std::cout << absl::StrFormat(" %.1f", d);
    std::cout << "\n[fairness " << variant
              << "]   stream bytes received between a slow event's send and"
                 " its receipt: max "
              << max_ahead;
    if (backlog) std::cout << " (bound " << BufferedBytesBound() << ")";
    std::cout << "\n[fairness " << variant << "]   fast: " << fast_events
              << " events in " << absl::StrFormat("%.2f", seconds) << " s ("
              << absl::StrFormat("%.0f", fast_events / seconds)
              << " events/s); " << fast_during
              << " between the first and last slow event; at most "
              << max_interleave
              << " fast events between two consecutive slow events"
              << std::endl;
    // The firehose was streaming while the slow one was.
    EXPECT_GT(fast_during, kSlowEvents);
    if (backlog) {
      // Done before the firehose's backlog was: it was not made to wait for
      // it, and nothing but the kernel's buffers was ahead of its events.
      EXPECT_LT(fast_events, kBacklogEvents - 1);
      EXPECT_LE(max_ahead, BufferedBytesBound());
    }
  }
};

TEST_F(MultiplexFairnessTest, ASlowSubscriptionKeepsPaceNextToALiveFirehose) {
  RunFairness(/*backlog=*/false);
}

TEST_F(MultiplexFairnessTest,
       ASlowSubscriptionIsNotHeldBehindAFirehosesBacklogOrASlowClient) {
  RunFairness(/*backlog=*/true);
}

}  // namespace
}  // namespace sse_gateway
