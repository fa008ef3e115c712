// DetachedConnection: an HTTP connection that its connection thread has
// handed over (SocketStream::Detach) so that another thread can finish the
// response without blocking: the StreamPump writes SSE responses this way.
//
// It owns the socket (set non-blocking) and, over TLS, the OpenSSL object.
// Writes never block and never raise SIGPIPE. Destroying it closes the
// connection: close_notify over TLS, then shutdown and close.
//
// Not thread-safe: one thread at a time uses it.

#ifndef SSE_GATEWAY_GATEWAY_HTTP_DETACHED_CONNECTION_H_
#define SSE_GATEWAY_GATEWAY_HTTP_DETACHED_CONNECTION_H_

#include <sys/types.h>

#include "absl/time/time.h"
#include "gateway/http/transport.h"

namespace sse_gateway {

class DetachedConnection {
 public:
  // Takes `socket` and `ssl` (null for plain TCP). `write_timeout` is how
  // long the connection may accept no bytes before its client counts as too
  // slow (enforced by the user, not here).
  DetachedConnection(UniqueFd socket, UniqueSsl ssl,
                     absl::Duration write_timeout);
  ~DetachedConnection();

  DetachedConnection(const DetachedConnection&) = delete;
  DetachedConnection& operator=(const DetachedConnection&) = delete;

  enum class SendResult { kSent, kBlocked, kFailed };

  // Writes as much of `data` as the connection takes now, adding the count
  // to `*sent`. kBlocked: nothing more fits; wait until the socket is ready
  // for `*wait_events` (POLLOUT, or POLLIN when TLS must read first) and call
  // again with the SAME remaining bytes. kFailed: the peer has gone.
  SendResult Send(const char* data, size_t size, size_t* sent,
                  short* wait_events);

  int socket() const { return socket_.get(); }
  absl::Duration write_timeout() const { return write_timeout_; }

 private:
  const UniqueFd socket_;
  const UniqueSsl ssl_;
  const absl::Duration write_timeout_;
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_HTTP_DETACHED_CONNECTION_H_
