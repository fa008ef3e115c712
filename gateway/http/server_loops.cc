#include "gateway/http/server_loops.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace sse_gateway {
namespace {

constexpr int kMaxEpollEvents = 256;
// Connections one loop accepts per wake-up before serving the others.
constexpr int kMaxAcceptsPerTurn = 64;

void BlockSigpipe() {
  sigset_t sigpipe;
  sigemptyset(&sigpipe);
  sigaddset(&sigpipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &sigpipe, nullptr);
}

// `address` as a numeric IP and a port; false for a family other than IPv4
// and IPv6.
bool AddressToIpAndPort(const sockaddr_storage& address, std::string* ip,
                        int* port) {
  char text[INET6_ADDRSTRLEN];
  if (address.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
    if (inet_ntop(AF_INET, &v4.sin_addr, text, sizeof(text)) == nullptr) {
      return false;
    }
    *port = ntohs(v4.sin_port);
  } else if (address.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
    if (inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof(text)) == nullptr) {
      return false;
    }
    *port = ntohs(v6.sin6_port);
  } else {
    return false;
  }
  *ip = text;
  return true;
}

// Whether `address` is a wildcard (0.0.0.0 or ::): then each connection's
// local address has to be asked for.
bool IsWildcard(const sockaddr_storage& address) {
  if (address.ss_family == AF_INET) {
    return reinterpret_cast<const sockaddr_in&>(address).sin_addr.s_addr ==
           htonl(INADDR_ANY);
  }
  if (address.ss_family == AF_INET6) {
    return IN6_IS_ADDR_UNSPECIFIED(
        &reinterpret_cast<const sockaddr_in6&>(address).sin6_addr);
  }
  return true;
}

// epoll data of the listener and of the wake-up eventfd (connections use
// their Connection*).
char kListenerTag;
char kWakeTag;

}  // namespace

