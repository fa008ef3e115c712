#include "gateway/http/http_server.h"

#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gateway/http/http_status.h"
#include "gateway/http/request_head.h"
#include "gateway/http/socket_stream.h"
#include "gateway/http/transport.h"

namespace sse_gateway {
namespace {

// Replaces the values httplib parsed by the raw ones in `head`.
void RestoreRawHeaders(absl::string_view head, httplib::Request& request) {
  std::vector<std::pair<std::string, std::string>> fields =
      ParseRawHeaderFields(head);
  absl::flat_hash_set<std::string> names;
  for (const auto& field : fields) {
    names.insert(absl::AsciiStrToLower(field.first));
  }
  for (auto it = request.headers.begin(); it != request.headers.end();) {
    if (names.contains(absl::AsciiStrToLower(it->first))) {
      it = request.headers.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& field : fields) {
    request.headers.emplace(std::move(field.first), std::move(field.second));
  }
  // httplib's own entries, in case the client sent fields of these names.
  request.set_header("REMOTE_ADDR", request.remote_addr);
  request.set_header("REMOTE_PORT", std::to_string(request.remote_port));
  request.set_header("LOCAL_ADDR", request.local_addr);
  request.set_header("LOCAL_PORT", std::to_string(request.local_port));
}

// Whether the request says a body follows its head.
bool AnnouncesBody(const httplib::Request& request) {
  if (request.has_header("Transfer-Encoding")) return true;
  if (!request.has_header("Content-Length")) return false;
  return request.get_header_value("Content-Length") != std::string("0");
}

// OpenSSL writes to the socket with write(), which raises SIGPIPE when the
// peer has gone. While alive, SIGPIPE is blocked on the calling thread (the
// write then just fails with EPIPE); a SIGPIPE left pending is discarded.
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock() {
    sigemptyset(&sigpipe_);
    sigaddset(&sigpipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &sigpipe_, &previous_);
  }
  ~ScopedSigpipeBlock() {
    sigset_t pending;
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE) == 1) {
      timespec no_wait{0, 0};
      sigtimedwait(&sigpipe_, nullptr, &no_wait);
    }
    pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;

 private:
  sigset_t sigpipe_;
  sigset_t previous_;
};

// What the connection's current request head was found to be, for the
// handlers that httplib calls on the same thread.
struct ConnectionState {
  bool head_parsed = false;  // httplib parsed it and called setup_request.
  absl::Status head_error;   // Not OK: refused by CheckRequestHead.

  // Makes `state` Current() on this thread while alive.
  class Scope {
   public:
    explicit Scope(ConnectionState* state) : previous_(current_) {
      current_ = state;
    }
    ~Scope() { current_ = previous_; }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    ConnectionState* const previous_;
  };

  static const ConnectionState* Current() { return current_; }

 private:
  static thread_local ConnectionState* current_;
};

thread_local ConnectionState* ConnectionState::current_ = nullptr;

absl::Duration Seconds(time_t seconds, time_t micros) {
  return absl::Seconds(seconds) + absl::Microseconds(micros);
}

}  // namespace

bool HttpServer::process_and_close_socket(int socket) {
  UniqueFd owned(socket);
  SocketStream stream(socket, Seconds(read_timeout_sec_, read_timeout_usec_),
                      Seconds(write_timeout_sec_, write_timeout_usec_));
  SocketStream::Scope scope(&stream);
  bool ok = false;
  if (tls_ == nullptr) {
    ok = ServeRequests(stream);
  } else {
    ScopedSigpipeBlock no_sigpipe;
    if (stream.AcceptTls(tls_->NewConnection(socket))) {
      ok = ServeRequests(stream);
      if (!stream.detached()) stream.ShutdownTls();
    }
  }
  // A detached connection belongs to whoever took it (the StreamPump).
  if (stream.detached()) {
    owned.release();
    return true;
  }
  ::shutdown(socket, SHUT_RDWR);
  return ok;  // `owned` closes the socket.
}

bool HttpServer::ServeRequests(SocketStream& stream) {
  const absl::Duration keep_alive = absl::Seconds(keep_alive_timeout_sec_);
  bool ok = true;
  for (size_t remaining = keep_alive_max_count_; remaining > 0; --remaining) {
    // Wait for the next request, in short slices so that a server stop is
    // noticed. (is_running() stays true until every connection has ended;
    // stop() closes the listening socket at once.)
    absl::Time deadline = absl::Now() + keep_alive;
    bool readable = false;
    while (svr_sock_ != INVALID_SOCKET && !readable && absl::Now() < deadline) {
      readable = stream.WaitReadable(
          std::min(absl::Milliseconds(250), deadline - absl::Now()));
    }
    if (!readable) break;

    stream.StartRecording(kMaxRecordedHeadBytes);
    bool connection_closed = false;
    bool announced_body = false;
    absl::Status head_status;
    ConnectionState state;
    ConnectionState::Scope state_scope(&state);
    ok = process_request(
        stream, /*close_connection=*/remaining == 1, connection_closed,
        [&stream, &announced_body, &state](httplib::Request& request) {
          state.head_parsed = true;
          if (stream.recording_overflowed()) {
            state.head_error =
                absl::InvalidArgumentError("the request head is too large");
          } else {
            state.head_error = CheckRequestHead(stream.recorded());
            RestoreRawHeaders(stream.recorded(), request);
          }
          stream.StartRecording(0);
          announced_body = AnnouncesBody(request);
          if (!state.head_error.ok()) {
            // Answered by the pre-routing wrapper; say so in the response.
            request.headers.erase("Connection");
            request.set_header("Connection", "close");
          }
        });
    // The connection is closed after:
    //  - a head httplib could not parse (it answered 400, 414...) or that
    //    CheckRequestHead refused: where one request ends is then unknown,
    //    and reading on would run the rest of the bytes as another request
    //    (request desynchronisation);
    //  - a request that announced a body: the gateway answers every request
    //    from its head and never reads a body, so the body's bytes are
    //    still unread, and parsing them as the next request would let a
    //    client smuggle a request past a proxy in front.
    if (!ok || connection_closed || stream.detached() || announced_body ||
        !state.head_parsed || !state.head_error.ok()) {
      break;
    }
  }
  return ok;
}

HttpServer::HttpServer() {
  // httplib answers a head it cannot parse (400, 414...) before calling any
  // handler of ours, with a keep-alive header; ServeRequests closes such a
  // connection, and the answer says so.
  httplib::Server::set_error_handler(HandlerWithResponse(
      [](const httplib::Request&, httplib::Response& response) {
        const ConnectionState* state = ConnectionState::Current();
        if (state != nullptr && !state->head_parsed) {
          response.set_header("Connection", "close");
        }
        return HandlerResponse::Unhandled;
      }));
}

void HttpServer::set_pre_routing_handler(HandlerWithResponse handler) {
  httplib::Server::set_pre_routing_handler([handler = std::move(handler)](
                                               const httplib::Request& request,
                                               httplib::Response& response) {
    const ConnectionState* state = ConnectionState::Current();
    if (state != nullptr && !state->head_error.ok()) {
      response.status = 400;
      response.set_header("Cache-Control", "no-store");
      response.set_content(StatusJson(state->head_error), "application/json");
      return HandlerResponse::Handled;
    }
    return handler(request, response);
  });
}

}  // namespace sse_gateway
