#include "tests/test_backend.h"

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/alarm.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/support/server_callback.h"
#include "proto/testing/v1/testing.grpc.pb.h"

namespace sse_gateway {

using testing::v1::StreamRequest;
using testing::v1::StreamResponse;

struct TestBackend::State {
  mutable absl::Mutex mu;
  std::vector<ObservedCall> calls ABSL_GUARDED_BY(mu);
  size_t cancelled ABSL_GUARDED_BY(mu) = 0;
  size_t finished ABSL_GUARDED_BY(mu) = 0;
  size_t send_times_per_call = 0;  // Options::send_times_per_call
};

namespace {

constexpr char kLastEventIdKey[] = "last-event-id";

std::multimap<std::string, std::string> CopyMetadata(
    const grpc::CallbackServerContext& context) {
  std::multimap<std::string, std::string> metadata;
  for (const auto& [key, value] : context.client_metadata()) {
    metadata.emplace(std::string(key.data(), key.size()),
                     std::string(value.data(), value.size()));
  }
  return metadata;
}

StreamResponse MakeResponse(
    const StreamRequest& request,
    const std::multimap<std::string, std::string>& metadata, uint64_t seq) {
  StreamResponse response;
  response.set_seq(seq);
  response.set_key(request.key_prefix() + std::to_string(seq));
  auto it = metadata.find(kLastEventIdKey);
  if (it != metadata.end()) {
    response.set_last_event_id_metadata(it->second);
    response.set_has_last_event_id_metadata(true);
  }
  *response.mutable_request() = request;
  response.set_color(request.echo().color());
  response.set_big(request.echo().a_int64());
  return response;
}

// One Stream call. Deletes itself in OnDone. Every gRPC operation is issued
// outside `mu_`; Finish is only called while no write or alarm is pending, so
// no callback can arrive after OnDone.
class StreamReactor final : public grpc::ServerWriteReactor<StreamResponse> {
 public:
  StreamReactor(TestBackend::State* state, grpc::CallbackServerContext* context,
                const StreamRequest& request)
      : state_(state), request_(request), metadata_(CopyMetadata(*context)) {
    // Sent with the first write (or the final status).
    for (const auto& [key, value] : request.initial_metadata()) {
      context->AddInitialMetadata(key, value);
    }
    for (const std::string& entry : request.initial_metadata_entries()) {
      size_t equals = entry.find('=');
      if (equals == std::string::npos) continue;
      context->AddInitialMetadata(entry.substr(0, equals),
                                  entry.substr(equals + 1));
    }
    absl::MutexLock lock(&state_->mu);
    index_ = state_->calls.size();
    TestBackend::ObservedCall call;
    call.request = request_;
    call.metadata = metadata_;
    state_->calls.push_back(std::move(call));
  }

  void Begin() { Advance(); }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) failed_ = true;
    }
    if (ok) {
      absl::MutexLock lock(&state_->mu);
      ++state_->calls[index_].messages_written;
    }
    Advance();
  }

  void OnCancel() override {
    grpc::Alarm* alarm_to_cancel = nullptr;
    {
      absl::MutexLock lock(&state_->mu);
      state_->calls[index_].cancelled = true;
      ++state_->cancelled;
    }
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      if (alarm_pending_) alarm_to_cancel = alarm_.get();
    }
    // gRPC does not run OnDone before OnCancel returns, and the alarm's
    // callback cannot finish the call before it has run, so both the reactor
    // and the alarm are alive here.
    if (alarm_to_cancel != nullptr) alarm_to_cancel->Cancel();
    Advance();
  }

  void OnDone() override {
    {
      absl::MutexLock lock(&state_->mu);
      state_->calls[index_].finished = true;
      ++state_->finished;
    }
    // gRPC runs OnDone after every other reaction returned, ordered by its
    // own atomics (invisible to ThreadSanitizer); taking `mu_` once makes
    // the last reaction's unlock visibly happen before `mu_` is destroyed.
    { absl::MutexLock lock(&mu_); }
    delete this;
  }

 private:
  enum class Action { kNone, kWrite, kWait, kFinish };

  // Takes the next step unless an operation is pending.
  void Advance() {
    Action action = Action::kNone;
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      if (finished_ || writing_ || alarm_pending_) return;
      if (cancelled_ || failed_) {
        status = grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
        action = Action::kFinish;
      } else if (sent_ < request_.count()) {
        if (sent_ > 0 && request_.interval_ms() > 0 && !interval_elapsed_) {
          alarm_ = std::make_unique<grpc::Alarm>();
          alarm_pending_ = true;
          action = Action::kWait;
        } else {
          ++sent_;
          interval_elapsed_ = false;
          response_ =
              MakeResponse(request_, metadata_, request_.after_seq() + sent_);
          writing_ = true;
          action = Action::kWrite;
        }
      } else if (!request_.hold_open()) {
        status =
            grpc::Status(static_cast<grpc::StatusCode>(request_.fail_code()),
                         request_.fail_message());
        action = Action::kFinish;
      }
      if (action == Action::kFinish) finished_ = true;
    }
    switch (action) {
      case Action::kNone:
        break;
      case Action::kWrite:
        if (state_->send_times_per_call > 0) {
          absl::MutexLock lock(&state_->mu);
          std::vector<absl::Time>& times = state_->calls[index_].send_times;
          if (times.size() < state_->send_times_per_call) {
            times.push_back(absl::Now());
          }
        }
        StartWrite(&response_);
        break;
      case Action::kWait:
        alarm_->Set(
            absl::ToChronoTime(absl::Now() +
                               absl::Milliseconds(request_.interval_ms())),
            [this](bool /*fired*/) {
              {
                absl::MutexLock lock(&mu_);
                alarm_pending_ = false;
                interval_elapsed_ = true;
              }
              Advance();
            });
        break;
      case Action::kFinish:
        Finish(status);
        break;
    }
  }

  TestBackend::State* const state_;
  const StreamRequest request_;
  const std::multimap<std::string, std::string> metadata_;
  size_t index_ = 0;

  absl::Mutex mu_;
  int sent_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool alarm_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool interval_elapsed_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool failed_ ABSL_GUARDED_BY(mu_) = false;    // A write failed.
  bool finished_ ABSL_GUARDED_BY(mu_) = false;  // Finish was called.
  std::unique_ptr<grpc::Alarm> alarm_;  // Replaced only while none pending.
  StreamResponse response_;  // Being written; stable until OnWriteDone.
};

}  // namespace

