#include "gateway/http/transport.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace sse_gateway {
namespace {

IoStep Done(size_t bytes) { return IoStep{IoStatus::kDone, bytes, 0}; }
IoStep Wait(short events) { return IoStep{IoStatus::kWouldBlock, 0, events}; }
IoStep Closed() { return IoStep{IoStatus::kClosed, 0, 0}; }
IoStep Failed() { return IoStep{IoStatus::kFailed, 0, 0}; }

// Maps a failed SSL_* call: WANT_READ/WANT_WRITE wait, the rest fail.
// `*retry` is set for an interrupted system call.
IoStep TlsFailure(ssl_st* ssl, int result, bool* retry) {
  const int error = SSL_get_error(ssl, result);
  ERR_clear_error();
  *retry = error == SSL_ERROR_SYSCALL && errno == EINTR;
  if (error == SSL_ERROR_WANT_READ) return Wait(POLLIN);
  if (error == SSL_ERROR_WANT_WRITE) return Wait(POLLOUT);
  if (error == SSL_ERROR_ZERO_RETURN) return Closed();  // close_notify
  if (error == SSL_ERROR_SYSCALL && result == 0) return Closed();  // bare FIN
  return Failed();
}

// SSL_* take int lengths.
int TlsLength(size_t size) {
  return static_cast<int>(std::min<size_t>(size, size_t{1} << 30));
}

}  // namespace

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

void SslFree::operator()(ssl_st* ssl) const { SSL_free(ssl); }

IoStep SendStep(int fd, ssl_st* ssl, const char* data, size_t size) {
  if (size == 0) return Done(0);
  for (;;) {
    if (ssl == nullptr) {
      const ssize_t sent = ::send(fd, data, size, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (sent > 0) return Done(static_cast<size_t>(sent));
      if (sent < 0 && errno == EINTR) continue;
      if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return Wait(POLLOUT);
      }
      return Failed();
    }
    ERR_clear_error();
    const int sent = SSL_write(ssl, data, TlsLength(size));
    if (sent > 0) return Done(static_cast<size_t>(sent));
    bool retry = false;
    IoStep step = TlsFailure(ssl, sent, &retry);
    if (retry) continue;
    // A peer's close_notify does not end our sending side, but SSL_write
    // cannot go on after it either.
    if (step.status == IoStatus::kClosed) return Failed();
    return step;
  }
}

IoStep ReceiveStep(int fd, ssl_st* ssl, char* buffer, size_t size) {
  for (;;) {
    if (ssl == nullptr) {
      const ssize_t received = ::recv(fd, buffer, size, MSG_DONTWAIT);
      if (received > 0) return Done(static_cast<size_t>(received));
      if (received == 0) return Closed();
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return Wait(POLLIN);
      return Failed();
    }
    ERR_clear_error();
    const int received = SSL_read(ssl, buffer, TlsLength(size));
    if (received > 0) return Done(static_cast<size_t>(received));
    bool retry = false;
    IoStep step = TlsFailure(ssl, received, &retry);
    if (!retry) return step;
  }
}

IoStep AcceptTlsStep(ssl_st* ssl) {
  for (;;) {
    ERR_clear_error();
    const int result = SSL_accept(ssl);
    if (result == 1) return Done(0);
    bool retry = false;
    IoStep step = TlsFailure(ssl, result, &retry);
    if (retry) continue;
    // A handshake the peer ends is a failed one.
    if (step.status == IoStatus::kClosed) return Failed();
    return step;
  }
}

void SendTlsCloseNotify(ssl_st* ssl) {
  ERR_clear_error();
  SSL_shutdown(ssl);
  ERR_clear_error();
}

bool SetNonBlocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL, 0);
  if (flags < 0) return false;
  if ((flags & O_NONBLOCK) != 0) return true;
  return ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

}  // namespace sse_gateway
