#include "gateway/route/multiplex_route.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "core/compound_event_id.h"
#include "core/multiplexed_event_stream.h"
#include "gateway/http/http_status.h"
#include "gateway/http/query_string.h"
#include "gateway/http/request_context.h"
#include "gateway/sse/event_names.h"
#include "gateway/sse/event_stream_response.h"

namespace sse_gateway {
namespace {

// Client text quoted in an error: at most 64 bytes, printable ASCII.
std::string Shown(absl::string_view text) {
  std::string shown;
  for (const char c : text.substr(0, 64)) {
    shown.push_back(absl::ascii_isprint(static_cast<unsigned char>(c)) ? c
                                                                       : '?');
  }
  if (text.size() > 64) shown += "...";
  return shown;
}

absl::Status CheckName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxSubscriptionNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("subscription name \"", Shown(name), "\" must be 1 to ",
                     kMaxSubscriptionNameBytes, " characters"));
  }
  for (const char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' &&
        c != '-') {
      return absl::InvalidArgumentError(
          absl::StrCat("subscription name \"", Shown(name),
                       "\" may only hold letters, digits, '_' and '-'"));
    }
  }
  if (name == kEndEventName || name == kErrorEventName) {
    return absl::InvalidArgumentError(absl::StrCat(
        "subscription name \"", name,
        "\" is reserved (the multiplexed stream's end, or EventSource's own "
        "error event)"));
  }
  return absl::OkStatus();
}

// A status about subscription `name`, keeping its code (and HTTP status).
absl::Status ForSubscription(absl::string_view name,
                             const absl::Status& status) {
  absl::Status named(status.code(), absl::StrCat("subscription ", name, ": ",
                                                 status.message()));
  status.ForEachPayload(
      [&named](absl::string_view url, const absl::Cord& payload) {
        named.SetPayload(url, payload);
      });
  return named;
}

// The request a subscription's route sees: the multiplexed request's
// method, version, headers (but Last-Event-ID) and peer, and the
// subscription's own target.
httplib::Request SubscriptionRequest(const httplib::Request& request,
                                     const std::string& target) {
  httplib::Request sub;
  sub.method = "GET";
  sub.version = request.version;
  sub.target = target;
  sub.headers = request.headers;
  sub.headers.erase("Last-Event-ID");
  sub.remote_addr = request.remote_addr;
  sub.remote_port = request.remote_port;
  return sub;
}

// How the whole multiplexed response ended, for the subscriptions still
// open then (set once the response is over, read as they are reported).
struct SharedEnd {
  absl::Mutex mu;
  std::optional<CloseReason> reason ABSL_GUARDED_BY(mu);
};

}  // namespace

MultiplexRoute::MultiplexRoute(MultiplexRouteOptions options)
    : options_(std::move(options)) {}