class TestBackend::Service final
    : public testing::v1::TestService::CallbackService {
 public:
  explicit Service(State* state) : state_(state) {}

  grpc::ServerWriteReactor<StreamResponse>* Stream(
      grpc::CallbackServerContext* context,
      const StreamRequest* request) override {
    auto* reactor = new StreamReactor(state_, context, *request);
    reactor->Begin();
    return reactor;
  }

  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* context,
                                  const StreamRequest* request,
                                  StreamResponse* response) override {
    *response = MakeResponse(*request, CopyMetadata(*context),
                             request->after_seq() + 1);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  State* const state_;
};

TestBackend::TestBackend() : state_(std::make_unique<State>()) {}

std::unique_ptr<TestBackend> TestBackend::Start() { return Start(Options()); }

std::unique_ptr<TestBackend> TestBackend::Start(const Options& options) {
  std::unique_ptr<TestBackend> backend(new TestBackend());
  backend->state_->send_times_per_call = options.send_times_per_call;
  backend->service_ = std::make_unique<Service>(backend->state_.get());
  grpc::ServerBuilder builder;
  std::shared_ptr<grpc::ServerCredentials> credentials =
      grpc::InsecureServerCredentials();
  if (!options.tls_cert_chain.empty()) {
    grpc::SslServerCredentialsOptions ssl(
        options.tls_client_ca.empty()
            ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
            : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    ssl.pem_root_certs = options.tls_client_ca;
    ssl.pem_key_cert_pairs.push_back(
        {options.tls_private_key, options.tls_cert_chain});
    credentials = grpc::SslServerCredentials(ssl);
  }
  if (options.max_concurrent_streams > 0) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                               options.max_concurrent_streams);
  }
  builder.AddListeningPort("127.0.0.1:0", credentials, &backend->port_);
  builder.RegisterService(backend->service_.get());
  backend->server_ = builder.BuildAndStart();
  if (backend->server_ == nullptr || backend->port_ == 0) {
    std::fprintf(stderr, "TestBackend: cannot start the gRPC server\n");
    std::abort();
  }
  return backend;
}

TestBackend::~TestBackend() { Shutdown(); }

std::string TestBackend::address() const {
  return "127.0.0.1:" + std::to_string(port_);
}

std::vector<TestBackend::ObservedCall> TestBackend::calls() const {
  absl::MutexLock lock(&state_->mu);
  return state_->calls;
}

bool TestBackend::WaitForCalls(size_t n, absl::Duration timeout) const {
  absl::MutexLock lock(&state_->mu);
  auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_->mu) {
    return state_->calls.size() >= n;
  };
  return state_->mu.AwaitWithTimeout(absl::Condition(&reached), timeout);
}

bool TestBackend::WaitForCancelled(size_t n, absl::Duration timeout) const {
  absl::MutexLock lock(&state_->mu);
  auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_->mu) {
    return state_->cancelled >= n;
  };
  return state_->mu.AwaitWithTimeout(absl::Condition(&reached), timeout);
}

bool TestBackend::WaitForFinished(size_t n, absl::Duration timeout) const {
  absl::MutexLock lock(&state_->mu);
  auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_->mu) {
    return state_->finished >= n;
  };
  return state_->mu.AwaitWithTimeout(absl::Condition(&reached), timeout);
}

size_t TestBackend::active_calls() const {
  absl::MutexLock lock(&state_->mu);
  return state_->calls.size() - state_->finished;
}

void TestBackend::Shutdown() {
  if (server_ == nullptr) return;
  // A past deadline cancels every call in progress at once; Shutdown returns
  // once the callback reactors are done.
  server_->Shutdown(std::chrono::system_clock::now());
  server_->Wait();
  server_.reset();
  absl::MutexLock lock(&state_->mu);
  auto all_done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_->mu) {
    return state_->finished == state_->calls.size();
  };
  state_->mu.AwaitWithTimeout(absl::Condition(&all_done), absl::Seconds(30));
}

}  // namespace sse_gateway
