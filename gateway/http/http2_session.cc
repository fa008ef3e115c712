#include "gateway/http/http2_session.h"

#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <sys/epoll.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/check.h"
#include "core/json_string.h"
#include "gateway/http/connection.h"
#include "gateway/http/http2_translation.h"

namespace sse_gateway {
namespace {

// Bytes read per receive step, and at most per OnEvents() before the other
// connections get a turn.
constexpr size_t kReadBytes = 16 * 1024;
constexpr size_t kMaxReadPerTurn = 256 * 1024;
// Produce/frame/write rounds per Pump() before the other connections get a
// turn.
constexpr int kMaxRoundsPerTurn = 8;
// The connection's output buffer larger than this is released once written,
// so that an idle connection does not keep a burst's memory.
constexpr size_t kKeptOutputBytes = 4096;

nghttp2_nv Field(absl::string_view name, absl::string_view value) {
  nghttp2_nv nv;
  nv.name = reinterpret_cast<uint8_t*>(const_cast<char*>(name.data()));
  nv.namelen = name.size();
  nv.value = reinterpret_cast<uint8_t*>(const_cast<char*>(value.data()));
  nv.valuelen = value.size();
  nv.flags = NGHTTP2_NV_FLAG_NONE;
  return nv;
}

}  // namespace

struct Http2Session::Stream {
  explicit Stream(int32_t stream_id) : id(stream_id) {}

  const int32_t id;
  // The request, while its header fields arrive (freed once dispatched:
  // thousands of streams stay open for long).
  std::unique_ptr<Http2RequestHead> request =
      std::make_unique<Http2RequestHead>();
  size_t header_bytes = 0;  // as SETTINGS_MAX_HEADER_LIST_SIZE counts them
  bool too_large = false;
  bool dispatched = false;
  bool responded = false;  // HEADERS submitted
  // The response: undecided, then streaming.
  std::unique_ptr<DeferredResponse> deferred;
  std::unique_ptr<StreamingBody> body;
  bool notifies = false;
  std::shared_ptr<std::atomic<bool>> ready =
      std::make_shared<std::atomic<bool>>(false);
  // Bytes produced, not yet taken by nghttp2 (framed as DATA).
  std::string pending;
  size_t pending_offset = 0;
  bool last_produced = false;  // nothing comes after `pending`
  bool data_deferred = false;  // nghttp2 waits for resume_data
  bool data_done = false;      // END_STREAM handed to nghttp2
  // Since when `pending` has waited without progress.
  absl::Time blocked_since = absl::InfiniteFuture();

  bool has_pending() const { return pending_offset < pending.size(); }
};

// The C callbacks nghttp2 calls, forwarding to the session.
class Http2Session::Callbacks {
 public:
  static Http2Session* Self(void* user_data) {
    return static_cast<Http2Session*>(user_data);
  }
  static int OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame,
                            void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS ||
        frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
      return 0;
    }
    return Self(user_data)->OnBeginHeaders(frame->hd.stream_id);
  }
  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame,
                      const uint8_t* name, size_t name_length,
                      const uint8_t* value, size_t value_length, uint8_t,
                      void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS ||
        frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
      return 0;  // Trailers: ignored.
    }
    return Self(user_data)->OnHeader(
        frame->hd.stream_id,
        absl::string_view(reinterpret_cast<const char*>(name), name_length),
        absl::string_view(reinterpret_cast<const char*>(value), value_length));
  }
  static int OnFrameReceived(nghttp2_session*, const nghttp2_frame* frame,
                             void* user_data) {
    const uint8_t category = frame->hd.type == NGHTTP2_HEADERS
                                 ? static_cast<uint8_t>(frame->headers.cat)
                                 : uint8_t{0};
    return Self(user_data)->OnFrameReceived(frame->hd.stream_id, frame->hd.type,
                                            frame->hd.flags, category);
  }
  static int OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t,
                           void* user_data) {
    return Self(user_data)->OnStreamClose(stream_id);
  }
  static ssize_t ReadData(nghttp2_session*, int32_t stream_id, uint8_t* buffer,
                          size_t length, uint32_t* data_flags,
                          nghttp2_data_source*, void* user_data) {
    return Self(user_data)->ReadData(stream_id, buffer, length, data_flags);
  }
};