class ServerLoops::Loop : public ConnectionHost {
 public:
  explicit Loop(ServerLoops* owner)
      : owner_(owner),
        epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)),
        event_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (!epoll_fd_.valid() || !event_fd_.valid()) {
      std::fprintf(stderr, "sse_gateway: cannot create an event loop: %s\n",
                   std::strerror(errno));
      std::abort();  // Out of file descriptors at start-up: nothing works.
    }
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.ptr = &kWakeTag;
    ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, event_fd_.get(), &event);
    thread_ = std::thread([this] { Run(); });
  }

  ~Loop() override { Stop(); }

  // Starts accepting from `listener` (owned by ServerLoops).
  void Listen(int listener) {
    {
      absl::MutexLock lock(&mu_);
      listener_ = listener;
    }
    WakeUp();
  }

  // Abandons every connection and joins the thread. Idempotent.
  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    WakeUp();
    if (thread_.joinable()) thread_.join();
  }

  // ConnectionHost:
  void Watch(Connection* connection, uint32_t events) override {
    epoll_event event{};
    event.events = events;
    event.data.ptr = connection;
    ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, connection->socket(), &event);
    connection->registered_events = events;
  }
  void Forget(Connection* connection) override {
    ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, connection->socket(), nullptr);
    owner_->open_connections_.fetch_sub(1);
    finished_.push_back(connection);
  }
  // Queues `connection` for OnReady(). Only a loop that sleeps (or is about
  // to) is woken: a busy loop picks it up at the end of its turn, which
  // saves a syscall and a context switch per event under load.
  void Wake(const std::shared_ptr<Connection>& connection) override {
    if (connection->queued.exchange(true)) return;
    {
      absl::MutexLock lock(&mu_);
      ready_.push_back(connection);
    }
    if (sleeping_.exchange(false)) WakeUp();
  }
  void Adopted() override { owner_->open_responses_.fetch_add(1); }
  void Reap(std::unique_ptr<Reapable> object) override {
    if (!object->DestroyMayWait()) {
      object.reset();
      owner_->open_responses_.fetch_sub(1);
      return;
    }
    owner_->reaper_->Destroy(std::move(object));
  }
  HttpServer& server() override { return *owner_->server_; }
  const ConnectionLimits& limits() const override {
    return owner_->options_.limits;
  }
  void CountHeadTimeout() override { owner_->head_timeouts_.fetch_add(1); }
  void CountHttp2Connection() override {
    owner_->http2_connections_.fetch_add(1);
  }
  bool draining() const override {
    return owner_->options_.draining != nullptr &&
           owner_->options_.draining->load();
  }

 private:
  void WakeUp() {
    const uint64_t one = 1;
    // It can only fail when the counter is full: a wake-up is pending then.
    [[maybe_unused]] const ssize_t written =
        ::write(event_fd_.get(), &one, sizeof(one));
  }

  void Run() {
    BlockSigpipe();  // SSL_write writes to the socket without MSG_NOSIGNAL.
    epoll_event events[kMaxEpollEvents];
    absl::Time next_scan = absl::Now() + kScanInterval;
    for (;;) {
      int64_t wait_ms = std::max<int64_t>(
          0, absl::ToInt64Milliseconds(next_scan - absl::Now()) + 1);
      sleeping_.store(true);
      int listener;
      bool stopping;
      {
        absl::MutexLock lock(&mu_);
        if (!ready_.empty() || stopping_) wait_ms = 0;
        listener = listener_;
        stopping = stopping_;
      }
      if (listener >= 0 && !listening_ && !stopping) StartListening(listener);
      const int count = ::epoll_wait(epoll_fd_.get(), events, kMaxEpollEvents,
                                     static_cast<int>(wait_ms));
      sleeping_.store(false);
      const absl::Time now = absl::Now();
      for (int i = 0; i < count; ++i) {
        void* tag = events[i].data.ptr;
        if (tag == &kWakeTag) {
          // Resets the wake-up counter; it can only fail when the counter is
          // 0 already (EAGAIN), which needs nothing either.
          uint64_t value;
          [[maybe_unused]] const ssize_t drained =
              ::read(event_fd_.get(), &value, sizeof(value));
        } else if (tag == &kListenerTag) {
          Accept(now);
        } else {
          Connection* connection = static_cast<Connection*>(tag);
          if (!connection->finished()) {
            connection->OnEvents(events[i].events, now);
          }
        }
      }
      std::vector<std::shared_ptr<Connection>> ready;
      {
        absl::MutexLock lock(&mu_);
        ready.swap(ready_);
        stopping = stopping_;
      }
      for (std::shared_ptr<Connection>& connection : ready) {
        connection->queued.store(false);
        if (!connection->finished()) connection->OnReady(now);
      }
      if (now >= next_scan) {
        for (auto& [key, connection] : connections_) {
          if (!connection->finished()) connection->OnScan(now);
        }
        // Accepting paused for want of file descriptors: try again.
        if (accept_paused_ && !stopping) StartListening(listener);
        next_scan = now + kScanInterval;
      }
      if (stopping) {
        StopListening();
        for (auto& [key, connection] : connections_) {
          connection->Abandon(AbandonReason::kShutdown);
        }
      }
      for (Connection* connection : finished_) connections_.erase(connection);
      finished_.clear();
      if (stopping) return;
    }
  }

  void StartListening(int listener) {
    epoll_event event{};
    event.events = EPOLLIN | EPOLLEXCLUSIVE;
    event.data.ptr = &kListenerTag;
    if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, listener, &event) == 0) {
      listening_ = true;
      accept_paused_ = false;
    }
  }

  void StopListening() {
    if (!listening_) return;
    int listener;
    {
      absl::MutexLock lock(&mu_);
      listener = listener_;
    }
    ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, listener, nullptr);
    listening_ = false;
  }

  void Accept(absl::Time now) {
    int listener;
    {
      absl::MutexLock lock(&mu_);
      listener = listener_;
    }
    const ServerLoopsOptions& options = owner_->options_;
    for (int n = 0; n < kMaxAcceptsPerTurn; ++n) {
      sockaddr_storage remote{};
      socklen_t remote_length = sizeof(remote);
      const int fd = ::accept4(listener, reinterpret_cast<sockaddr*>(&remote),
                               &remote_length, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
            errno == ENOMEM) {
          // Out of descriptors: the pending connection would wake us again
          // and again. Stop listening until the next scan.
          StopListening();
          accept_paused_ = true;
        }
        return;  // EAGAIN: nothing more to accept.
      }
      UniqueFd socket(fd);
      owner_->accepted_.fetch_add(1);
      if (options.max_connections > 0 &&
          owner_->open_connections_.load() >= options.max_connections) {
        owner_->refused_.fetch_add(1);
        continue;  // Closed at once.
      }
      int yes = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
      UniqueSsl ssl;
      if (options.tls != nullptr) {
        ssl = options.tls->NewConnection(fd);
        if (ssl == nullptr) continue;
      }
      auto connection = std::make_shared<Connection>(
          this, std::move(socket), std::move(ssl), Addresses(fd, remote), now);
      epoll_event event{};
      event.events = EPOLLIN | EPOLLRDHUP;
      event.data.ptr = connection.get();
      if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &event) != 0) {
        continue;  // The connection (and its socket) goes.
      }
      connection->registered_events = event.events;
      owner_->open_connections_.fetch_add(1);
      Connection* const accepted = connection.get();
      connections_.emplace(accepted, std::move(connection));
      // A client usually sends its request with the connect: read it now
      // rather than after another turn of epoll_wait.
      accepted->OnEvents(EPOLLIN, now);
    }
  }

  // What handlers see of a connection accepted from `remote`: the local
  // address is the listener's unless it listens on a wildcard address.
  PeerAddress Addresses(int socket, const sockaddr_storage& remote) const {
    PeerAddress peer;
    peer.socket = socket;
    AddressToIpAndPort(remote, &peer.remote_ip, &peer.remote_port);
    if (owner_->listener_address_.has_value()) {
      peer.local_ip = owner_->listener_address_->first;
      peer.local_port = owner_->listener_address_->second;
    } else {
      sockaddr_storage local{};
      socklen_t length = sizeof(local);
      if (getsockname(socket, reinterpret_cast<sockaddr*>(&local), &length) ==
          0) {
        AddressToIpAndPort(local, &peer.local_ip, &peer.local_port);
      }
    }
    return peer;
  }

  ServerLoops* const owner_;
  const UniqueFd epoll_fd_;
  const UniqueFd event_fd_;
  absl::Mutex mu_;
  std::vector<std::shared_ptr<Connection>> ready_ ABSL_GUARDED_BY(mu_);
  int listener_ ABSL_GUARDED_BY(mu_) = -1;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // True while the loop waits (or is about to wait) in epoll_wait.
  std::atomic<bool> sleeping_{false};
  // Only the loop's thread touches these.
  bool listening_ = false;
  bool accept_paused_ = false;
  absl::flat_hash_map<Connection*, std::shared_ptr<Connection>> connections_;
  std::vector<Connection*> finished_;
  std::thread thread_;  // Last: started once everything above is ready.
};

