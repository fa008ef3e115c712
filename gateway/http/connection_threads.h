// ConnectionThreads: an httplib::TaskQueue that gives every accepted HTTP
// connection a thread of its own.
//
// httplib's default ThreadPool has a fixed max(8, cores-1) workers and an SSE
// stream holds its worker for the connection's whole life, so the ninth
// stream would wait forever. Here each enqueued task (one connection) runs on
// a new detached thread with a small stack; a parked thread costs about 8 KiB
// of RSS plus kernel memory, so thousands of streams are affordable. How many
// streams are admitted is limited elsewhere (per route and globally).
//
// Thread-safe. shutdown() waits until every task has returned; httplib calls
// it after its accept loop has ended.

#ifndef SSE_GATEWAY_GATEWAY_HTTP_CONNECTION_THREADS_H_
#define SSE_GATEWAY_GATEWAY_HTTP_CONNECTION_THREADS_H_

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>

#include "httplib.h"

namespace sse_gateway {

class ConnectionThreads : public httplib::TaskQueue {
 public:
  static constexpr size_t kDefaultStackBytes = 512 * 1024;

  explicit ConnectionThreads(size_t stack_bytes = kDefaultStackBytes);
  ~ConnectionThreads() override;  // Waits like shutdown().

  // Runs `fn` on a new thread. If no thread can be created even after a few
  // retries, runs `fn` on the caller's thread rather than dropping it (the
  // task owns a socket that only it can close).
  void enqueue(std::function<void()> fn) override;

  // Blocks until every task has returned.
  void shutdown() override;

  // Tasks currently running.
  size_t active() const;

 private:
  static void* RunTask(void* arg);
  void TaskFinished();

  const size_t stack_bytes_;
  // std::mutex rather than absl::Mutex: the last task notifies under the lock
  // and the owner may be destroyed right after it unlocks.
  mutable std::mutex mu_;
  std::condition_variable idle_;
  size_t active_ = 0;  // Guarded by mu_.
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_HTTP_CONNECTION_THREADS_H_
