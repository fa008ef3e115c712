#include "gateway/http/connection.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/check.h"
#include "gateway/http/tls_server_context.h"

namespace sse_gateway {
namespace {

// Body chunks one connection may write per turn before the others get theirs.
constexpr int kMaxChunksPerTurn = 8;
// The chunked body's terminating chunk (no trailers).
constexpr absl::string_view kLastChunk = "0\r\n\r\n";
// Buffers larger than this are released once empty, so that an idle
// connection does not keep a burst's memory.
constexpr size_t kKeptBufferBytes = 4096;
// Bytes read per receive step.
constexpr size_t kReadBytes = 16 * 1024;

// Where the head at the start of `input` ends: just after its first empty
// line (CRLF, or a bare LF that CheckRequestHead then refuses); npos while
// it is incomplete.
size_t HeadEnd(absl::string_view input) {
  size_t line_start = 0;
  for (;;) {
    const size_t lf = input.find('\n', line_start);
    if (lf == absl::string_view::npos) return absl::string_view::npos;
    const size_t length = lf - line_start;
    if (length == 0 || (length == 1 && input[line_start] == '\r')) {
      return lf + 1;
    }
    line_start = lf + 1;
  }
}

void Release(std::string& buffer) {
  if (buffer.capacity() > kKeptBufferBytes) {
    std::string().swap(buffer);
  } else {
    buffer.clear();
  }
}

}  // namespace

Connection::Connection(ConnectionHost* host, UniqueFd socket, UniqueSsl ssl,
                       PeerAddress peer, absl::Time now)
    : host_(host),
      socket_(std::move(socket)),
      ssl_(std::move(ssl)),
      peer_(std::move(peer)),
      phase_(ssl_ != nullptr ? Phase::kHandshake : Phase::kHead),
      // The handshake and the first head must both fit in head_timeout.
      deadline_(now + host_->limits().head_timeout) {}

Connection::~Connection() {
  SSE_GATEWAY_DCHECK(deferred_ == nullptr && body_ == nullptr);
}

void Connection::OnEvents(uint32_t events, absl::Time now) {
  if (phase_ == Phase::kClosed) return;
  if ((events & (EPOLLERR | EPOLLHUP)) != 0) {
    Abandon(AbandonReason::kClientGone);
    return;
  }
  if (phase_ == Phase::kHttp2) {
    // An HTTP/2 client does not half-close: a FIN means it is gone (after
    // what it sent last has been read).
    http2_->OnEvents((events & (EPOLLIN | EPOLLRDHUP)) != 0,
                     (events & EPOLLOUT) != 0, now);
    if ((events & EPOLLRDHUP) != 0 && !http2_->over()) {
      Close(AbandonReason::kClientGone);
      return;
    }
    CheckHttp2();
    return;
  }
  if ((events & EPOLLRDHUP) != 0 && !peer_half_closed_) {
    // The client will send nothing more. It may still read (a half-close is
    // legal), or be gone altogether: a body gets a probe at once (a gone
    // client's host answers it with a reset, which is EPOLLERR).
    peer_half_closed_ = true;
    WatchFor(registered_events & (EPOLLIN | EPOLLOUT));
    if (phase_ == Phase::kStreaming && output_offset_ == output_.size()) {
      body_->RequestKeepAlive();
      Service(now);
      return;
    }
    if (phase_ == Phase::kHead) events |= EPOLLIN;  // Read up to the end.
  }
  switch (phase_) {
    case Phase::kHandshake:
      Handshake(now);
      return;
    case Phase::kHead:
      if ((events & EPOLLIN) != 0 && ReadInput()) ServeNextHead(now);
      return;
    case Phase::kWriting:
    case Phase::kStreaming:
      // EPOLLIN too: TLS may have to read before it can write.
      if ((events & (EPOLLIN | EPOLLOUT)) != 0) Service(now);
      return;
    case Phase::kDeciding:
    case Phase::kHttp2:
    case Phase::kClosed:
      return;
  }
}

void Connection::OnReady(absl::Time now) {
  if (phase_ == Phase::kHttp2) {
    http2_->OnReady(now);
    CheckHttp2();
  } else if (phase_ == Phase::kDeciding) {
    Decide(now);
  } else if (phase_ == Phase::kStreaming) {
    Service(now);
  }
}

void Connection::OnScan(absl::Time now) {
  const ConnectionLimits& limits = host_->limits();
  const bool writing = output_offset_ < output_.size();
  switch (phase_) {
    case Phase::kHandshake:
    case Phase::kHead:
      if (now >= deadline_) {
        // A head begun (or a handshake) that did not finish in time; an
        // idle keep-alive connection just ends.
        if (!idle_) host_->CountHeadTimeout();
        Close(AbandonReason::kClientGone);
      }
      return;
    case Phase::kDeciding:
      if (now >= deferred_->Deadline()) Decide(now);
      return;
    case Phase::kWriting:
    case Phase::kStreaming:
      if (writing) {
        if (now - blocked_since_ >= limits.write_timeout) {
          Abandon(AbandonReason::kSlowClient);
        }
        return;
      }
      if (phase_ == Phase::kStreaming &&
          (!notifies_ || now >= body_->NextDeadline())) {
        Service(now);
      }
      return;
    case Phase::kHttp2:
      http2_->OnScan(now);
      CheckHttp2();
      return;
    case Phase::kClosed:
      return;
  }
}

void Connection::Abandon(AbandonReason reason) { Close(reason); }

void Connection::Handshake(absl::Time now) {
  const IoStep step = AcceptTlsStep(ssl_.get());
  if (step.status == IoStatus::kWouldBlock) {
    WatchFor(step.wait_events == POLLOUT ? EPOLLOUT : EPOLLIN);
    return;
  }
  if (step.status != IoStatus::kDone) {
    Close(AbandonReason::kClientGone);
    return;
  }
  if (host_->limits().http2.enabled && NegotiatedHttp2(ssl_.get())) {
    StartHttp2(now);
    return;
  }
  phase_ = Phase::kHead;
  WatchFor(EPOLLIN);
  // The first head may have come with the handshake's last flight.
  if (ReadInput()) ServeNextHead(now);
}

void Connection::StartHttp2(absl::Time now) {
  host_->CountHttp2Connection();
  phase_ = Phase::kHttp2;
  deadline_ = absl::InfiniteFuture();
  std::string received;
  received.swap(input_);
  http2_ = Http2Session::Create(host_, this, peer_, received, now);
  if (http2_ == nullptr) {
    Close(AbandonReason::kShutdown);  // nghttp2 could not allocate.
    return;
  }
  // More may have arrived (over TLS, OpenSSL may hold bytes epoll cannot
  // see).
  http2_->OnEvents(/*readable=*/true, /*writable=*/false, now);
  CheckHttp2();
}

void Connection::CheckHttp2() {
  if (phase_ == Phase::kHttp2 && http2_->over()) Close(http2_->over_reason());
}

IoStep Connection::Send(const char* data, size_t size) {
  return SendStep(socket_.get(), ssl_.get(), data, size);
}

IoStep Connection::Receive(char* buffer, size_t size) {
  return ReceiveStep(socket_.get(), ssl_.get(), buffer, size);
}

void Connection::SetInterest(uint32_t events) {
  if (events != registered_events) host_->Watch(this, events);
}

std::function<void()> Connection::ReadyCallback() {
  std::weak_ptr<Connection> weak = weak_from_this();
  ConnectionHost* host = host_;
  return [host, weak] {
    if (std::shared_ptr<Connection> live = weak.lock()) host->Wake(live);
  };
}

bool Connection::ReadInput() {
  char buffer[kReadBytes];
  // Read everything available (over TLS, OpenSSL may hold decrypted bytes
  // that epoll cannot see), but never much more than a head may hold.
  while (input_.size() <= HttpServer::kMaxHeadBytes) {
    const IoStep step =
        ReceiveStep(socket_.get(), ssl_.get(), buffer, sizeof(buffer));
    switch (step.status) {
      case IoStatus::kDone:
        input_.append(buffer, step.bytes);
        if (ssl_ == nullptr && step.bytes < sizeof(buffer)) {
          // A short read drained the socket: the next recv would only say
          // EAGAIN. Epoll (level-triggered) reports anything that follows.
          WatchFor(EPOLLIN);
          return true;
        }
        continue;
      case IoStatus::kWouldBlock:
        // TLS may need to write first (renegotiation): wait for that.
        WatchFor(step.wait_events == POLLOUT ? EPOLLOUT : EPOLLIN);
        return true;
      case IoStatus::kClosed:
        peer_half_closed_ = true;
        WatchFor(0);
        return true;
      case IoStatus::kFailed:
        Close(AbandonReason::kClientGone);
        return false;
    }
  }
  return true;
}

void Connection::ServeNextHead(absl::Time now) {
  const ConnectionLimits& limits = host_->limits();
  if (requests_ == 0 && limits.http2.enabled && ssl_ == nullptr) {
    // h2c with prior knowledge: the connection opens with the preface.
    const size_t compared = std::min(input_.size(), kHttp2ClientPreface.size());
    if (compared > 0 && absl::string_view(input_).substr(0, compared) ==
                            kHttp2ClientPreface.substr(0, compared)) {
      if (compared == kHttp2ClientPreface.size()) {
        StartHttp2(now);
      } else if (peer_half_closed_) {
        Close(AbandonReason::kClientGone);
      }
      return;  // The rest of the preface is on its way (head_timeout).
    }
  }
  size_t end = HeadEnd(input_);
  if (end == absl::string_view::npos) {
    if (input_.size() > HttpServer::kMaxHeadBytes) {
      // httplib cannot parse the truncated head: 400, and the connection
      // ends.
      end = HttpServer::kMaxHeadBytes + 1;
    } else if (peer_half_closed_) {
      Close(AbandonReason::kClientGone);  // The head can never complete.
      return;
    } else {
      if (idle_ && !input_.empty()) {  // The next head has begun.
        idle_ = false;
        deadline_ = now + limits.head_timeout;
      }
      return;
    }
  }
  const std::string head = input_.substr(0, end);
  input_.erase(0, end);
  if (input_.empty()) Release(input_);
  ++requests_;
  const bool last = requests_ >= limits.max_requests || peer_half_closed_;
  HttpServer::Result result = host_->server().Serve(head, peer_, last);
  close_after_response_ = result.close;
  deadline_ = absl::InfiniteFuture();
  if (result.deferred != nullptr) {
    deferred_ = std::move(result.deferred);
    host_->Adopted();
    phase_ = Phase::kDeciding;
    WatchFor(0);
    WatchReady(/*deferred=*/true);
    Decide(now);
    return;
  }
  output_ = std::move(result.bytes);
  output_offset_ = 0;
  phase_ = Phase::kWriting;
  Service(now);
}

void Connection::Decide(absl::Time now) {
  std::optional<DeferredResponse::Decision> decision = deferred_->Decide(now);
  if (!decision.has_value()) return;
  deferred_->SetReadyCallback(nullptr);
  host_->Reap(std::move(deferred_));
  output_ = std::move(decision->bytes);
  output_offset_ = 0;
  close_after_response_ = close_after_response_ || decision->close;
  if (decision->body != nullptr) {
    body_ = std::move(decision->body);
    host_->Adopted();
    chunked_ = decision->chunked;
    phase_ = Phase::kStreaming;
    WatchReady(/*deferred=*/false);
    // What the body has now goes out with the head, in one write.
    AppendProduced(now);
  } else {
    phase_ = Phase::kWriting;
  }
  Service(now);
}

void Connection::Service(absl::Time now) {
  for (int turn = 0; turn < kMaxChunksPerTurn; ++turn) {
    if (phase_ == Phase::kClosed) return;
    if (output_offset_ < output_.size() && !Flush(now)) return;
    if (phase_ == Phase::kWriting) {
      ResponseDone(now);
      return;
    }
    if (phase_ != Phase::kStreaming) return;
    if (body_->ended()) {  // Its last bytes are out.
      Close(AbandonReason::kClientGone);
      return;
    }
    if (!AppendProduced(now)) return;
  }
  // More may be ready: come back after the other connections had a turn.
  host_->Wake(shared_from_this());
}

bool Connection::AppendProduced(absl::Time now) {
  std::string produced;
  body_->Produce(now, &produced);
  if (produced.empty()) return false;
  if (output_offset_ == output_.size()) {
    output_.clear();
    output_offset_ = 0;
  }
  if (!chunked_) {
    output_ += produced;  // Ended by closing the connection.
  } else {
    absl::StrAppend(&output_, absl::Hex(produced.size()), "\r\n", produced,
                    "\r\n");
    if (body_->ended()) output_.append(kLastChunk.data(), kLastChunk.size());
  }
  return true;
}

bool Connection::Flush(absl::Time now) {
  bool progress = false;
  while (output_offset_ < output_.size()) {
    const IoStep step =
        SendStep(socket_.get(), ssl_.get(), output_.data() + output_offset_,
                 output_.size() - output_offset_);
    if (step.status == IoStatus::kDone) {
      output_offset_ += step.bytes;
      progress = true;
      continue;
    }
    if (step.status != IoStatus::kWouldBlock ||
        (step.wait_events == POLLIN && peer_half_closed_)) {
      // Gone, or TLS must read first from a client that sends nothing more.
      Abandon(AbandonReason::kClientGone);
      return false;
    }
    if (progress || blocked_since_ == absl::InfiniteFuture()) {
      blocked_since_ = now;  // Progress restarts the clock.
    }
    WatchFor(step.wait_events == POLLIN ? EPOLLIN : EPOLLOUT);
    return false;
  }
  if (phase_ == Phase::kStreaming) body_->Wrote(now);
  Release(output_);
  output_offset_ = 0;
  blocked_since_ = absl::InfiniteFuture();
  WatchFor(0);
  return true;
}

void Connection::ResponseDone(absl::Time now) {
  if (close_after_response_) {
    Close(AbandonReason::kClientGone);
    return;
  }
  const ConnectionLimits& limits = host_->limits();
  phase_ = Phase::kHead;
  idle_ = input_.empty();
  deadline_ = now + (idle_ ? limits.idle_timeout : limits.head_timeout);
  WatchFor(EPOLLIN);
  ServeNextHead(now);  // A pipelined head may be complete already.
}

void Connection::WatchFor(uint32_t extra) {
  const uint32_t events =
      (peer_half_closed_ ? 0u : uint32_t{EPOLLRDHUP}) | extra;
  if (events != registered_events) host_->Watch(this, events);
}

void Connection::WatchReady(bool deferred) {
  std::weak_ptr<Connection> weak = weak_from_this();
  ConnectionHost* host = host_;
  auto on_ready = [host, weak] {
    if (std::shared_ptr<Connection> live = weak.lock()) host->Wake(live);
  };
  notifies_ = deferred ? deferred_->SetReadyCallback(on_ready)
                       : body_->SetReadyCallback(on_ready);
}

void Connection::Close(AbandonReason reason) {
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kClosed;
  if (deferred_ != nullptr) {
    deferred_->SetReadyCallback(nullptr);
    deferred_->Abandon(reason);
    host_->Reap(std::move(deferred_));
  }
  if (body_ != nullptr) {
    body_->SetReadyCallback(nullptr);
    if (!body_->ended()) body_->Abandon(reason);
    host_->Reap(std::move(body_));
  }
  if (http2_ != nullptr) {
    http2_->Abandon(reason);
    http2_.reset();
    // Unread input would make the kernel answer the close with a reset,
    // which may destroy the GOAWAY just sent before the client reads it.
    char discarded[16 * 1024];
    for (int i = 0; i < 16; ++i) {
      if (::recv(socket_.get(), discarded, sizeof(discarded), MSG_DONTWAIT) <=
          0) {
        break;
      }
    }
  }
  host_->Forget(this);
  if (ssl_ != nullptr) SendTlsCloseNotify(ssl_.get());
  ::shutdown(socket_.get(), SHUT_RDWR);
  socket_.reset();
  ssl_.reset();
  Release(input_);
  Release(output_);
}

}  // namespace sse_gateway
