#include "bench/sse_connection.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace sse_gateway {
namespace {

const SubscriptionConfig kNoSubscriptions;

}  // namespace

void RecordStreamEvent(const StreamEvent& event, ConnectionContext* context,
                       SubscriptionTracker* subscriptions,
                       int64_t* first_event_ns) {
  ++context->events;
  if (*first_event_ns == 0) *first_event_ns = MonotonicNanos();
  const bool measuring = context->measuring->load(std::memory_order_relaxed);
  if (event.sent_unix_nanos >= 0 && measuring) {
    context->latency->Record(
        (context->recv_realtime_ns - event.sent_unix_nanos) / 1000);
  }
  if (context->subscription_results != nullptr) {
    subscriptions->OnEvent(event.type, event.sent_unix_nanos,
                           context->recv_realtime_ns, measuring,
                           context->subscription_results);
  }
}

const char* SseConnection::FailureName(Failure failure) {
  switch (failure) {
    case Failure::kNone:
      return "none";
    case Failure::kNoFds:
      return "no_fds";
    case Failure::kConnectRefused:
      return "connect_refused";
    case Failure::kConnectError:
      return "connect_error";
    case Failure::kBadStatus:
      return "bad_status";
    case Failure::kBadResponse:
      return "bad_response";
    case Failure::kClosedEarly:
      return "closed_early";
    case Failure::kEnded:
      return "ended";
    case Failure::kReset:
      return "reset";
    case Failure::kReadError:
      return "read_error";
    case Failure::kTimeout:
      return "timeout";
    case Failure::kCount:
      break;
  }
  return "unknown";
}

SseConnection::SseConnection(ConnectionContext* context,
                             const std::string* request)
    : context_(context),
      request_(request),
      events_(context->format),
      subscriptions_(context->subscriptions != nullptr ? context->subscriptions
                                                       : &kNoSubscriptions) {}

SseConnection::~SseConnection() {
  if (fd_ >= 0) ::close(fd_);
}

void SseConnection::Reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  http_.Reset();
  events_.Reset();
  subscriptions_.Reset();
  phase_ = Phase::kIdle;
  failure_ = Failure::kNone;
  epoll_fd_ = -1;
  request_sent_ = 0;
  start_ns_ = 0;
  connected_ns_ = 0;
  first_event_ns_ = 0;
  saw_end_event_ = false;
  finished_ = false;
  stop_failure_ = Failure::kNone;
}

SseConnection::StartResult SseConnection::Start(int epoll_fd,
                                                const sockaddr_in& address,
                                                const in_addr* source,
                                                int64_t start_ns) {
  start_ns_ = start_ns;
  epoll_fd_ = epoll_fd;
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    Close(errno == EMFILE || errno == ENFILE ? Failure::kNoFds
                                             : Failure::kConnectError);
    return StartResult::kFailed;
  }
  if (source != nullptr) {
    const int on = 1;
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_addr = *source;
    if (::setsockopt(fd_, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on,
                     sizeof(on)) != 0 ||
        ::bind(fd_, reinterpret_cast<const sockaddr*>(&local), sizeof(local)) !=
            0) {
      Close(Failure::kConnectError);
      return StartResult::kFailed;
    }
  }
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address),
                sizeof(address)) != 0 &&
      errno != EINPROGRESS) {
    const int error = errno;
    if (error == EADDRNOTAVAIL || error == EAGAIN) {
      ::close(fd_);
      fd_ = -1;
      return StartResult::kRetryLater;
    }
    Close(error == ECONNREFUSED ? Failure::kConnectRefused
                                : Failure::kConnectError);
    return StartResult::kFailed;
  }
  // Connected or connecting: either way EPOLLOUT says when to go on.
  epoll_event event{};
  event.events = EPOLLOUT;
  event.data.ptr = this;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd_, &event) != 0) {
    Close(Failure::kConnectError);
    return StartResult::kFailed;
  }
  phase_ = Phase::kConnecting;
  return StartResult::kStarted;
}

