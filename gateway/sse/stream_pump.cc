#include "gateway/sse/stream_pump.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace sse_gateway {
namespace {

constexpr int kMaxEpollEvents = 256;
// Chunks one response may write per turn before the others get theirs.
constexpr int kMaxChunksPerTurn = 8;
// The chunked body's terminating chunk (no trailers).
constexpr absl::string_view kLastChunk = "0\r\n\r\n";
// Output buffers larger than this are released once written, so that an
// idle stream does not keep a burst's memory.
constexpr size_t kKeptBufferBytes = 4096;

void BlockSigpipe() {
  sigset_t sigpipe;
  sigemptyset(&sigpipe);
  sigaddset(&sigpipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &sigpipe, nullptr);
}

// One adopted response.
struct Entry {
  std::unique_ptr<DetachedConnection> connection;
  std::unique_ptr<SseResponseWriter> writer;
  // The chunk being written, and how much of it is out.
  std::string out;
  size_t out_offset = 0;
  size_t out_body_bytes = 0;
  SseResponseWriter::Produced out_produced;
  // When the connection stopped accepting bytes; InfiniteFuture() if not.
  absl::Time blocked_since = absl::InfiniteFuture();
  uint32_t registered_events = 0;
  bool chunked = true;  // Chunked transfer coding, else raw until close.
  // The client shut down its sending side (EPOLLRDHUP): it sends nothing
  // more but may still read. No longer watched for.
  bool peer_half_closed = false;
  bool notifies = false;  // The stream calls back when it has something.
  bool finished = false;
  std::atomic<bool> queued{false};  // In the loop's ready list.
};

}  // namespace

