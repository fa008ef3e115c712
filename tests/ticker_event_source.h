// TickerEventSource: what a browser's EventSource does with the demo ticker
// route (/v1/ticks, demo.v1.Ticker/Watch with id_field seq and resume_field
// after_seq), for fault tests that kill processes under it.
//
// Contract (WHATWG EventSource, as browsers implement it):
//   - GET /v1/ticks?symbol=...&interval_ms=... on 127.0.0.1:`port` with
//     `Accept: text/event-stream`, parsed by the spec-exact SseParser. Every
//     reconnect sends the last event ID as
//     Last-Event-ID, after waiting the reconnection time (the last `retry:`
//     seen on any connection; 1000 ms before any).
//   - A 200 text/event-stream response that ends, cleanly or by a broken
//     connection, and a connection that fails before any response, are
//     followed by a reconnect. Any other response (a non-200 status, another
//     content type) fails the EventSource: Run() stops and failure() says why.
//   - Start() runs the EventSource on a thread of its own, which ends once
//     the tick with seq `last_seq` has arrived (then it disconnects), on
//     failure, after kRunTimeout / kMaxAttempts, or soon after Stop().
//   - Each tick is checked against what the backend must send at its seq: id
//     == seq, the requested symbol, price == TickPrice(symbol, seq).
//   - With a non-zero `pause_after_seq`, the first time that seq arrives Run()
//     stops reading (the connection stays open) until Resume(), so a test can
//     kill a process while the stream is certainly in the middle.
//   - The destructor stops and joins the thread, so a test that fails half
//     way never leaves it running.
//
// Thread safety: all methods may be called from any thread; the results of
// attempts(), seqs(), failure() and ExpectExactlyOnce() are final after
// Join().

#ifndef SSE_GATEWAY_TESTS_TICKER_EVENT_SOURCE_H_
#define SSE_GATEWAY_TESTS_TICKER_EVENT_SOURCE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "core/sse_parser.h"

namespace sse_gateway {

class TickerEventSource {
 public:
  static constexpr int kMaxAttempts = 500;
  static constexpr absl::Duration kRunTimeout = absl::Seconds(120);

  // One connection as the client saw it.
  struct Attempt {
    int status = 0;          // 0: the connection failed before a response.
    bool completed = false;  // The server ended the response cleanly.
    int ticks = 0;           // `tick` events dispatched.
    std::vector<std::string> end_events;  // Data of each `end` event.
    int64_t comments = 0;                 // Comment lines (heartbeats, notes).
    std::string body_tail;  // The last bytes of the body (up to 256).
  };

  TickerEventSource(int port, std::string symbol, uint64_t last_seq,
                    uint64_t pause_after_seq = 0, int interval_ms = 20);
  TickerEventSource(const TickerEventSource&) = delete;
  TickerEventSource& operator=(const TickerEventSource&) = delete;
  ~TickerEventSource();

  // Sends `id` as Last-Event-ID on the first connection too (as a browser
  // does after a page restored its last id); before Start() only.
  void SetInitialLastEventId(std::string id) { last_event_id_ = std::move(id); }

  // Starts the EventSource's thread. Call once.
  void Start();
  // Waits until the thread has ended.
  void Join();
  // Makes the thread end soon (at the next event or reconnect), and resumes
  // it if paused.
  void Stop();

  // Whether Run() paused after `pause_after_seq` within `timeout`.
  bool WaitUntilPaused(absl::Duration timeout);
  // Lets Run() read on after the pause.
  void Resume();

  // Whether an attempt satisfying `condition` ended within `timeout`.
  bool WaitForAttempt(const std::function<bool(const Attempt&)>& condition,
                      absl::Duration timeout);

  const std::string& symbol() const { return symbol_; }
  std::vector<Attempt> attempts() const;
  // The seq of every tick dispatched, in order.
  std::vector<uint64_t> seqs() const;
  // Why the EventSource failed or gave up; empty if it got all ticks.
  std::string failure() const;

  // Records test failures unless the ticks were seq 1..last_seq exactly once
  // each, in order, all with the right data, and prints the counts lost and
  // duplicated, labelled with `context`.
  void ExpectExactlyOnce(const std::string& context) const;

 private:
  void Run();
  // Handles one dispatched event of the current attempt; false disconnects.
  bool OnEvent(const SseEvent& event, Attempt* attempt);

  const int port_;
  const std::string symbol_;
  const uint64_t last_seq_;
  const uint64_t pause_after_seq_;
  const std::string target_;
  absl::Notification paused_;
  absl::Notification resumed_;
  std::thread thread_;

  mutable absl::Mutex mu_;
  std::vector<Attempt> attempts_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> seqs_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> bad_ticks_ ABSL_GUARDED_BY(mu_);
  std::string failure_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;  // Got last_seq, or stopped.
  std::string last_event_id_;               // Only touched by Run().
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_TESTS_TICKER_EVENT_SOURCE_H_
