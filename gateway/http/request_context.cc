#include "gateway/http/request_context.h"

#include "core/check.h"

namespace sse_gateway {
namespace {

thread_local RequestContext* current_context = nullptr;

}  // namespace

RequestContext::RequestContext(absl::string_view protocol)
    : previous_(current_context), protocol_(protocol) {
  current_context = this;
}

RequestContext::~RequestContext() { current_context = previous_; }

RequestContext* RequestContext::Current() { return current_context; }

absl::string_view RequestContext::CurrentProtocol() {
  return current_context != nullptr ? current_context->protocol()
                                    : absl::string_view("HTTP/1.1");
}

void RequestContext::Defer(std::unique_ptr<DeferredResponse> response) {
  SSE_GATEWAY_DCHECK(deferred_ == nullptr);  // At most once per request.
  deferred_ = std::move(response);
}

}  // namespace sse_gateway
