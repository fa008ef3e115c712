#include "bench/http2_connection.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <utility>

#include "bench/bench_stats.h"

namespace sse_gateway {
namespace {

const SubscriptionConfig kNoSubscriptions;

// Bytes taken from nghttp2 per send().
constexpr size_t kOutputBatchBytes = 64 << 10;

constexpr uint32_t kReadInterest = EPOLLIN | EPOLLRDHUP;

// kEnded or kClosedEarly, whichever fits `stream`, when the connection or
// the stream ended without an error; `failure` otherwise.
SseConnection::Failure EndFailure(bool saw_end_event,
                                  SseConnection::Failure failure) {
  using Failure = SseConnection::Failure;
  if (failure == Failure::kEnded || failure == Failure::kClosedEarly) {
    return saw_end_event ? Failure::kEnded : Failure::kClosedEarly;
  }
  return failure;
}

}  // namespace

// Forwards nghttp2's callbacks (user_data = the Http2Connection).
struct Http2Callbacks {
  static Http2Connection* Self(void* user_data) {
    return static_cast<Http2Connection*>(user_data);
  }

  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame,
                      const uint8_t* name, size_t name_size,
                      const uint8_t* value, size_t value_size, uint8_t,
                      void* user_data) {
    if (frame->hd.type == NGHTTP2_HEADERS) {
      Self(user_data)->OnHeader(
          frame->hd.stream_id,
          absl::string_view(reinterpret_cast<const char*>(name), name_size),
          absl::string_view(reinterpret_cast<const char*>(value), value_size));
    }
    return 0;
  }

  static int OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame,
                         void* user_data) {
    if (frame->hd.type == NGHTTP2_HEADERS) {
      Self(user_data)->OnHeadersFrame(frame->hd.stream_id);
    } else if (frame->hd.type == NGHTTP2_GOAWAY) {
      ++Self(user_data)->context_->goaways;
    }
    return 0;
  }

  static int OnDataChunk(nghttp2_session*, uint8_t, int32_t stream_id,
                         const uint8_t* data, size_t size, void* user_data) {
    Self(user_data)->OnData(stream_id, data, size);
    return 0;
  }

  static int OnStreamClose(nghttp2_session*, int32_t stream_id,
                           uint32_t error_code, void* user_data) {
    Self(user_data)->OnStreamClose(stream_id, error_code);
    return 0;
  }

  // A request that could not be sent (e.g. after the server's GOAWAY).
  static int OnFrameNotSend(nghttp2_session*, const nghttp2_frame* frame, int,
                            void* user_data) {
    if (frame->hd.type == NGHTTP2_HEADERS) {
      Http2Connection* self = Self(user_data);
      Http2Stream* stream = self->StreamOf(frame->hd.stream_id);
      if (stream != nullptr) {
        self->CloseStream(stream, SseConnection::Failure::kReset,
                          /*reset=*/false);
      }
    }
    return 0;
  }
};

Http2Stream::Http2Stream(Http2Connection* connection, int64_t start_ns)
    : connection_(connection),
      start_ns_(start_ns),
      events_(connection->context_->format),
      subscriptions_(connection->context_->subscriptions != nullptr
                         ? connection->context_->subscriptions
                         : &kNoSubscriptions) {}

bool Http2Stream::OnStreamEvent(const StreamEvent& event) {
  if (event.is_end) {
    saw_end_event_ = true;
    return true;
  }
  const bool first = first_event_ns_ == 0;
  RecordStreamEvent(event, connection_->context_, &subscriptions_,
                    &first_event_ns_);
  if (first) connection_->observer_->OnHttp2FirstEvent(*this);
  return true;
}

Http2Connection::Http2Connection(ConnectionContext* context,
                                 const std::vector<Http2Header>* headers,
                                 Http2StreamObserver* observer)
    : context_(context), headers_(headers), observer_(observer) {}

Http2Connection::~Http2Connection() {
  if (fd_ >= 0) ::close(fd_);
  // Deleting the session calls no callbacks.
  if (session_ != nullptr) nghttp2_session_del(session_);
}

bool Http2Connection::CreateSession() {
  nghttp2_session_callbacks* callbacks = nullptr;
  if (nghttp2_session_callbacks_new(&callbacks) != 0) return false;
  nghttp2_session_callbacks_set_on_header_callback(callbacks,
                                                   &Http2Callbacks::OnHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(
      callbacks, &Http2Callbacks::OnFrameRecv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
      callbacks, &Http2Callbacks::OnDataChunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(
      callbacks, &Http2Callbacks::OnStreamClose);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(
      callbacks, &Http2Callbacks::OnFrameNotSend);
  const int created =
      nghttp2_session_client_new(&session_, callbacks, /*user_data=*/this);
  nghttp2_session_callbacks_del(callbacks);
  if (created != 0) {
    session_ = nullptr;
    return false;
  }
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE,
       static_cast<uint32_t>(kStreamWindowBytes)},
  };
  return nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings,
                                 sizeof(settings) / sizeof(settings[0])) == 0 &&
         nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                               kConnectionWindowBytes) == 0;
}

