// Reaper: destroys what the event loops are done with (Reapable: response
// bodies and undecided responses) on a thread of its own. Destroying an SSE
// body destroys its EventStream, whose gRPC call waits for gRPC to let go
// (OnDone): no event loop may wait for that. After a burst of ends it also
// hands the heap memory they freed back to the system (malloc_trim), so the
// RSS follows the load down.
//
// Thread-safe: Destroy() may be called from any thread.

#ifndef SSE_GATEWAY_GATEWAY_HTTP_REAPER_H_
#define SSE_GATEWAY_GATEWAY_HTTP_REAPER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gateway/http/async_response.h"

namespace sse_gateway {

class Reaper {
 public:
  // `open` (not owned; must outlive the reaper) counts what is not yet
  // destroyed: decremented for each object destroyed here. `load` (likewise)
  // is what the memory follows (open connections): after it has fallen to
  // half of its peak, freed memory is returned.
  Reaper(std::atomic<int64_t>* open, const std::atomic<int64_t>* load);
  // Destroys everything queued, then joins the thread.
  ~Reaper();

  Reaper(const Reaper&) = delete;
  Reaper& operator=(const Reaper&) = delete;

  // Takes `object` to destroy it soon.
  void Destroy(std::unique_ptr<Reapable> object) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  // After a burst has ended (the load at most half of its peak), hands the
  // heap memory it freed back to the system, at most once a second (glibc
  // keeps freed memory in its arenas). A trim held back by that limit is
  // owed: Run() does it when the second is over.
  void ReturnFreedMemory();

  // Peaks smaller than this are not worth a trim.
  static constexpr int64_t kTrimAfterPeak = 64;
  static constexpr absl::Duration kTrimInterval = absl::Seconds(1);

  std::atomic<int64_t>* const open_;
  const std::atomic<int64_t>* const load_;
  // Only the reaper's thread touches these three.
  int64_t peak_ = 0;  // Highest open count since the last trim.
  absl::Time last_trim_ = absl::InfinitePast();
  bool trim_owed_ = false;  // A trim is due but was rate-limited.
  absl::Mutex mu_;
  std::deque<std::unique_ptr<Reapable>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // Last: started once everything above is ready.
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_HTTP_REAPER_H_
