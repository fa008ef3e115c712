#include "gateway/socket_stream.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

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

bool SocketStream::is_readable() const {
  return read_offset_ < read_buffer_.size() || Poll(POLLIN, read_timeout_);
}

bool SocketStream::is_writable() const { return Poll(POLLOUT, write_timeout_); }

bool SocketStream::WaitReadable(absl::Duration timeout) const {
  return read_offset_ < read_buffer_.size() || Poll(POLLIN, timeout);
}

ssize_t SocketStream::read(char* ptr, size_t size) {
  if (read_offset_ >= read_buffer_.size()) {
    read_buffer_.resize(kReadBufferBytes);
    read_offset_ = 0;
    ssize_t received;
    for (;;) {
      received = ::recv(socket_, read_buffer_.data(), read_buffer_.size(),
                        MSG_DONTWAIT);
      if (received >= 0) break;
      if (errno == EINTR) continue;
      if ((errno == EAGAIN || errno == EWOULDBLOCK) &&
          Poll(POLLIN, read_timeout_)) {
        continue;
      }
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
    if (n > room) overflowed_ = true;
  }
  return static_cast<ssize_t>(n);
}

ssize_t SocketStream::write(const char* ptr, size_t size) {
  last_write_timed_out_ = false;
  for (;;) {
    ssize_t sent = ::send(socket_, ptr, size, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent >= 0) return sent;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      // Full: wait for room, but not for a peer that has gone.
      if (PeerClosed()) return -1;
      if (is_writable()) continue;
      last_write_timed_out_ = !PeerClosed();
    }
    return -1;
  }
}

bool SocketStream::PeerClosed() const {
  pollfd fd{socket_, POLLRDHUP, 0};
  int ready;
  do {
    ready = ::poll(&fd, 1, 0);
  } while (ready < 0 && errno == EINTR);
  return ready > 0 && (fd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
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
