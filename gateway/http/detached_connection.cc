#include "gateway/http/detached_connection.h"

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <utility>

namespace sse_gateway {

DetachedConnection::DetachedConnection(UniqueFd socket, UniqueSsl ssl,
                                       absl::Duration write_timeout)
    : socket_(std::move(socket)),
      ssl_(std::move(ssl)),
      write_timeout_(write_timeout) {
  SetNonBlocking(socket_.get());
  if (ssl_ != nullptr) {
    // A retried SSL_write may come from a buffer that moved.
    SSL_set_mode(ssl_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE |
                                 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  }
}

DetachedConnection::~DetachedConnection() {
  if (ssl_ != nullptr) SendTlsCloseNotify(ssl_.get());
  ::shutdown(socket_.get(), SHUT_RDWR);
  // The members close the socket and free the SSL object.
}

DetachedConnection::SendResult DetachedConnection::Send(const char* data,
                                                        size_t size,
                                                        size_t* sent,
                                                        short* wait_events) {
  while (size > 0) {
    const IoStep step = SendStep(socket_.get(), ssl_.get(), data, size);
    switch (step.status) {
      case IoStatus::kDone:
        data += step.bytes;
        size -= step.bytes;
        *sent += step.bytes;
        break;
      case IoStatus::kWouldBlock:
        *wait_events = step.wait_events;
        return SendResult::kBlocked;
      case IoStatus::kClosed:
      case IoStatus::kFailed:
        return SendResult::kFailed;
    }
  }
  return SendResult::kSent;
}

}  // namespace sse_gateway