std::unique_ptr<Http2Session> Http2Session::Create(ConnectionHost* host,
                                                   Transport* transport,
                                                   const PeerAddress& peer,
                                                   absl::string_view received,
                                                   absl::Time now) {
  std::unique_ptr<Http2Session> session(
      new Http2Session(host, transport, peer, now));
  const Http2Options& options = session->options_;

  nghttp2_session_callbacks* callbacks = nullptr;
  if (nghttp2_session_callbacks_new(&callbacks) != 0) return nullptr;
  nghttp2_session_callbacks_set_on_begin_headers_callback(
      callbacks, &Callbacks::OnBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(callbacks,
                                                   &Callbacks::OnHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(
      callbacks, &Callbacks::OnFrameReceived);
  nghttp2_session_callbacks_set_on_stream_close_callback(
      callbacks, &Callbacks::OnStreamClose);
  nghttp2_option* option = nullptr;
  if (nghttp2_option_new(&option) != 0) {
    nghttp2_session_callbacks_del(callbacks);
    return nullptr;
  }
  nghttp2_option_set_max_outbound_ack(option,
                                      options.max_outbound_control_frames);
  nghttp2_option_set_stream_reset_rate_limit(option, options.reset_burst,
                                             options.resets_per_second);
  nghttp2_option_set_max_continuations(option, options.max_continuations);
  const int created = nghttp2_session_server_new2(&session->session_, callbacks,
                                                  session.get(), option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(callbacks);
  if (created != 0) return nullptr;

  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, options.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, options.initial_window_size},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, options.max_header_list_bytes},
  };
  if (nghttp2_submit_settings(session->session_, NGHTTP2_FLAG_NONE, settings,
                              sizeof(settings) / sizeof(settings[0])) != 0 ||
      nghttp2_session_set_local_window_size(
          session->session_, NGHTTP2_FLAG_NONE, 0,
          static_cast<int32_t>(options.connection_window_size)) != 0) {
    return nullptr;
  }
  session->now_ = now;
  if (!received.empty() && session->Receive(received)) {
    session->DispatchCompleted(now);
  }
  session->Pump(now);
  return session;
}

Http2Session::Http2Session(ConnectionHost* host, Transport* transport,
                           PeerAddress peer, absl::Time now)
    : host_(host),
      transport_(transport),
      peer_(std::move(peer)),
      options_(host->limits().http2),
      idle_since_(now),
      now_(now) {}

Http2Session::~Http2Session() {
  Abandon(AbandonReason::kClientGone);
  if (session_ != nullptr) nghttp2_session_del(session_);
}

void Http2Session::OnEvents(bool readable, bool writable, absl::Time now) {
  if (over_) return;
  now_ = now;
  if (readable || (writable && write_wants_read_)) {
    if (!ReadSocket()) return;
    DispatchCompleted(now);
  }
  Pump(now);
}

void Http2Session::OnReady(absl::Time now) {
  if (over_) return;
  now_ = now;
  Pump(now);
}