class StreamPump::Loop {
 public:
  explicit Loop(WriterReaper* reaper)
      : reaper_(reaper),
        epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)),
        event_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (!epoll_fd_.valid() || !event_fd_.valid()) {
      std::fprintf(stderr, "sse_gateway: cannot create an event loop: %s\n",
                   std::strerror(errno));
      std::abort();  // Out of file descriptors at start-up: nothing works.
    }
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.ptr = nullptr;  // The wake-up eventfd.
    ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, event_fd_.get(), &event);
    thread_ = std::thread([this] { Run(); });
  }

  ~Loop() { Stop(); }

  void Adopt(std::shared_ptr<Entry> entry) {
    {
      absl::MutexLock lock(&mu_);
      adopted_.push_back(std::move(entry));
    }
    Wake();
  }

  // Abandons every response and joins the thread. Idempotent.
  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    Wake();
    if (thread_.joinable()) thread_.join();
    // Adopted after the loop's last turn.
    std::vector<std::shared_ptr<Entry>> late;
    {
      absl::MutexLock lock(&mu_);
      late.swap(adopted_);
    }
    for (std::shared_ptr<Entry>& entry : late) {
      entry->writer->Abandon(CloseReason::kShutdown);
      entry->connection.reset();
      reaper_->Destroy(std::move(entry->writer));
    }
  }

 private:
  void Wake() {
    const uint64_t one = 1;
    ssize_t written = ::write(event_fd_.get(), &one, sizeof(one));
    (void)written;  // A full counter means a wake-up is pending anyway.
  }

  // Called by streams (any thread) when they may have something. Only a
  // loop that sleeps (or is about to) is woken: a busy loop picks the entry
  // up at the end of its turn, which saves a syscall and a context switch
  // per event under load.
  void Enqueue(const std::shared_ptr<Entry>& entry) {
    if (entry->queued.exchange(true)) return;
    {
      absl::MutexLock lock(&mu_);
      ready_.push_back(entry);
    }
    if (sleeping_.exchange(false)) Wake();
  }

  void Run() {
    BlockSigpipe();  // SSL_write writes to the socket without MSG_NOSIGNAL.
    epoll_event events[kMaxEpollEvents];
    absl::Time next_scan = absl::Now() + kScanInterval;
    for (;;) {
      int64_t wait_ms = std::max<int64_t>(
          0, absl::ToInt64Milliseconds(next_scan - absl::Now()) + 1);
      sleeping_.store(true);
      {
        absl::MutexLock lock(&mu_);
        if (!ready_.empty() || !adopted_.empty() || stopping_) wait_ms = 0;
      }
      const int count = ::epoll_wait(epoll_fd_.get(), events, kMaxEpollEvents,
                                     static_cast<int>(wait_ms));
      sleeping_.store(false);
      const absl::Time now = absl::Now();
      for (int i = 0; i < count; ++i) {
        if (events[i].data.ptr == nullptr) {
          // Resets the wake-up counter; it can only fail when the counter
          // is 0 already (EAGAIN), which needs nothing either.
          uint64_t value;
          [[maybe_unused]] const ssize_t drained =
              ::read(event_fd_.get(), &value, sizeof(value));
          continue;
        }
        Entry* entry = static_cast<Entry*>(events[i].data.ptr);
        if (entry->finished) continue;
        const uint32_t happened = events[i].events;
        if ((happened & (EPOLLERR | EPOLLHUP)) != 0) {
          entry->writer->Abandon(CloseReason::kClientGone);
          Finish(entry);
          continue;
        }
        if ((happened & EPOLLRDHUP) != 0 && !entry->peer_half_closed) {
          // The client will send nothing more. It may still read (a
          // half-close, legal in HTTP/1.1) or be gone altogether; a probe
          // (a keep-alive comment, written at once) tells which: a gone
          // client's host answers it with a reset, which is EPOLLERR.
          entry->peer_half_closed = true;
          SetInterest(entry, entry->registered_events & ~EPOLLRDHUP);
          if (entry->out.empty()) entry->writer->RequestHeartbeat();
        }
        Service(entry, now);
      }
      std::vector<std::shared_ptr<Entry>> adopted;
      std::vector<std::shared_ptr<Entry>> ready;
      bool stopping;
      {
        absl::MutexLock lock(&mu_);
        adopted.swap(adopted_);
        ready.swap(ready_);
        stopping = stopping_;
      }
      for (std::shared_ptr<Entry>& entry : adopted) Start(entry, now);
      for (std::shared_ptr<Entry>& entry : ready) {
        entry->queued.store(false);
        Service(entry.get(), now);
      }
      if (now >= next_scan) {
        Scan(now);
        next_scan = now + kScanInterval;
      }
      if (stopping) {
        for (auto& [key, entry] : entries_) {
          if (entry->finished) continue;
          entry->writer->Abandon(CloseReason::kShutdown);
          Finish(entry.get());
        }
      }
      for (Entry* entry : finished_) entries_.erase(entry);
      finished_.clear();
      if (stopping) return;
    }
  }

  void Start(const std::shared_ptr<Entry>& entry, absl::Time now) {
    entries_.emplace(entry.get(), entry);
    epoll_event event{};
    event.events = EPOLLRDHUP;
    event.data.ptr = entry.get();
    if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, entry->connection->socket(),
                    &event) != 0) {
      entry->writer->Abandon(CloseReason::kClientGone);
      Finish(entry.get());
      return;
    }
    entry->registered_events = EPOLLRDHUP;
    std::weak_ptr<Entry> weak = entry;
    entry->notifies = entry->writer->stream().SetReadyCallback([this, weak] {
      if (std::shared_ptr<Entry> live = weak.lock()) Enqueue(live);
    });
    Service(entry.get(), now);
  }

  // Writes what is pending, then pulls and writes what is ready.
  void Service(Entry* entry, absl::Time now) {
    for (int turn = 0; turn < kMaxChunksPerTurn; ++turn) {
      if (entry->finished) return;
      if (!entry->out.empty() && !Flush(entry, now)) return;
      if (entry->writer->ended()) {  // Its last chunk is out.
        Finish(entry);
        return;
      }
      std::string body;
      entry->out_produced = entry->writer->Produce(now, &body);
      if (body.empty()) return;
      entry->out_body_bytes = body.size();
      if (!entry->chunked) {
        entry->out = std::move(body);  // Ended by closing the connection.
        continue;
      }
      absl::StrAppend(&entry->out, absl::Hex(body.size()), "\r\n", body,
                      "\r\n");
      if (entry->writer->ended()) {
        entry->out.append(kLastChunk.data(), kLastChunk.size());
      }
    }
    // More may be ready: come back after the other responses had a turn.
    auto it = entries_.find(entry);
    if (it != entries_.end()) Enqueue(it->second);
  }

  // Writes the pending chunk. True when all of it is out.
  bool Flush(Entry* entry, absl::Time now) {
    size_t sent = 0;
    short wait_events = 0;
    const DetachedConnection::SendResult result = entry->connection->Send(
        entry->out.data() + entry->out_offset,
        entry->out.size() - entry->out_offset, &sent, &wait_events);
    entry->out_offset += sent;
    switch (result) {
      case DetachedConnection::SendResult::kSent:
        entry->writer->Wrote(now, entry->out_body_bytes, entry->out_produced);
        if (entry->out.capacity() > kKeptBufferBytes) {
          std::string().swap(entry->out);
        } else {
          entry->out.clear();
        }
        entry->out_offset = 0;
        entry->blocked_since = absl::InfiniteFuture();
        SetInterest(entry, 0);
        return true;
      case DetachedConnection::SendResult::kBlocked:
        if (wait_events == POLLIN && entry->peer_half_closed) {
          // TLS must read first, from a client that sends nothing more.
          entry->writer->Abandon(CloseReason::kClientGone);
          Finish(entry);
          return false;
        }
        if (sent > 0 || entry->blocked_since == absl::InfiniteFuture()) {
          entry->blocked_since = now;  // Progress restarts the clock.
        }
        SetInterest(entry, wait_events == POLLIN ? EPOLLIN : EPOLLOUT);
        return false;
      case DetachedConnection::SendResult::kFailed:
        entry->writer->Abandon(CloseReason::kClientGone);
        Finish(entry);
        return false;
    }
    return false;
  }

  // Watches the connection for `extra` (EPOLLIN, EPOLLOUT or nothing) and,
  // until the client half-closed, EPOLLRDHUP. EPOLLERR and EPOLLHUP are
  // always reported.
  void SetInterest(Entry* entry, uint32_t extra) {
    extra &= EPOLLIN | EPOLLOUT;
    const uint32_t events =
        (entry->peer_half_closed ? 0u : uint32_t{EPOLLRDHUP}) | extra;
    if (events == entry->registered_events) return;
    epoll_event event{};
    event.events = events;
    event.data.ptr = entry;
    ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, entry->connection->socket(),
                &event);
    entry->registered_events = events;
  }

  // Heartbeats, max_duration, draining, slow clients, and streams that
  // cannot notify.
  void Scan(absl::Time now) {
    for (auto& [key, entry] : entries_) {
      if (entry->finished) continue;
      if (!entry->out.empty()) {
        if (now - entry->blocked_since >= entry->connection->write_timeout()) {
          entry->writer->Abandon(CloseReason::kSlowClient);
          Finish(entry.get());
        }
        continue;
      }
      if (!entry->notifies || entry->writer->Draining() ||
          now >= entry->writer->NextDeadline()) {
        Service(entry.get(), now);
      }
    }
  }

  // Closes the connection and hands the writer to the reaper. The entry
  // itself is dropped at the end of the loop's turn.
  void Finish(Entry* entry) {
    if (entry->finished) return;
    entry->finished = true;
    entry->writer->stream().SetReadyCallback(nullptr);
    ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, entry->connection->socket(),
                nullptr);
    entry->connection.reset();
    reaper_->Destroy(std::move(entry->writer));
    finished_.push_back(entry);
  }

  WriterReaper* const reaper_;
  const UniqueFd epoll_fd_;
  const UniqueFd event_fd_;
  absl::Mutex mu_;
  std::vector<std::shared_ptr<Entry>> adopted_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<Entry>> ready_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // True while the loop waits (or is about to wait) in epoll_wait.
  std::atomic<bool> sleeping_{false};
  // Only the loop's thread touches these.
  absl::flat_hash_map<Entry*, std::shared_ptr<Entry>> entries_;
  std::vector<Entry*> finished_;
  std::thread thread_;
};

StreamPump::StreamPump(size_t threads)
    : reaper_(std::make_unique<WriterReaper>(&open_)) {
  if (threads < 1) threads = 1;
  for (size_t i = 0; i < threads; ++i) {
    loops_.push_back(std::make_unique<Loop>(reaper_.get()));
  }
}

StreamPump::~StreamPump() { Stop(); }

void StreamPump::Adopt(std::unique_ptr<DetachedConnection> connection,
                       std::unique_ptr<SseResponseWriter> writer,
                       BodyFraming framing) {
  open_.fetch_add(1);
  if (stopped_.load()) {
    writer->Abandon(CloseReason::kShutdown);
    connection.reset();
    writer.reset();
    open_.fetch_sub(1);
    return;
  }
  auto entry = std::make_shared<Entry>();
  entry->connection = std::move(connection);
  entry->writer = std::move(writer);
  entry->chunked = framing == BodyFraming::kChunked;
  loops_[next_loop_.fetch_add(1) % loops_.size()]->Adopt(std::move(entry));
}

void StreamPump::Stop() {
  if (stopped_.exchange(true)) return;
  for (auto& loop : loops_) loop->Stop();
  reaper_.reset();  // Destroys what the loops handed over, then joins.
}

}  // namespace sse_gateway
