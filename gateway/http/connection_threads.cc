#include "gateway/http/connection_threads.h"

#include <pthread.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace sse_gateway {
namespace {

struct Task {
  ConnectionThreads* owner;
  std::function<void()> fn;
};

}  // namespace

ConnectionThreads::ConnectionThreads(size_t stack_bytes)
    : stack_bytes_(stack_bytes < PTHREAD_STACK_MIN ? PTHREAD_STACK_MIN
                                                   : stack_bytes) {}

ConnectionThreads::~ConnectionThreads() { shutdown(); }

void ConnectionThreads::enqueue(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++active_;
  }
  auto task = std::make_unique<Task>(Task{this, std::move(fn)});
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, stack_bytes_);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  int error = 0;
  for (int attempt = 0; attempt < 5; ++attempt) {
    pthread_t thread;
    error =
        pthread_create(&thread, &attr, &ConnectionThreads::RunTask, task.get());
    if (error == 0) {
      task.release();  // RunTask owns it now.
      break;
    }
    absl::SleepFor(
        absl::Milliseconds(10 << attempt));  // Resources may free up.
  }
  pthread_attr_destroy(&attr);
  if (error != 0) {
    std::fprintf(stderr,
                 "sse_gateway: cannot create a connection thread (%s); "
                 "serving the connection on the accept thread\n",
                 std::strerror(error));
    task->fn();
    TaskFinished();
  }
}

void* ConnectionThreads::RunTask(void* arg) {
  std::unique_ptr<Task> task(static_cast<Task*>(arg));
  task->fn();
  ConnectionThreads* owner = task->owner;
  task.reset();  // Release what the task captured before reporting.
  owner->TaskFinished();
  return nullptr;
}

void ConnectionThreads::TaskFinished() {
  std::lock_guard<std::mutex> lock(mu_);
  if (--active_ == 0) idle_.notify_all();
}

void ConnectionThreads::shutdown() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_.wait(lock, [this] { return active_ == 0; });
}

size_t ConnectionThreads::active() const {
  std::lock_guard<std::mutex> lock(mu_);
  return active_;
}

}  // namespace sse_gateway
