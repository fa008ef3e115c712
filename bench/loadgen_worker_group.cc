#include "bench/loadgen_worker_group.h"

#include <algorithm>
#include <utility>

namespace sse_gateway {
namespace {

// Splits `total` over `parts`: the first total % parts get one more.
int64_t ShareOf(int64_t total, int parts, int index) {
  return total / parts + (index < total % parts ? 1 : 0);
}

}  // namespace

LoadgenWorkerGroup::LoadgenWorkerGroup(const LoadgenWorkerOptions& totals,
                                       int threads, bool measuring)
    : measuring_(measuring) {
  // http2: whole connections per worker, their streams with them.
  const int64_t per_connection =
      std::max<int64_t>(1, totals.streams_per_connection);
  const int64_t http2_connections =
      (totals.connections + per_connection - 1) / per_connection;
  int64_t streams_given = 0;
  for (int i = 0; i < threads; ++i) {
    LoadgenWorkerOptions options = totals;
    options.connections = ShareOf(totals.connections, threads, i);
    if (totals.http2) {
      options.connections =
          std::min(totals.connections - streams_given,
                   ShareOf(http2_connections, threads, i) * per_connection);
      streams_given += options.connections;
    }
    options.ramp_per_s = totals.ramp_per_s / threads;
    options.concurrency = ShareOf(totals.concurrency, threads, i);
    options.cycles_claimed = &cycles_claimed_;
    options.measuring = &measuring_;
    options.stop = &stop_;
    workers_.push_back(std::make_unique<LoadgenWorker>(std::move(options)));
  }
  statuses_.resize(workers_.size());
}

LoadgenWorkerGroup::~LoadgenWorkerGroup() { StopAndJoin(); }

void LoadgenWorkerGroup::Start() {
  for (size_t i = 0; i < workers_.size(); ++i) {
    threads_.emplace_back([this, i] {
      statuses_[i] = workers_[i]->Run();
      done_.fetch_add(1);
    });
  }
}

void LoadgenWorkerGroup::StopAndJoin() {
  stop_.store(true);
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
}

bool LoadgenWorkerGroup::all_done() const {
  return done_.load() == static_cast<int>(workers_.size());
}

int64_t LoadgenWorkerGroup::Sum(
    std::atomic<int64_t> LoadgenProgress::*counter) const {
  int64_t total = 0;
  for (const auto& worker : workers_) {
    total += (worker->progress().*counter).load(std::memory_order_relaxed);
  }
  return total;
}

absl::Status LoadgenWorkerGroup::status() const {
  for (const absl::Status& status : statuses_) {
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

LoadgenResults LoadgenWorkerGroup::MergedResults() const {
  LoadgenResults total;
  for (const auto& worker : workers_) {
    const LoadgenResults& result = worker->results();
    total.latency.Merge(result.latency);
    total.ttfe.Merge(result.ttfe);
    total.connect.Merge(result.connect);
    for (size_t i = 0; i < total.failures.size(); ++i) {
      total.failures[i] += result.failures[i];
    }
    for (const auto& [code, count] : result.bad_status_codes) {
      total.bad_status_codes[code] += count;
    }
    total.syn_retransmits += result.syn_retransmits;
    total.comments += result.comments;
    total.goaways += result.goaways;
    total.subscriptions.Merge(result.subscriptions);
  }
  return total;
}

}  // namespace sse_gateway