void Http2Session::OnScan(absl::Time now) {
  if (over_) return;
  now_ = now;
  const ConnectionLimits& limits = host_->limits();
  if (output_offset_ < output_.size() &&
      now - blocked_since_ >= limits.write_timeout) {
    End(AbandonReason::kSlowClient);  // The socket took nothing.
    return;
  }
  for (auto& [id, stream_pointer] : streams_) {
    Stream& stream = *stream_pointer;
    if (stream.deferred != nullptr) {
      if (now >= stream.deferred->Deadline()) stream.ready->store(true);
      continue;
    }
    if (stream.has_pending()) {
      // Waiting for the client's window: a slow client after write_timeout.
      if (stream.blocked_since == absl::InfiniteFuture()) {
        stream.blocked_since = now;
      } else if (now - stream.blocked_since >= limits.write_timeout) {
        nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream.id,
                                  NGHTTP2_CANCEL);
        ReleaseResponse(stream, AbandonReason::kSlowClient);
      }
      continue;
    }
    if (stream.body != nullptr &&
        (!stream.notifies || now >= stream.body->NextDeadline())) {
      stream.ready->store(true);
    }
  }
  if (host_->draining() && !goaway_sent_) {
    // No new streams; the open ones end with their retry hint.
    goaway_sent_ = true;
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(session_),
                          NGHTTP2_NO_ERROR, nullptr, 0);
  }
  if (streams_.empty() && !goaway_sent_ &&
      now - idle_since_ >= limits.idle_timeout) {
    goaway_sent_ = true;
    nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
  }
  Pump(now);
  if (!over_ && goaway_sent_ && streams_.empty() &&
      output_offset_ == output_.size()) {
    End(AbandonReason::kClientGone);  // GOAWAY is out; nothing is left.
  }
}

void Http2Session::Abandon(AbandonReason reason) {
  for (auto& [id, stream] : streams_) ReleaseResponse(*stream, reason);
  streams_.clear();
  completed_.clear();
}

void Http2Session::End(AbandonReason reason) {
  if (over_) return;
  over_ = true;
  over_reason_ = reason;
  Abandon(reason);
}