Http2Connection::StartResult Http2Connection::Start(int epoll_fd,
                                                    const sockaddr_in& address,
                                                    const in_addr* source,
                                                    int64_t start_ns) {
  start_ns_ = start_ns;
  epoll_fd_ = epoll_fd;
  if (session_ == nullptr && !CreateSession()) {
    Close(Failure::kConnectError);
    return StartResult::kFailed;
  }
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
  // Small frames (an event, a WINDOW_UPDATE) go out at once.
  const int on = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
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
  epoll_event event{};
  event.events = EPOLLOUT;
  event.data.ptr = this;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd_, &event) != 0) {
    Close(Failure::kConnectError);
    return StartResult::kFailed;
  }
  interest_ = EPOLLOUT;
  phase_ = Phase::kConnecting;
  return StartResult::kStarted;
}

void Http2Connection::AddStream(int64_t start_ns) {
  streams_.push_back(
      std::unique_ptr<Http2Stream>(new Http2Stream(this, start_ns)));
  Http2Stream* stream = streams_.back().get();
  ++open_streams_;
  if (phase_ == Phase::kClosed) {
    CloseStream(stream, EndFailure(false, failure_), /*reset=*/false);
    return;
  }
  std::vector<nghttp2_nv> fields;
  fields.reserve(headers_->size());
  for (const Http2Header& header : *headers_) {
    fields.push_back(nghttp2_nv{
        reinterpret_cast<uint8_t*>(const_cast<char*>(header.name.data())),
        reinterpret_cast<uint8_t*>(const_cast<char*>(header.value.data())),
        header.name.size(), header.value.size(),
        NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE});
  }
  const int32_t id =
      nghttp2_submit_request(session_, /*pri_spec=*/nullptr, fields.data(),
                             fields.size(), /*data_prd=*/nullptr, stream);
  if (id < 0) {  // No stream ids left, or nghttp2 out of memory.
    CloseStream(stream, Failure::kConnectError, /*reset=*/false);
    return;
  }
  stream->id_ = id;
  if (phase_ == Phase::kOpen) Flush();
}

void Http2Connection::HandleIo(uint32_t epoll_events) {
  switch (phase_) {
    case Phase::kConnecting:
      OnConnectReady();
      return;
    case Phase::kOpen:
      if (epoll_events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) {
        ReadOnce();
      }
      if (phase_ == Phase::kOpen && (epoll_events & EPOLLOUT)) Flush();
      return;
    case Phase::kIdle:
    case Phase::kClosed:
      return;
  }
}

void Http2Connection::OnConnectReady() {
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
  tcp_info info{};
  socklen_t info_length = sizeof(info);
  if (::getsockopt(fd_, IPPROTO_TCP, TCP_INFO, &info, &info_length) == 0) {
    context_->syn_retransmits += info.tcpi_total_retrans;
  }
  observer_->OnHttp2Connected(*this);
  phase_ = Phase::kOpen;
  Flush();  // The preface, SETTINGS and the requests queued so far.
}

void Http2Connection::Flush() {
  while (phase_ == Phase::kOpen) {
    while (output_.size() - output_sent_ < kOutputBatchBytes) {
      const uint8_t* data = nullptr;
      const ssize_t produced = nghttp2_session_mem_send(session_, &data);
      if (produced < 0) {
        Close(Failure::kBadResponse);
        return;
      }
      if (produced == 0) break;
      output_.append(reinterpret_cast<const char*>(data),
                     static_cast<size_t>(produced));
    }
    if (output_sent_ == output_.size()) break;
    const ssize_t sent = ::send(fd_, output_.data() + output_sent_,
                                output_.size() - output_sent_, MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        SetInterest(kReadInterest | EPOLLOUT);
        return;
      }
      Close(errno == ECONNRESET || errno == EPIPE ? Failure::kReset
                                                  : Failure::kReadError);
      return;
    }
    output_sent_ += static_cast<size_t>(sent);
    if (output_sent_ == output_.size()) {
      output_.clear();  // Keeps its capacity.
      output_sent_ = 0;
    }
  }
  if (phase_ != Phase::kOpen) return;
  SetInterest(kReadInterest);
  // After a GOAWAY, once every stream has ended, nothing is left to do.
  if (!nghttp2_session_want_read(session_) &&
      !nghttp2_session_want_write(session_)) {
    Close(Failure::kClosedEarly);
  }
}

