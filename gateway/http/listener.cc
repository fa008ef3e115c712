#include "gateway/http/listener.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace sse_gateway {
namespace {

int PortOf(int socket) {
  sockaddr_storage address;
  socklen_t length = sizeof(address);
  if (getsockname(socket, reinterpret_cast<sockaddr*>(&address), &length) !=
      0) {
    return 0;
  }
  if (address.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<sockaddr_in*>(&address)->sin_port);
  }
  if (address.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<sockaddr_in6*>(&address)->sin6_port);
  }
  return 0;
}

}  // namespace

absl::StatusOr<Listener> ListenOn(const std::string& host, int port) {
  const auto failed = [&](absl::string_view what) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", host, ":", port, ": ", what,
                     " (address in use, or not an address of this machine)"));
  };
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  const int resolved = getaddrinfo(host.empty() ? nullptr : host.c_str(),
                                   service.c_str(), &hints, &found);
  if (resolved != 0) return failed(gai_strerror(resolved));
  std::string last_error = "no address";
  for (addrinfo* candidate = found; candidate != nullptr;
       candidate = candidate->ai_next) {
    UniqueFd socket(::socket(candidate->ai_family,
                             candidate->ai_socktype | SOCK_CLOEXEC,
                             candidate->ai_protocol));
    if (!socket.valid()) {
      last_error = std::strerror(errno);
      continue;
    }
    int yes = 1;
    setsockopt(socket.get(), SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    if (::bind(socket.get(), candidate->ai_addr, candidate->ai_addrlen) != 0 ||
        ::listen(socket.get(), SOMAXCONN) != 0) {
      last_error = std::strerror(errno);
      continue;
    }
    freeaddrinfo(found);
    Listener listener;
    listener.port = PortOf(socket.get());
    listener.socket = std::move(socket);
    return listener;
  }
  freeaddrinfo(found);
  return failed(last_error);
}

}  // namespace sse_gateway