bool Http2Session::Receive(absl::string_view bytes) {
  while (bytes.size() > kReadBytes) {
    if (!Receive(bytes.substr(0, kReadBytes))) return false;
    bytes.remove_prefix(kReadBytes);
  }
  const ssize_t consumed = nghttp2_session_mem_recv(
      session_, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  if (consumed < 0) {
    // A protocol error, a flood, a bad preface: say so with GOAWAY (where
    // nghttp2 has not queued one itself), send what can be sent, and close.
    nghttp2_session_terminate_session(
        session_, consumed == NGHTTP2_ERR_FLOODED ||
                          consumed == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS
                      ? NGHTTP2_ENHANCE_YOUR_CALM
                      : NGHTTP2_PROTOCOL_ERROR);
    Fill();
    Flush(now_);
    End(AbandonReason::kClientGone);
    return false;
  }
  // Acknowledgements (PING, SETTINGS) go out as they are due, a read at a
  // time: only a client that does not read them makes them pile up in
  // nghttp2 (max_outbound_control_frames: a flood).
  if (Flush(now_)) Fill();
  return !over_;
}

bool Http2Session::ReadSocket() {
  char buffer[kReadBytes];
  size_t total = 0;
  while (total < kMaxReadPerTurn) {
    const IoStep step = transport_->Receive(buffer, sizeof(buffer));
    switch (step.status) {
      case IoStatus::kDone:
        total += step.bytes;
        if (!Receive(absl::string_view(buffer, step.bytes))) return false;
        continue;
      case IoStatus::kWouldBlock:
        return true;
      case IoStatus::kClosed:
      case IoStatus::kFailed:
        // A client does not half-close an HTTP/2 connection: it is gone.
        End(AbandonReason::kClientGone);
        return false;
    }
  }
  // More may be waiting (OpenSSL may hold bytes epoll cannot see): come
  // back after the other connections had a turn.
  transport_->ReadyCallback()();
  return true;
}

int Http2Session::OnBeginHeaders(int32_t stream_id) {
  if (goaway_sent_ || over_) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  streams_[stream_id] = std::make_unique<Stream>(stream_id);
  return 0;
}

int Http2Session::OnHeader(int32_t stream_id, absl::string_view name,
                           absl::string_view value) {
  auto found = streams_.find(stream_id);
  if (found == streams_.end()) return 0;
  Stream& stream = *found->second;
  if (stream.too_large) return 0;
  stream.header_bytes += name.size() + value.size() + 32;
  if (stream.header_bytes > options_.max_header_list_bytes) {
    stream.too_large = true;  // Answered 431 once the headers are over.
    stream.request.reset();
    return 0;
  }
  if (stream.request != nullptr) stream.request->Add(name, value);
  return 0;
}

int Http2Session::OnFrameReceived(int32_t stream_id, uint8_t type,
                                  uint8_t flags, uint8_t category) {
  if (type == NGHTTP2_HEADERS && category == NGHTTP2_HCAT_REQUEST &&
      (flags & NGHTTP2_FLAG_END_HEADERS) != 0 &&
      streams_.count(stream_id) != 0) {
    completed_.push_back(stream_id);
  }
  return 0;
}

int Http2Session::OnStreamClose(int32_t stream_id) {
  auto found = streams_.find(stream_id);
  if (found == streams_.end()) return 0;
  // The client reset it, or it is over: its call (if any) is cancelled.
  ReleaseResponse(*found->second, AbandonReason::kClientGone);
  streams_.erase(found);
  if (streams_.empty()) idle_since_ = now_;
  return 0;
}

void Http2Session::DispatchCompleted(absl::Time now) {
  // Only now, after the whole read: a stream reset in the same read as its
  // HEADERS (rapid reset) is already gone and opens no upstream call.
  std::vector<int32_t> completed;
  completed.swap(completed_);
  for (int32_t id : completed) {
    if (over_) return;
    auto found = streams_.find(id);
    if (found == streams_.end() || found->second->dispatched) continue;
    Dispatch(*found->second, now);
  }
}

void Http2Session::Dispatch(Stream& stream, absl::Time now) {
  stream.dispatched = true;
  if (stream.too_large) {
    RespondError(stream, 431,
                 StatusJson(absl::ResourceExhaustedError(
                     absl::StrCat("the request's header list is larger than ",
                                  options_.max_header_list_bytes, " bytes"))));
    return;
  }
  if (stream.request == nullptr) return;  // Cannot happen: dispatched once.
  absl::StatusOr<std::string> head = stream.request->Build();
  stream.request.reset();
  if (!head.ok()) {
    RespondError(stream, 400, StatusJson(head.status()));
    return;
  }
  HttpServer::Result result = host_->server().Serve(
      *head, peer_, /*last=*/false, HttpServer::kHttp2Protocol);
  if (result.deferred != nullptr) {
    stream.deferred = std::move(result.deferred);
    host_->Adopted();
    WatchReady(stream, /*deferred=*/true);
    Decide(stream, now);
    return;
  }
  Respond(stream, result.bytes, nullptr, now);
}

void Http2Session::RespondError(Stream& stream, int status,
                                absl::string_view json) {
  Respond(stream,
          absl::StrCat("HTTP/1.1 ", status,
                       " Error\r\nContent-Type: application/json\r\n"
                       "Content-Length: ",
                       json.size(), "\r\n\r\n", json),
          nullptr, now_);
}

void Http2Session::Respond(Stream& stream, absl::string_view response_bytes,
                           std::unique_ptr<StreamingBody> body,
                           absl::Time now) {
  absl::StatusOr<Http1Response> parsed = ParseHttp1Response(response_bytes);
  if (!parsed.ok()) {
    // HttpServer wrote something that is not a response: a bug, not the
    // client's doing; the stream ends, the connection goes on.
    if (body != nullptr) {
      body->Abandon(AbandonReason::kShutdown);
      host_->Reap(std::move(body));
    }
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream.id,
                              NGHTTP2_INTERNAL_ERROR);
    return;
  }
  const std::string status = absl::StrCat(parsed->status);
  std::vector<nghttp2_nv> fields;
  fields.reserve(parsed->headers.size() + 1);
  fields.push_back(Field(":status", status));
  for (const auto& [name, value] : parsed->headers) {
    fields.push_back(Field(name, value));
  }
  const absl::string_view body_bytes =
      response_bytes.substr(parsed->body_offset);
  stream.pending.assign(body_bytes.data(), body_bytes.size());
  stream.pending_offset = 0;
  stream.last_produced = body == nullptr;
  if (body != nullptr) {
    stream.body = std::move(body);
    host_->Adopted();
    WatchReady(stream, /*deferred=*/false);
    // What the body has now goes out with the head.
    if (!stream.has_pending()) Produce(stream, now);
  }
  stream.responded = true;
  nghttp2_data_provider provider;
  provider.source.ptr = nullptr;
  provider.read_callback = &Callbacks::ReadData;
  const bool has_data = stream.has_pending() || !stream.last_produced;
  if (nghttp2_submit_response(session_, stream.id, fields.data(), fields.size(),
                              has_data ? &provider : nullptr) != 0) {
    ReleaseResponse(stream, AbandonReason::kClientGone);
    return;
  }
  if (!has_data) stream.data_done = true;
}

