#include "bench/subscription_stats.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace sse_gateway {

int SubscriptionConfig::IndexOf(absl::string_view type) const {
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == type) return static_cast<int>(i);
  }
  return -1;
}

absl::StatusOr<SubscriptionConfig> ParseSubscriptionConfig(
    absl::string_view names, absl::string_view measured,
    absl::string_view fast) {
  SubscriptionConfig config;
  if (names.empty()) {
    if (!measured.empty() || !fast.empty()) {
      return absl::InvalidArgumentError(
          "measured or fast subscriptions need --subscriptions");
    }
    return config;
  }
  absl::flat_hash_set<std::string> seen;
  for (absl::string_view name : absl::StrSplit(names, ',')) {
    if (name.empty() || !seen.insert(std::string(name)).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--subscriptions needs unique, non-empty names: \"", names, "\""));
    }
    config.names.emplace_back(name);
  }
  config.measured.assign(config.names.size(), false);
  if (measured.empty()) {
    config.measured[0] = true;
  } else {
    for (absl::string_view name : absl::StrSplit(measured, ',')) {
      const int index = config.IndexOf(name);
      if (index < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("measured subscription \"", name,
                         "\" is not one of --subscriptions"));
      }
      config.measured[static_cast<size_t>(index)] = true;
    }
  }
  if (!fast.empty()) {
    config.fast = config.IndexOf(fast);
    if (config.fast < 0 || config.measured[static_cast<size_t>(config.fast)]) {
      return absl::InvalidArgumentError(
          absl::StrCat("fast subscription \"", fast,
                       "\" must be one of --subscriptions, not measured"));
    }
  }
  return config;
}

SubscriptionResults::SubscriptionResults(const SubscriptionConfig& config)
    : events(config.names.size(), 0), latency(config.names.size()) {}

void SubscriptionResults::Merge(const SubscriptionResults& other) {
  events.resize(std::max(events.size(), other.events.size()), 0);
  latency.resize(std::max(latency.size(), other.latency.size()));
  for (size_t i = 0; i < other.events.size(); ++i) {
    events[i] += other.events[i];
    latency[i].Merge(other.latency[i]);
  }
  other_events += other.other_events;
  measured_latency.Merge(other.measured_latency);
  fast_runs.Merge(other.fast_runs);
  fast_overtakes.Merge(other.fast_overtakes);
}

JsonObject SubscriptionJson(const SubscriptionConfig& config,
                            const SubscriptionResults& results,
                            double window_s) {
  const double seconds = window_s > 0 ? window_s : 1;
  JsonObject subscriptions;
  int64_t measured_events = 0;
  std::string measured_names;
  for (size_t i = 0; i < config.names.size(); ++i) {
    const int64_t events = i < results.events.size() ? results.events[i] : 0;
    JsonObject one;
    one.Add("events", events)
        .Add("events_per_s", static_cast<double>(events) / seconds)
        .Add("latency_us",
             LatencyJson(i < results.latency.size() ? results.latency[i]
                                                    : LatencyHistogram()));
    subscriptions.Add(config.names[i], one);
    if (config.measured[i]) {
      measured_events += events;
      absl::StrAppend(&measured_names, measured_names.empty() ? "" : ",",
                      config.names[i]);
    }
  }
  JsonObject measured;
  measured.Add("names", measured_names)
      .Add("events", measured_events)
      .Add("events_per_s", static_cast<double>(measured_events) / seconds)
      .Add("latency_us", LatencyJson(results.measured_latency));
  JsonObject out;
  out.Add("subscriptions", subscriptions).Add("measured", measured);
  if (config.fast >= 0) {
    const size_t fast = static_cast<size_t>(config.fast);
    const int64_t events =
        fast < results.events.size() ? results.events[fast] : 0;
    JsonObject fast_json;
    fast_json.Add("name", config.names[fast])
        .Add("events", events)
        .Add("events_per_s", static_cast<double>(events) / seconds)
        .Add("runs", LatencyJson(results.fast_runs))
        .Add("overtakes", LatencyJson(results.fast_overtakes));
    out.Add("fast", fast_json);
  }
  out.Add("other_events", results.other_events);
  return out;
}

SubscriptionTracker::SubscriptionTracker(const SubscriptionConfig* config)
    : config_(config),
      fast_at_last_event_(config->names.size(), -1),
      fast_sent_(config->fast >= 0 ? kOvertakeWindow : 0, 0) {}

void SubscriptionTracker::Reset() {
  fast_received_ = 0;
  std::fill(fast_at_last_event_.begin(), fast_at_last_event_.end(), -1);
}

int64_t SubscriptionTracker::FastSentAfter(int64_t sent_unix_nanos) const {
  // The remembered stamps, oldest first, are fast_sent_[(first + j) % size]
  // for j in [0, count); they do not decrease. Find the first one above.
  const int64_t count = std::min(fast_received_, kOvertakeWindow);
  const int64_t first = fast_received_ - count;
  int64_t low = 0;
  int64_t high = count;
  while (low < high) {
    const int64_t mid = low + (high - low) / 2;
    if (fast_sent_[static_cast<size_t>((first + mid) % kOvertakeWindow)] >
        sent_unix_nanos) {
      high = mid;
    } else {
      low = mid + 1;
    }
  }
  return count - low;
}

void SubscriptionTracker::OnEvent(absl::string_view type,
                                  int64_t sent_unix_nanos,
                                  int64_t received_unix_nanos, bool measuring,
                                  SubscriptionResults* out) {
  const int index = config_->IndexOf(type);
  if (index < 0) {
    if (measuring) ++out->other_events;
    return;
  }
  const size_t i = static_cast<size_t>(index);
  if (index == config_->fast) {
    fast_sent_[static_cast<size_t>(fast_received_ % kOvertakeWindow)] =
        sent_unix_nanos;
    ++fast_received_;
  }
  if (measuring) {
    ++out->events[i];
    if (sent_unix_nanos >= 0) {
      out->latency[i].Record((received_unix_nanos - sent_unix_nanos) / 1000);
    }
  }
  if (!config_->measured[i]) return;
  if (measuring) {
    if (sent_unix_nanos >= 0) {
      out->measured_latency.Record((received_unix_nanos - sent_unix_nanos) /
                                   1000);
    }
    if (config_->fast >= 0) {
      if (fast_at_last_event_[i] >= 0) {
        out->fast_runs.Record(fast_received_ - fast_at_last_event_[i]);
      }
      if (sent_unix_nanos >= 0) {
        out->fast_overtakes.Record(FastSentAfter(sent_unix_nanos));
      }
    }
  }
  fast_at_last_event_[i] = fast_received_;
}

}  // namespace sse_gateway
