#include "tests/ticker_event_source.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "examples/ticker_service.h"
#include "gtest/gtest.h"
#include "proto/demo/v1/ticker.pb.h"
#include "tests/sse_test_client.h"

namespace sse_gateway {

TickerEventSource::TickerEventSource(int port, std::string symbol,
                                     uint64_t last_seq,
                                     uint64_t pause_after_seq, int interval_ms)
    : port_(port),
      symbol_(std::move(symbol)),
      last_seq_(last_seq),
      pause_after_seq_(pause_after_seq),
      target_(absl::StrCat("/v1/ticks?symbol=", symbol_,
                           "&interval_ms=", interval_ms)) {}

TickerEventSource::~TickerEventSource() {
  Stop();
  Join();
}

void TickerEventSource::Start() {
  thread_ = std::thread([this] { Run(); });
}

void TickerEventSource::Join() {
  if (thread_.joinable()) thread_.join();
}

void TickerEventSource::Stop() {
  {
    absl::MutexLock lock(&mu_);
    done_ = true;
  }
  Resume();
}

void TickerEventSource::Run() {
  const absl::Time deadline = absl::Now() + kRunTimeout;
  int64_t reconnection_ms = 1000;
  for (int attempt_number = 0;; ++attempt_number) {
    {
      absl::MutexLock lock(&mu_);
      if (done_) return;
    }
    if (absl::Now() >= deadline || attempt_number == kMaxAttempts) {
      absl::MutexLock lock(&mu_);
      failure_ = absl::StrCat("gave up after ", attempt_number,
                              " connections without tick ", last_seq_);
      return;
    }
    // The request headers a browser's EventSource sends.
    httplib::Headers headers = {{"Accept", "text/event-stream"},
                                {"Cache-Control", "no-cache"}};
    if (!last_event_id_.empty()) {
      headers.emplace("Last-Event-ID", last_event_id_);
    }
    Attempt attempt;
    SseTestClient client("127.0.0.1", port_, absl::Seconds(30));
    SseResponse response = client.Get(
        target_, headers,
        [&](const SseEvent& event) { return OnEvent(event, &attempt); });
    attempt.status = response.status;
    attempt.completed = response.completed;
    attempt.comments = response.comment_count;
    attempt.body_tail = response.body.substr(
        response.body.size() - std::min<size_t>(response.body.size(), 256));
    if (response.reconnection_time_ms.has_value()) {
      reconnection_ms = *response.reconnection_time_ms;
    }
    const std::string content_type = response.header("Content-Type");
    {
      absl::MutexLock lock(&mu_);
      attempts_.push_back(std::move(attempt));
      if (done_) return;
      if (response.status != 0 &&
          (response.status != 200 ||
           !absl::StartsWith(content_type, "text/event-stream"))) {
        // What EventSource does: "fail the connection", no reconnect.
        failure_ = absl::StrCat("connection ", attempt_number + 1, " got HTTP ",
                                response.status, " (", content_type,
                                "): ", response.body);
        return;
      }
    }
    // The reconnection time is the browser's own wait, not a test delay.
    absl::SleepFor(absl::Milliseconds(reconnection_ms));
  }
}

bool TickerEventSource::OnEvent(const SseEvent& event, Attempt* attempt) {
  {
    absl::MutexLock lock(&mu_);
    if (done_) return false;
  }
  last_event_id_ = event.last_event_id;
  if (event.type == "end") {
    attempt->end_events.push_back(event.data);
    return true;
  }
  demo::v1::Tick tick;
  std::string problem;
  if (event.type != "tick") {
    problem = absl::StrCat("unexpected event type \"", event.type, "\"");
  } else if (!google::protobuf::util::JsonStringToMessage(event.data, &tick)
                  .ok()) {
    problem = "data is not a demo.v1.Tick";
  } else if (event.last_event_id != absl::StrCat(tick.seq())) {
    problem = absl::StrCat("id ", event.last_event_id, " != seq ", tick.seq());
  } else if (tick.symbol() != symbol_) {
    problem = "wrong symbol";
  } else if (std::abs(tick.price() - TickPrice(symbol_, tick.seq())) > 1e-9) {
    problem = absl::StrCat("price ", tick.price(), " != TickPrice ",
                           TickPrice(symbol_, tick.seq()));
  }
  ++attempt->ticks;
  {
    absl::MutexLock lock(&mu_);
    if (!problem.empty()) {
      bad_ticks_.push_back(absl::StrCat(problem, ": ", event.data));
      return true;
    }
    seqs_.push_back(tick.seq());
    if (tick.seq() >= last_seq_) {
      done_ = true;
      return false;
    }
  }
  if (tick.seq() == pause_after_seq_ && !paused_.HasBeenNotified()) {
    paused_.Notify();
    resumed_.WaitForNotificationWithTimeout(kRunTimeout);
  }
  return true;
}

bool TickerEventSource::WaitUntilPaused(absl::Duration timeout) {
  return paused_.WaitForNotificationWithTimeout(timeout);
}

void TickerEventSource::Resume() {
  if (!resumed_.HasBeenNotified()) resumed_.Notify();
}

bool TickerEventSource::WaitForAttempt(
    const std::function<bool(const Attempt&)>& condition,
    absl::Duration timeout) {
  auto found_or_over = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return done_ || !failure_.empty() ||
           std::any_of(attempts_.begin(), attempts_.end(), condition);
  };
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&found_or_over), timeout);
  return std::any_of(attempts_.begin(), attempts_.end(), condition);
}

std::vector<TickerEventSource::Attempt> TickerEventSource::attempts() const {
  absl::MutexLock lock(&mu_);
  return attempts_;
}

std::vector<uint64_t> TickerEventSource::seqs() const {
  absl::MutexLock lock(&mu_);
  return seqs_;
}

std::string TickerEventSource::failure() const {
  absl::MutexLock lock(&mu_);
  return failure_;
}

void TickerEventSource::ExpectExactlyOnce(const std::string& context) const {
  absl::MutexLock lock(&mu_);
  std::set<uint64_t> distinct(seqs_.begin(), seqs_.end());
  int64_t lost = 0;
  for (uint64_t seq = 1; seq <= last_seq_; ++seq) {
    if (!distinct.count(seq)) ++lost;
  }
  const int64_t duplicated = static_cast<int64_t>(seqs_.size()) -
                             static_cast<int64_t>(distinct.size());
  std::printf(
      "%s %s: %zu connections, %zu ticks received, lost %lld, duplicated "
      "%lld\n",
      symbol_.c_str(), context.c_str(), attempts_.size(), seqs_.size(),
      static_cast<long long>(lost), static_cast<long long>(duplicated));
  std::fflush(stdout);
  std::vector<uint64_t> expected;
  for (uint64_t seq = 1; seq <= last_seq_; ++seq) expected.push_back(seq);
  EXPECT_EQ(failure_, "") << symbol_ << " " << context;
  EXPECT_EQ(lost, 0) << symbol_ << " " << context;
  EXPECT_EQ(duplicated, 0) << symbol_ << " " << context;
  EXPECT_EQ(seqs_, expected) << symbol_ << " " << context;
  EXPECT_TRUE(bad_ticks_.empty())
      << symbol_ << " " << context << ": " << absl::StrJoin(bad_ticks_, "\n");
}

}  // namespace sse_gateway