void Http2Session::Decide(Stream& stream, absl::Time now) {
  std::optional<DeferredResponse::Decision> decision =
      stream.deferred->Decide(now);
  if (!decision.has_value()) return;
  stream.deferred->SetReadyCallback(nullptr);
  host_->Reap(std::move(stream.deferred));
  stream.notifies = false;
  Respond(stream, decision->bytes, std::move(decision->body), now);
}

void Http2Session::WatchReady(Stream& stream, bool deferred) {
  std::function<void()> wake = transport_->ReadyCallback();
  auto on_ready = [ready = stream.ready, wake = std::move(wake)] {
    ready->store(true);
    wake();
  };
  stream.notifies = deferred ? stream.deferred->SetReadyCallback(on_ready)
                             : stream.body->SetReadyCallback(on_ready);
}

void Http2Session::Produce(Stream& stream, absl::Time now) {
  SSE_GATEWAY_DCHECK(!stream.has_pending());
  stream.pending.clear();
  stream.pending_offset = 0;
  stream.body->Produce(now, &stream.pending);
  if (stream.body->ended()) stream.last_produced = true;
  if ((stream.has_pending() || stream.last_produced) && stream.data_deferred) {
    stream.data_deferred = false;
    nghttp2_session_resume_data(session_, stream.id);
  }
}

bool Http2Session::ProduceReady(absl::Time now) {
  bool produced = false;
  for (auto& [id, stream_pointer] : streams_) {
    Stream& stream = *stream_pointer;
    if (stream.deferred != nullptr) {
      if (stream.ready->exchange(false) || !stream.notifies ||
          now >= stream.deferred->Deadline()) {
        Decide(stream, now);
      }
      continue;
    }
    if (stream.body == nullptr || stream.last_produced ||
        stream.has_pending()) {
      continue;  // Nothing to pull, or the client's window is the limit.
    }
    if (stream.ready->exchange(false) || !stream.notifies ||
        now >= stream.body->NextDeadline()) {
      Produce(stream, now);
      produced = produced || stream.has_pending() || stream.last_produced;
    }
  }
  return produced;
}

ptrdiff_t Http2Session::ReadData(int32_t stream_id, uint8_t* buffer,
                                 size_t length, uint32_t* data_flags) {
  auto found = streams_.find(stream_id);
  if (found == streams_.end()) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  Stream& stream = *found->second;
  const size_t available = stream.pending.size() - stream.pending_offset;
  const size_t taken = std::min(length, available);
  if (taken > 0) {
    std::memcpy(buffer, stream.pending.data() + stream.pending_offset, taken);
    stream.pending_offset += taken;
    stream.blocked_since = absl::InfiniteFuture();  // Progress.
  }
  if (stream.has_pending()) return static_cast<ptrdiff_t>(taken);
  // All taken: an idle stream keeps no buffer (thousands of streams wait
  // between events; the next Produce() allocates what it needs).
  std::string().swap(stream.pending);
  stream.pending_offset = 0;
  if (stream.body != nullptr && taken > 0) stream.body->Wrote(now_);
  if (stream.last_produced) {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    stream.data_done = true;
    return static_cast<ptrdiff_t>(taken);
  }
  if (taken > 0) return static_cast<ptrdiff_t>(taken);
  stream.data_deferred = true;  // Until the body produces more.
  stream.ready->store(true);
  return NGHTTP2_ERR_DEFERRED;
}