void Http2Connection::ReadOnce() {
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
  if (received == 0) {  // The peer closed: every stream on it ended.
    Close(Failure::kClosedEarly);
    return;
  }
  context_->recv_realtime_ns = RealtimeNanos();
  const ssize_t used = nghttp2_session_mem_recv(
      session_, reinterpret_cast<const uint8_t*>(context_->read_buffer),
      static_cast<size_t>(received));
  if (used < 0) {  // A protocol error (nghttp2 has queued a GOAWAY).
    Close(Failure::kBadResponse);
    return;
  }
  Flush();  // WINDOW_UPDATEs, SETTINGS and PING acks, resets.
}

void Http2Connection::SetInterest(uint32_t events) {
  if (events == interest_ || fd_ < 0) return;
  epoll_event event{};
  event.events = events;
  event.data.ptr = this;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd_, &event) != 0) {
    Close(Failure::kReadError);
    return;
  }
  interest_ = events;
}

void Http2Connection::Close(Failure failure) {
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kClosed;
  failure_ = failure;
  if (fd_ >= 0) ::close(fd_);  // Also removes it from epoll.
  fd_ = -1;
  for (const std::unique_ptr<Http2Stream>& stream : streams_) {
    if (!stream->closed_) {
      CloseStream(stream.get(), EndFailure(stream->saw_end_event_, failure),
                  /*reset=*/false);
    }
  }
}

void Http2Connection::CloseStream(Http2Stream* stream, Failure failure,
                                  bool reset) {
  if (stream->closed_) return;
  stream->closed_ = true;
  stream->failure_ = failure;
  --open_streams_;
  if (reset && stream->id_ > 0 && phase_ != Phase::kClosed) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream->id_,
                              NGHTTP2_CANCEL);
  }
  observer_->OnHttp2StreamClosed(*stream);
}

void Http2Connection::CloseStreamsWithoutFirstEvent(int64_t started_before_ns) {
  for (const std::unique_ptr<Http2Stream>& stream : streams_) {
    if (!stream->closed_ && !stream->got_first_event() &&
        stream->start_ns_ < started_before_ns) {
      CloseStream(stream.get(), Failure::kTimeout, /*reset=*/true);
    }
  }
  if (phase_ == Phase::kOpen) Flush();
}

int64_t Http2Connection::Abandon() {
  const int64_t open = open_streams_;
  for (const std::unique_ptr<Http2Stream>& stream : streams_) {
    stream->closed_ = true;
  }
  open_streams_ = 0;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  phase_ = Phase::kClosed;
  return open;
}

Http2Stream* Http2Connection::StreamOf(int32_t stream_id) const {
  auto* stream = static_cast<Http2Stream*>(
      nghttp2_session_get_stream_user_data(session_, stream_id));
  return stream != nullptr && !stream->closed_ ? stream : nullptr;
}

void Http2Connection::OnHeader(int32_t stream_id, absl::string_view name,
                               absl::string_view value) {
  Http2Stream* stream = StreamOf(stream_id);
  if (stream == nullptr || stream->headers_done_ || name != ":status") return;
  int status = 0;
  for (char c : value) {
    if (c < '0' || c > '9' || status > 999) return;
    status = status * 10 + (c - '0');
  }
  stream->pending_status_ = status;
}

void Http2Connection::OnHeadersFrame(int32_t stream_id) {
  Http2Stream* stream = StreamOf(stream_id);
  if (stream == nullptr || stream->headers_done_) return;  // Trailers.
  const int status = stream->pending_status_;
  stream->pending_status_ = 0;
  if (status >= 100 && status < 200) return;  // Interim: the final follows.
  stream->status_code_ = status;
  stream->headers_done_ = true;
  if (status != 200) CloseStream(stream, Failure::kBadStatus, /*reset=*/true);
}

void Http2Connection::OnData(int32_t stream_id, const uint8_t* data,
                             size_t size) {
  Http2Stream* stream = StreamOf(stream_id);
  if (stream == nullptr) return;
  context_->body_bytes += static_cast<int64_t>(size);
  const int64_t comments_before = stream->events_.comments();
  const bool ok = stream->events_.Feed(
      absl::string_view(reinterpret_cast<const char*>(data), size), stream);
  context_->comments += stream->events_.comments() - comments_before;
  if (!ok && stream->events_.error()) {
    CloseStream(stream, Failure::kBadResponse, /*reset=*/true);
  }
}

void Http2Connection::OnStreamClose(int32_t stream_id, uint32_t error_code) {
  Http2Stream* stream = StreamOf(stream_id);
  if (stream == nullptr) return;
  CloseStream(stream,
              error_code == NGHTTP2_NO_ERROR
                  ? EndFailure(stream->saw_end_event_, Failure::kClosedEarly)
                  : Failure::kReset,
              /*reset=*/false);
}

}  // namespace sse_gateway
