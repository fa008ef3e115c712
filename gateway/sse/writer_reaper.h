// WriterReaper: destroys finished SseResponseWriters off the event loops, on
// a thread of its own. Destroying a writer destroys its EventStream, whose
// gRPC call waits for gRPC to let go (OnDone): no event loop may wait for
// that. After a burst of ends it also hands the heap memory they freed back
// to the system (malloc_trim), so the RSS follows the load down.
//
// Thread-safe: Destroy() may be called from any thread.

#ifndef SSE_GATEWAY_GATEWAY_SSE_WRITER_REAPER_H_
#define SSE_GATEWAY_GATEWAY_SSE_WRITER_REAPER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gateway/sse/sse_response_writer.h"

namespace sse_gateway {

class WriterReaper {
 public:
  // `open` (not owned; must outlive the reaper) counts the responses not yet
  // destroyed: decremented for each writer destroyed here.
  explicit WriterReaper(std::atomic<int64_t>* open);
  // Destroys everything queued, then joins the thread.
  ~WriterReaper();

  WriterReaper(const WriterReaper&) = delete;
  WriterReaper& operator=(const WriterReaper&) = delete;

  // Takes `writer` to destroy it soon.
  void Destroy(std::unique_ptr<SseResponseWriter> writer)
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  // After a burst of streams has ended (at most half of the peak are still
  // open), hands the heap memory they freed back to the system, at most once
  // a second (glibc keeps freed memory in its arenas). A trim held back by
  // that limit is owed: Run() does it when the second is over.
  void ReturnFreedMemory();

  // Peaks smaller than this are not worth a trim.
  static constexpr int64_t kTrimAfterPeak = 64;

  std::atomic<int64_t>* const open_;
  // Only the reaper's thread touches these three.
  int64_t peak_ = 0;  // Highest open count since the last trim.
  absl::Time last_trim_ = absl::InfinitePast();
  bool trim_owed_ = false;  // A trim is due but was rate-limited.
  absl::Mutex mu_;
  std::deque<std::unique_ptr<SseResponseWriter>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // Last: started once everything above is ready.
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_SSE_WRITER_REAPER_H_