void Http2Session::ReleaseResponse(Stream& stream, AbandonReason reason) {
  if (stream.deferred != nullptr) {
    stream.deferred->SetReadyCallback(nullptr);
    stream.deferred->Abandon(reason);
    host_->Reap(std::move(stream.deferred));
  }
  if (stream.body != nullptr) {
    stream.body->SetReadyCallback(nullptr);
    if (!stream.body->ended()) stream.body->Abandon(reason);
    host_->Reap(std::move(stream.body));
  }
  std::string().swap(stream.pending);
  stream.pending_offset = 0;
  stream.last_produced = true;
}

void Http2Session::Pump(absl::Time now) {
  for (int round = 0; round < kMaxRoundsPerTurn; ++round) {
    if (over_) return;
    if (!Flush(now)) return;  // The socket is full (or gone).
    const bool produced = ProduceReady(now);
    // Bodies whose last bytes nghttp2 has taken are over.
    for (auto& [id, stream] : streams_) {
      if (stream->data_done && stream->body != nullptr) {
        ReleaseResponse(*stream, AbandonReason::kClientGone);
      }
    }
    if (!Fill() && !produced) {
      if (!over_ && nghttp2_session_want_read(session_) == 0 &&
          nghttp2_session_want_write(session_) == 0) {
        End(AbandonReason::kClientGone);  // GOAWAY exchanged, or fatal.
        return;
      }
      UpdateInterest();
      return;
    }
  }
  Flush(now);
  transport_->ReadyCallback()();  // More may be ready: after the others.
}

bool Http2Session::Fill() {
  bool added = false;
  if (output_offset_ == output_.size()) {
    output_.clear();
    output_offset_ = 0;
  }
  while (output_.size() - output_offset_ < kOutputBatchBytes) {
    const uint8_t* data = nullptr;
    const ssize_t size = nghttp2_session_mem_send(session_, &data);
    if (size < 0) {
      End(AbandonReason::kClientGone);
      return false;
    }
    if (size == 0) break;
    output_.append(reinterpret_cast<const char*>(data),
                   static_cast<size_t>(size));
    added = true;
  }
  return added;
}

bool Http2Session::Flush(absl::Time now) {
  bool progress = false;
  while (output_offset_ < output_.size()) {
    const IoStep step = transport_->Send(output_.data() + output_offset_,
                                         output_.size() - output_offset_);
    if (step.status == IoStatus::kDone) {
      output_offset_ += step.bytes;
      progress = true;
      continue;
    }
    if (step.status != IoStatus::kWouldBlock) {
      End(AbandonReason::kClientGone);
      return false;
    }
    if (progress || blocked_since_ == absl::InfiniteFuture()) {
      blocked_since_ = now;  // Progress restarts the clock.
    }
    write_wants_read_ = step.wait_events == POLLIN;
    UpdateInterest();
    return false;
  }
  if (output_.capacity() > kKeptOutputBytes) {
    std::string().swap(output_);
  } else {
    output_.clear();
  }
  output_offset_ = 0;
  blocked_since_ = absl::InfiniteFuture();
  UpdateInterest();
  return true;
}

void Http2Session::UpdateInterest() {
  uint32_t events = EPOLLIN | EPOLLRDHUP;
  if (output_offset_ < output_.size() && !write_wants_read_) {
    events |= EPOLLOUT;
  }
  if (events != interest_) {
    interest_ = events;
    transport_->SetInterest(events);
  }
}

}  // namespace sse_gateway
