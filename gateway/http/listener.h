// ListenOn: the gateway's listening socket.
//
// Stateless; thread-safe.

#ifndef SSE_GATEWAY_GATEWAY_HTTP_LISTENER_H_
#define SSE_GATEWAY_GATEWAY_HTTP_LISTENER_H_

#include <string>

#include "absl/status/statusor.h"
#include "gateway/http/transport.h"

namespace sse_gateway {

struct Listener {
  UniqueFd socket;  // bound, listening (backlog SOMAXCONN), SO_REUSEADDR
  int port = 0;     // the bound port (the one picked for port 0)
};

// Binds `host` ("127.0.0.1", "0.0.0.0", "::1"...) and `port` (0: any free
// port) and listens. Unavailable, naming the address, when it cannot.
absl::StatusOr<Listener> ListenOn(const std::string& host, int port);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_HTTP_LISTENER_H_
