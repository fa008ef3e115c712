#include "gateway/http/socket_stream.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/time/clock.h"

namespace sse_gateway {
namespace {

constexpr size_t kReadBufferBytes = 4096;

thread_local SocketStream* current_stream = nullptr;

int ToPollMillis(absl::Duration timeout) {
  if (timeout <= absl::ZeroDuration()) return 0;
  int64_t millis =
      absl::ToInt64Milliseconds(absl::Ceil(timeout, absl::Milliseconds(1)));
  return static_cast<int>(std::min<int64_t>(millis, 1 << 30));
}

void AddressToIpAndPort(const sockaddr_storage& address, socklen_t length,
                        std::string& ip, int& port) {
  char host[NI_MAXHOST];
  char service[NI_MAXSERV];
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&address), length, host,
                  sizeof(host), service, sizeof(service),
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return;
  }
  ip = host;
  port = std::atoi(service);
}

}  // namespace

SocketStream::SocketStream(int socket, absl::Duration read_timeout,
                           absl::Duration write_timeout)
    : socket_(socket),
      read_timeout_(read_timeout),
      write_timeout_(write_timeout) {}

SocketStream::~SocketStream() = default;

bool SocketStream::AcceptTls(UniqueSsl ssl) {
  ssl_ = std::move(ssl);
  if (ssl_ == nullptr || !SetNonBlocking(socket_)) return false;
  const absl::Time deadline = absl::Now() + read_timeout_;
  for (;;) {
    const IoStep step = AcceptTlsStep(ssl_.get());
    if (step.status == IoStatus::kDone) return true;
    if (step.status != IoStatus::kWouldBlock ||
        !Poll(step.wait_events, deadline - absl::Now())) {
      return false;
    }
  }
}

std::unique_ptr<DetachedConnection> SocketStream::Detach() {
  detached_ = true;
  return std::make_unique<DetachedConnection>(UniqueFd(socket_),
                                              std::move(ssl_), write_timeout_);
}

void SocketStream::ShutdownTls() {
  if (ssl_ != nullptr) SendTlsCloseNotify(ssl_.get());
}

bool SocketStream::Poll(short events, absl::Duration timeout) const {
  pollfd fd{socket_, events, 0};
  absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    int ready = ::poll(&fd, 1, ToPollMillis(deadline - absl::Now()));
    if (ready > 0) return true;
    if (ready == 0) return false;
    if (errno != EINTR) return false;
  }
}

bool SocketStream::HasBufferedBytes() const {
  return read_offset_ < read_buffer_.size() ||
         (ssl_ != nullptr && SSL_pending(ssl_.get()) > 0);
}

bool SocketStream::is_readable() const {
  return HasBufferedBytes() || Poll(POLLIN, read_timeout_);
}

bool SocketStream::is_writable() const { return Poll(POLLOUT, write_timeout_); }

bool SocketStream::WaitReadable(absl::Duration timeout) const {
  return HasBufferedBytes() || Poll(POLLIN, timeout);
}

ssize_t SocketStream::ReceiveSome(char* buffer, size_t size) {
  for (;;) {
    const IoStep step = ReceiveStep(socket_, ssl_.get(), buffer, size);
    switch (step.status) {
      case IoStatus::kDone:
        return static_cast<ssize_t>(step.bytes);
      case IoStatus::kClosed:
        return 0;
      case IoStatus::kWouldBlock:
        if (Poll(step.wait_events, read_timeout_)) continue;
        return -1;
      case IoStatus::kFailed:
        return -1;
    }
  }
}

ssize_t SocketStream::read(char* ptr, size_t size) {
  if (read_offset_ >= read_buffer_.size()) {
    read_buffer_.resize(kReadBufferBytes);
    read_offset_ = 0;
    ssize_t received = ReceiveSome(read_buffer_.data(), read_buffer_.size());
    if (received < 0) {
      read_buffer_.clear();
      return -1;
    }
    read_buffer_.resize(static_cast<size_t>(received));
    if (received == 0) return 0;  // The peer closed the connection.
  }
  size_t n = std::min(size, read_buffer_.size() - read_offset_);
  std::memcpy(ptr, read_buffer_.data() + read_offset_, n);
  read_offset_ += n;
  if (record_limit_ > 0) {
    size_t room = record_limit_ - std::min(record_limit_, recorded_.size());
    recorded_.append(ptr, std::min(n, room));
    if (n > room) {
      // A head this large is refused: httplib limits each line but not
      // their number, so without this a client could make the connection
      // hold any amount of memory.
      overflowed_ = true;
      return -1;
    }
  }
  return static_cast<ssize_t>(n);
}

ssize_t SocketStream::write(const char* ptr, size_t size) {
  last_write_timed_out_ = false;
  return SendSome(ptr, size);
}

ssize_t SocketStream::SendSome(const char* ptr, size_t size) {
  if (size == 0) return 0;
  for (;;) {
    const IoStep step = SendStep(socket_, ssl_.get(), ptr, size);
    if (step.status == IoStatus::kDone) {
      return static_cast<ssize_t>(step.bytes);
    }
    if (step.status != IoStatus::kWouldBlock) return -1;
    // Full (or TLS must read first): wait, but not for a gone peer.
    if (PeerClosed()) return -1;
    const absl::Duration timeout =
        step.wait_events == POLLOUT ? write_timeout_ : read_timeout_;
    if (Poll(step.wait_events, timeout)) continue;
    last_write_timed_out_ = !PeerClosed();
    return -1;
  }
}

bool SocketStream::PeerClosed() const {
  // Not POLLRDHUP: a peer that shut down only its sending side still reads.
  pollfd fd{socket_, 0, 0};
  int ready;
  do {
    ready = ::poll(&fd, 1, 0);
  } while (ready < 0 && errno == EINTR);
  return ready > 0 && (fd.revents & (POLLHUP | POLLERR)) != 0;
}

SocketStream* SocketStream::ForCurrentThread() { return current_stream; }

SocketStream::Scope::Scope(SocketStream* stream) : previous_(current_stream) {
  current_stream = stream;
}

SocketStream::Scope::~Scope() { current_stream = previous_; }

void SocketStream::get_remote_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage address;
  socklen_t length = sizeof(address);
  if (getpeername(socket_, reinterpret_cast<sockaddr*>(&address), &length) ==
      0) {
    AddressToIpAndPort(address, length, ip, port);
  }
}

void SocketStream::get_local_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage address;
  socklen_t length = sizeof(address);
  if (getsockname(socket_, reinterpret_cast<sockaddr*>(&address), &length) ==
      0) {
    AddressToIpAndPort(address, length, ip, port);
  }
}

void SocketStream::StartRecording(size_t max_bytes) {
  recorded_.clear();
  record_limit_ = max_bytes;
  overflowed_ = false;
}

}  // namespace sse_gateway
