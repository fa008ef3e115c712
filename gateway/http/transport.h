// The transport of one HTTP connection: a socket, plain or under TLS, and
// the one place that maps send/recv/SSL_* results to "done", "would block
// (wait for POLLIN or POLLOUT)", "closed" or "failed". Every reader and writer
// of a connection (SocketStream, which waits; DetachedConnection, which
// does not) takes its steps from here.
//
// UniqueFd and UniqueSsl own a socket and an OpenSSL object.
//
// The step functions never block on a non-blocking socket and never raise
// SIGPIPE on plain TCP (SSL_write writes with write(): callers block SIGPIPE
// on the thread). Not thread-safe per connection; stateless otherwise.

#ifndef SSE_GATEWAY_GATEWAY_HTTP_TRANSPORT_H_
#define SSE_GATEWAY_GATEWAY_HTTP_TRANSPORT_H_

#include <sys/types.h>

#include <cstddef>
#include <memory>

struct ssl_st;

namespace sse_gateway {

// Owns a file descriptor: closes it when destroyed. Move-only.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Gives up ownership without closing.
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  // Closes the descriptor held (if any) and holds `fd` instead.
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

struct SslFree {
  void operator()(ssl_st* ssl) const;
};
// Owns an OpenSSL connection object (SSL_free).
using UniqueSsl = std::unique_ptr<ssl_st, SslFree>;

// What one I/O step did. kDone: `bytes` moved (a receive of 0 bytes is
// kClosed instead). kWouldBlock: nothing moved; wait until the socket is
// ready for `wait_events` (POLLIN or POLLOUT: TLS may need to read to write,
// and the reverse) and repeat the step with the same arguments. kClosed: the
// peer ended its sending side (FIN or TLS close_notify). kFailed: the
// connection is broken (reset, TLS error).
enum class IoStatus { kDone, kWouldBlock, kClosed, kFailed };
struct IoStep {
  IoStatus status = IoStatus::kFailed;
  size_t bytes = 0;
  short wait_events = 0;
};

// Sends some of `data` (at least one byte when kDone). `ssl` may be null.
IoStep SendStep(int fd, ssl_st* ssl, const char* data, size_t size);

// Receives up to `size` bytes into `buffer`. `ssl` may be null.
IoStep ReceiveStep(int fd, ssl_st* ssl, char* buffer, size_t size);

// One step of the server side of a TLS handshake (SSL_accept); kDone when it
// has completed.
IoStep AcceptTlsStep(ssl_st* ssl);

// Best effort close_notify (no waiting for the peer's), then clears
// OpenSSL's error queue.
void SendTlsCloseNotify(ssl_st* ssl);

// Puts `fd` in non-blocking mode. False on failure.
bool SetNonBlocking(int fd);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_HTTP_TRANSPORT_H_