void MultiplexRoute::Handle(const httplib::Request& request,
                            httplib::Response& response) const {
  const absl::Time started = absl::Now();
  // 1. Names, targets and the compound id.
  absl::StatusOr<QueryParams> params =
      ParseQueryString(QueryOfTarget(request.target));
  if (!params.ok()) {
    WriteErrorResponse(params.status(), response);
    return;
  }
  if (params->empty()) {
    WriteErrorResponse(
        absl::InvalidArgumentError(
            "a multiplexed request needs at least one subscription "
            "(?<name>=<url-encoded route path and query>)"),
        response);
    return;
  }
  if (static_cast<int64_t>(params->size()) > options_.max_subscriptions) {
    WriteErrorResponse(
        absl::InvalidArgumentError(absl::StrCat(
            params->size(), " subscriptions in one request, over the limit of ",
            options_.max_subscriptions, " (multiplex.max_subscriptions)")),
        response);
    return;
  }
  std::vector<std::string> names;
  absl::flat_hash_set<std::string> seen;
  for (const auto& [name, target] : *params) {
    absl::Status checked = CheckName(name);
    if (checked.ok() && !seen.insert(name).second) {
      checked = absl::InvalidArgumentError(
          absl::StrCat("subscription name \"", name, "\" is used twice"));
    }
    if (!checked.ok()) {
      WriteErrorResponse(checked, response);
      return;
    }
    names.push_back(name);
  }
  std::vector<CompoundEntry> positions(names.size(), CompoundEntry::Fresh());
  const std::string last_event_id = request.get_header_value("Last-Event-ID");
  if (!last_event_id.empty()) {
    absl::StatusOr<std::vector<CompoundEntry>> decoded =
        DecodeCompoundEventId(last_event_id, names);
    if (!decoded.ok()) {
      WriteErrorResponse(decoded.status(), response);
      return;
    }
    positions = *std::move(decoded);
  }
  bool any_open = false;
  std::vector<std::optional<RouteTable::Match>> matches(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    if (positions[i].state == CompoundEntry::State::kEnded) continue;
    any_open = true;
    const std::string& target = (*params)[i].second;
    const absl::string_view path = PathOfTarget(target);
    absl::Status refused;
    if (path.empty() || path[0] != '/') {
      refused = absl::InvalidArgumentError(
          absl::StrCat("\"", Shown(target),
                       "\" is not a route path (it must start with /)"));
    } else if (!PercentDecode(path, /*plus_is_space=*/false,
                              /*keep_escaped_slash=*/false)
                    .has_value()) {
      refused = absl::InvalidArgumentError(absl::StrCat(
          "the path ", Shown(path), " has a malformed percent-escape"));
    } else if (path == options_.path) {
      refused = absl::InvalidArgumentError(
          "a multiplexed request cannot subscribe to the multiplex endpoint");
    } else if (!(matches[i] = options_.routes->Find(path)).has_value()) {
      refused = absl::NotFoundError(absl::StrCat("no route for ", Shown(path)));
    }
    if (!refused.ok()) {
      WriteErrorResponse(ForSubscription(names[i], refused), response);
      return;
    }
  }
  if (!any_open) {
    // EventSource stops reconnecting on 204: there is nothing left to resume.
    response.status = 204;
    response.set_header("Cache-Control", "no-store");
    return;
  }

  // 2. Open every subscription still open, or none.
  auto shared_end = std::make_shared<SharedEnd>();
  std::vector<MultiplexedSubscription> subscriptions;
  subscriptions.reserve(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    MultiplexedSubscription subscription;
    subscription.name = names[i];
    subscription.position = positions[i];
    if (positions[i].state != CompoundEntry::State::kEnded) {
      std::optional<std::string> resume_from;
      if (positions[i].state == CompoundEntry::State::kAt) {
        resume_from = positions[i].id;
      }
      absl::StatusOr<StreamRoute::OpenedStream> opened =
          matches[i]->route->Open(
              SubscriptionRequest(request, (*params)[i].second),
              matches[i]->bindings, resume_from);
      if (!opened.ok()) {
        {
          absl::MutexLock lock(&shared_end->mu);
          shared_end->reason = CloseReason::kRejected;
        }
        for (MultiplexedSubscription& earlier : subscriptions) {
          if (earlier.stream == nullptr) continue;
          earlier.stream.reset();  // Cancels its call.
          earlier.on_end(absl::CancelledError("another subscription failed"), 0,
                         /*ended_by_itself=*/false);
        }
        const absl::Status status = ForSubscription(names[i], opened.status());
        if (status.code() == absl::StatusCode::kUnavailable) {
          WriteUnavailableResponse(request, status,
                                   options_.sse.reconnect_retry_ms, response);
        } else {
          WriteErrorResponse(status, response);
        }
        return;
      }
      subscription.stream = std::move(opened->stream);
      subscription.on_end = [shared_end, finish = std::move(opened->finish),
                             started](const absl::Status& status,
                                      int64_t messages, bool ended_by_itself) {
        StreamOutcome outcome;
        outcome.http_status = 200;
        outcome.code = status.code();
        outcome.events = messages;
        outcome.duration = absl::Now() - started;
        outcome.reason = CloseReason::kBackendEnded;
        if (!ended_by_itself) {
          absl::MutexLock lock(&shared_end->mu);
          outcome.reason =
              shared_end->reason.value_or(CloseReason::kClientGone);
          if (outcome.reason == CloseReason::kRejected) {
            outcome.http_status = 0;
          }
        }
        finish(outcome);
      };
    }
    subscriptions.push_back(std::move(subscription));
  }

  // 3. Serve them as one stream.
  auto stream = std::make_unique<MultiplexedEventStream>(
      std::move(subscriptions), started + options_.sse.open_wait);
  SseStreamOptions sse = options_.sse;
  RouteMetrics* metrics = sse.metrics;
  if (metrics != nullptr) metrics->StreamStarted();
  StreamRequestInfo info;
  info.route = options_.path;
  info.remote = absl::StrCat(request.remote_addr, ":", request.remote_port);
  info.protocol = std::string(RequestContext::CurrentProtocol());
  if (request.has_header("Last-Event-ID")) info.last_event_id = last_event_id;
  sse.on_finish = [metrics, shared_end, info = std::move(info),
                   on_finish =
                       options_.on_finish](const StreamOutcome& outcome) {
    {
      absl::MutexLock lock(&shared_end->mu);
      shared_end->reason =
          outcome.http_status == 200 ? outcome.reason : CloseReason::kRejected;
    }
    if (metrics != nullptr) {
      metrics->StreamFinished(outcome.code, outcome.reason);
    }
    if (on_finish) on_finish(info, outcome);
  };
  std::unique_ptr<EventStream> ready = std::move(stream);
  ServeEventStream(
      request,
      [&ready](const std::optional<std::string>&)
          -> absl::StatusOr<std::unique_ptr<EventStream>> {
        return std::move(ready);
      },
      sse, response);
}

}  // namespace sse_gateway
