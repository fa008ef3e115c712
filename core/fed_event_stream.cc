#include "core/fed_event_stream.h"

#include <utility>

namespace sse_gateway {

void FedEventStream::Feed::Push(SseMessage message) {
  std::function<void()> notify;
  {
    absl::MutexLock lock(&mu_);
    queue_.push_back(std::move(message));
    notify = on_ready_;
  }
  if (notify) notify();
}

void FedEventStream::Feed::PushData(std::string data) {
  SseMessage message;
  message.data = std::move(data);
  Push(std::move(message));
}

void FedEventStream::Feed::End(absl::Status status) {
  std::function<void()> notify;
  {
    absl::MutexLock lock(&mu_);
    end_ = std::move(status);
    notify = on_ready_;
  }
  if (notify) notify();
}

bool FedEventStream::Feed::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

bool FedEventStream::Feed::watched() const {
  absl::MutexLock lock(&mu_);
  return static_cast<bool>(on_ready_);
}

EventStream::NextResult FedEventStream::Next(absl::Duration /*timeout*/,
                                             SseMessage* message) {
  absl::MutexLock lock(&feed_->mu_);
  if (feed_->cancelled_) {
    status_ = absl::CancelledError("cancelled");
    return NextResult::kEnd;
  }
  if (!feed_->queue_.empty()) {
    *message = std::move(feed_->queue_.front());
    feed_->queue_.pop_front();
    return NextResult::kMessage;
  }
  if (feed_->end_.has_value()) {
    status_ = *feed_->end_;
    return NextResult::kEnd;
  }
  return NextResult::kTimeout;
}

void FedEventStream::Cancel() {
  absl::MutexLock lock(&feed_->mu_);
  feed_->cancelled_ = true;
}

bool FedEventStream::SetReadyCallback(std::function<void()> on_ready) {
  absl::MutexLock lock(&feed_->mu_);
  feed_->on_ready_ = std::move(on_ready);
  return true;
}

}  // namespace sse_gateway