ServerLoops::ServerLoops(HttpServer* server, ServerLoopsOptions options)
    : server_(server),
      options_(std::move(options)),
      reaper_(std::make_unique<Reaper>(&open_responses_, &open_connections_)) {
  const size_t threads = std::max<size_t>(1, options_.threads);
  for (size_t i = 0; i < threads; ++i) {
    loops_.push_back(std::make_unique<Loop>(this));
  }
}

ServerLoops::~ServerLoops() { Stop(); }

void ServerLoops::Start(UniqueFd listener) {
  SetNonBlocking(listener.get());
  sockaddr_storage local{};
  socklen_t length = sizeof(local);
  std::pair<std::string, int> address;
  if (getsockname(listener.get(), reinterpret_cast<sockaddr*>(&local),
                  &length) == 0 &&
      !IsWildcard(local) &&
      AddressToIpAndPort(local, &address.first, &address.second)) {
    listener_address_ = std::move(address);
  }
  listener_ = std::move(listener);
  for (auto& loop : loops_) loop->Listen(listener_.get());
}

void ServerLoops::Stop() {
  if (stopped_.exchange(true)) return;
  for (auto& loop : loops_) loop->Stop();
  loops_.clear();
  listener_.reset();
  reaper_.reset();  // Destroys what the loops handed over, then joins.
}

ServerLoops::Stats ServerLoops::stats() const {
  Stats stats;
  stats.open_connections = open_connections_.load();
  stats.accepted = accepted_.load();
  stats.refused = refused_.load();
  stats.head_timeouts = head_timeouts_.load();
  stats.http2_connections = http2_connections_.load();
  return stats;
}

}  // namespace sse_gateway
