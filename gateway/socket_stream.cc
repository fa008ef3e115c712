#include "gateway/socket_stream.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
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

SocketStream::~SocketStream() {
  if (ssl_ != nullptr) SSL_free(ssl_);
}

bool SocketStream::AcceptTls(ssl_st* ssl) {
  if (ssl_ != nullptr) SSL_free(ssl_);
  ssl_ = ssl;
  if (ssl_ == nullptr) return false;
  int flags = ::fcntl(socket_, F_GETFL, 0);
  if (flags < 0 || ::fcntl(socket_, F_SETFL, flags | O_NONBLOCK) < 0) {
    return false;
  }
  const absl::Time deadline = absl::Now() + read_timeout_;
  for (;;) {
    ERR_clear_error();
    int result = SSL_accept(ssl_);
    if (result == 1) return true;
    int error = SSL_get_error(ssl_, result);
    ERR_clear_error();
    short events = error == SSL_ERROR_WANT_READ    ? POLLIN
                   : error == SSL_ERROR_WANT_WRITE ? POLLOUT
                                                   : 0;
    if (events == 0 || !Poll(events, deadline - absl::Now())) return false;
  }
}

std::unique_ptr<DetachedConnection> SocketStream::Detach() {
  detached_ = true;
  ssl_st* ssl = ssl_;
  ssl_ = nullptr;
  return std::make_unique<DetachedConnection>(socket_, ssl, write_timeout_);
}

void SocketStream::ShutdownTls() {
  if (ssl_ == nullptr) return;
  ERR_clear_error();
  SSL_shutdown(ssl_);  // Best effort: the socket is closed right after.
  ERR_clear_error();
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
         (ssl_ != nullptr && SSL_pending(ssl_) > 0);
}

bool SocketStream::is_readable() const {
  return HasBufferedBytes() || Poll(POLLIN, read_timeout_);
}

bool SocketStream::is_writable() const { return Poll(POLLOUT, write_timeout_); }

bool SocketStream::WaitReadable(absl::Duration timeout) const {
  return HasBufferedBytes() || Poll(POLLIN, timeout);
}

ssize_t SocketStream::ReceiveSome(char* buffer, size_t size) {
  if (ssl_ != nullptr) return TlsReceiveSome(buffer, size);
  for (;;) {
    ssize_t received = ::recv(socket_, buffer, size, MSG_DONTWAIT);
    if (received >= 0) return received;
    if (errno == EINTR) continue;
    if ((errno == EAGAIN || errno == EWOULDBLOCK) &&
        Poll(POLLIN, read_timeout_)) {
      continue;
    }
    return -1;
  }
}

ssize_t SocketStream::TlsReceiveSome(char* buffer, size_t size) {
  for (;;) {
    ERR_clear_error();
    int received = SSL_read(ssl_, buffer, static_cast<int>(size));
    if (received > 0) return received;
    int error = SSL_get_error(ssl_, received);
    ERR_clear_error();
    if (error == SSL_ERROR_ZERO_RETURN) return 0;               // close_notify.
    if (error == SSL_ERROR_SYSCALL && received == 0) return 0;  // Bare FIN.
    if (error == SSL_ERROR_SYSCALL && errno == EINTR) continue;
    short events = error == SSL_ERROR_WANT_READ    ? POLLIN
                   : error == SSL_ERROR_WANT_WRITE ? POLLOUT
                                                   : 0;
    if (events == 0 || !Poll(events, read_timeout_)) return -1;
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
  if (ssl_ != nullptr) return TlsSendSome(ptr, size);
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

ssize_t SocketStream::TlsSendSome(const char* ptr, size_t size) {
  if (size == 0) return 0;
  for (;;) {
    ERR_clear_error();
    int sent =
        SSL_write(ssl_, ptr, static_cast<int>(std::min<size_t>(size, 1 << 30)));
    if (sent > 0) return sent;
    int error = SSL_get_error(ssl_, sent);
    ERR_clear_error();
    if (error == SSL_ERROR_SYSCALL && errno == EINTR) continue;
    if (error != SSL_ERROR_WANT_WRITE && error != SSL_ERROR_WANT_READ) {
      return -1;
    }
    // Full (or OpenSSL needs to read first): wait, but not for a gone peer.
    if (PeerClosed()) return -1;
    short events = error == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
    if (Poll(events, events == POLLOUT ? write_timeout_ : read_timeout_)) {
      continue;
    }
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