void SseConnection::HandleIo(uint32_t epoll_events) {
  switch (phase_) {
    case Phase::kConnecting:
      OnConnectReady();
      return;
    case Phase::kSending:
      SendRequest();
      return;
    case Phase::kReading:
      if (epoll_events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) {
        ReadOnce();
      }
      return;
    case Phase::kIdle:
    case Phase::kClosed:
      return;
  }
}

void SseConnection::OnConnectReady() {
  int error = 0;
  socklen_t length = sizeof(error);
  if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
    error = errno;
  }
  if (error == EINPROGRESS || error == EALREADY) return;  // Spurious.
  if (error != 0) {
    Close(error == ECONNREFUSED ? Failure::kConnectRefused
                                : Failure::kConnectError);
    return;
  }
  connected_ns_ = MonotonicNanos();
  // SYNs lost to a full listen backlog show up as retransmissions.
  tcp_info info{};
  socklen_t info_length = sizeof(info);
  if (::getsockopt(fd_, IPPROTO_TCP, TCP_INFO, &info, &info_length) == 0) {
    context_->syn_retransmits += info.tcpi_total_retrans;
  }
  phase_ = Phase::kSending;
  SendRequest();
}

void SseConnection::SendRequest() {
  while (request_sent_ < request_->size()) {
    const ssize_t sent = ::send(fd_, request_->data() + request_sent_,
                                request_->size() - request_sent_, MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;  // Still EPOLLOUT.
      Close(errno == ECONNRESET || errno == EPIPE ? Failure::kReset
                                                  : Failure::kReadError);
      return;
    }
    request_sent_ += static_cast<size_t>(sent);
  }
  epoll_event event{};
  event.events = EPOLLIN | EPOLLRDHUP;
  event.data.ptr = this;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd_, &event) != 0) {
    Close(Failure::kReadError);
    return;
  }
  phase_ = Phase::kReading;
}

void SseConnection::ReadOnce() {
  ssize_t received;
  do {
    received =
        ::recv(fd_, context_->read_buffer, context_->read_buffer_size, 0);
  } while (received < 0 && errno == EINTR);
  if (received < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    Close(errno == ECONNRESET ? Failure::kReset : Failure::kReadError);
    return;
  }
  if (received == 0) {  // The peer closed: whatever was going on ended.
    CloseAtEndOfResponse();
    return;
  }
  context_->recv_realtime_ns = RealtimeNanos();
  const int64_t comments_before = events_.comments();
  const HttpResponseParser::Progress progress = http_.Feed(
      absl::string_view(context_->read_buffer, static_cast<size_t>(received)),
      this);
  context_->comments += events_.comments() - comments_before;
  switch (progress) {
    case HttpResponseParser::Progress::kNeedMore:
      return;
    case HttpResponseParser::Progress::kStopped:
      Close(finished_ ? Failure::kNone : stop_failure_);
      return;
    case HttpResponseParser::Progress::kDone:
      CloseAtEndOfResponse();
      return;
    case HttpResponseParser::Progress::kError:
      Close(Failure::kBadResponse);
      return;
  }
}

void SseConnection::CloseAtEndOfResponse() {
  Close(saw_end_event_ ? Failure::kEnded : Failure::kClosedEarly);
}

void SseConnection::Close(Failure failure) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (phase_ != Phase::kClosed) failure_ = failure;
  phase_ = Phase::kClosed;
}

bool SseConnection::OnResponseHeaders(int status_code) {
  if (status_code == 200) return true;
  stop_failure_ = Failure::kBadStatus;
  return false;
}

bool SseConnection::OnBody(absl::string_view bytes) {
  context_->body_bytes += static_cast<int64_t>(bytes.size());
  if (events_.Feed(bytes, this)) return true;
  if (events_.error()) stop_failure_ = Failure::kBadResponse;
  return false;
}

bool SseConnection::OnStreamEvent(const StreamEvent& event) {
  if (event.is_end) {
    saw_end_event_ = true;
    return true;
  }
  RecordStreamEvent(event, context_, &subscriptions_, &first_event_ns_);
  if (context_->close_after_first_event) {
    finished_ = true;
    return false;
  }
  return true;
}

}  // namespace sse_gateway
