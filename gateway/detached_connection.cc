#include "gateway/detached_connection.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace sse_gateway {

DetachedConnection::DetachedConnection(int socket, ssl_st* ssl,
                                       absl::Duration write_timeout)
    : socket_(socket), ssl_(ssl), write_timeout_(write_timeout) {
  const int flags = ::fcntl(socket_, F_GETFL, 0);
  if (flags >= 0 && (flags & O_NONBLOCK) == 0) {
    ::fcntl(socket_, F_SETFL, flags | O_NONBLOCK);
  }
  if (ssl_ != nullptr) {
    // A retried SSL_write may come from a buffer that moved.
    SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE |
                           SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  }
}

DetachedConnection::~DetachedConnection() {
  if (ssl_ != nullptr) {
    ERR_clear_error();
    SSL_shutdown(ssl_);  // Best effort close_notify; no waiting for the peer.
    ERR_clear_error();
    SSL_free(ssl_);
  }
  ::shutdown(socket_, SHUT_RDWR);
  ::close(socket_);
}

DetachedConnection::SendResult DetachedConnection::Send(const char* data,
                                                        size_t size,
                                                        size_t* sent,
                                                        short* wait_events) {
  while (size > 0) {
    if (ssl_ == nullptr) {
      const ssize_t n =
          ::send(socket_, data, size, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        data += n;
        size -= static_cast<size_t>(n);
        *sent += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        *wait_events = POLLOUT;
        return SendResult::kBlocked;
      }
      return SendResult::kFailed;
    }
    ERR_clear_error();
    const int n = SSL_write(ssl_, data,
                            static_cast<int>(std::min<size_t>(size, 1 << 30)));
    if (n > 0) {
      data += n;
      size -= static_cast<size_t>(n);
      *sent += static_cast<size_t>(n);
      continue;
    }
    const int error = SSL_get_error(ssl_, n);
    ERR_clear_error();
    if (error == SSL_ERROR_WANT_WRITE || error == SSL_ERROR_WANT_READ) {
      *wait_events = error == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
      return SendResult::kBlocked;
    }
    return SendResult::kFailed;
  }
  return SendResult::kSent;
}

}  // namespace sse_gateway
