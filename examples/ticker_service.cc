#include "examples/ticker_service.h"

#include <grpc/support/time.h>
#include <grpcpp/alarm.h>
#include <grpcpp/support/server_callback.h>
#include <grpcpp/support/status.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace sse_gateway {
namespace {

// --- Deterministic pseudo-randomness for the price walk ---------------------

// 64-bit FNV-1a of `text`: stable across processes and platforms (unlike
// absl::Hash, which is salted per process).
uint64_t HashSymbol(absl::string_view text) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

// Scrambles `x` so that nearby inputs give unrelated outputs.
uint64_t Scramble(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A uniform double in [0, 1) determined by (`seed`, `key`, `salt`).
double Uniform(uint64_t seed, uint64_t key, uint64_t salt) {
  const uint64_t bits = Scramble(seed ^ Scramble(key ^ Scramble(salt)));
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

// A standard normal value determined by (`seed`, `key`) (Box-Muller).
double Gaussian(uint64_t seed, uint64_t key) {
  const double u1 = 1.0 - Uniform(seed, key, 1);  // In (0, 1]: log is finite.
  const double u2 = Uniform(seed, key, 2);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

// The value at `step` of a standard Gaussian random walk W with W(0) = 0 that
// is seeded by `seed`. Each W(step) is computed on its own, without the steps
// before it: W is built top-down as a Brownian bridge over [0, 2^53]. The end
// point is drawn first; then each dyadic interval [lo, hi] whose ends are
// known gets its midpoint from the average of the ends plus Gaussian noise of
// variance (hi - lo) / 4, seeded by the midpoint itself. Every integer is the
// midpoint of exactly one interval, so all values are consistent with each
// other and the increments W(n+1) - W(n) are independent standard normals.
double RandomWalkAt(uint64_t seed, uint64_t step) {
  constexpr uint64_t kSpan = uint64_t{1} << 53;
  uint64_t lo = 0;
  uint64_t hi = kSpan;
  double walk_lo = 0.0;
  double walk_hi = std::sqrt(static_cast<double>(kSpan)) * Gaussian(seed, hi);
  while (step != lo && step != hi) {
    const uint64_t mid = lo + (hi - lo) / 2;
    const double walk_mid =
        0.5 * (walk_lo + walk_hi) +
        0.5 * std::sqrt(static_cast<double>(hi - lo)) * Gaussian(seed, mid);
    if (step < mid) {
      hi = mid;
      walk_hi = walk_mid;
    } else {
      lo = mid;
      walk_lo = walk_mid;
    }
  }
  return step == lo ? walk_lo : walk_hi;
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

bool IsSymbolChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

}  // namespace

double TickPrice(absl::string_view symbol, uint64_t seq) {
  constexpr double kVolatilityPerTick = 0.002;
  // Bounds the log-price so that astronomically long walks stay finite.
  constexpr double kMaxLogDeviation = 8.0;
  const uint64_t seed = HashSymbol(symbol);
  const double base_price = 20.0 + 480.0 * Uniform(seed, 0, 3);
  const double log_deviation =
      std::clamp(kVolatilityPerTick * RandomWalkAt(seed, seq),
                 -kMaxLogDeviation, kMaxLogDeviation);
  const double cents = std::round(base_price * std::exp(log_deviation) * 100);
  return std::max(cents, 1.0) / 100;
}

absl::Status ValidateWatchRequest(const demo::v1::WatchRequest& request) {
  const std::string& symbol = request.symbol();
  if (symbol.empty()) return absl::InvalidArgumentError("symbol is required");
  if (symbol.size() > TickerService::kMaxSymbolLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("symbol must be at most ", TickerService::kMaxSymbolLength,
                     " characters long"));
  }
  if (!std::all_of(symbol.begin(), symbol.end(), IsSymbolChar)) {
    return absl::InvalidArgumentError(
        "symbol may only contain letters, digits, '.', '_' and '-'");
  }
  const uint32_t interval_ms = request.interval_ms();
  if (interval_ms != 0 && (interval_ms < TickerService::kMinIntervalMs ||
                           interval_ms > TickerService::kMaxIntervalMs)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "interval_ms must be between ", TickerService::kMinIntervalMs, " and ",
        TickerService::kMaxIntervalMs, " (0 means ",
        TickerService::kDefaultIntervalMs, "), got ", interval_ms));
  }
  if (request.after_seq() >= TickerService::kMaxSeq) {
    return absl::InvalidArgumentError(
        absl::StrCat("after_seq must be below ", TickerService::kMaxSeq,
                     ", got ", request.after_seq()));
  }
  return absl::OkStatus();
}

// One Watch call. Owns itself: deleted in OnDone(). The calls form a single
// chain (write, alarm, write, alarm, ...), so at most one of StartWrite() and
// the alarm is pending at any time and the tick fields need no lock; `mu_`
// only orders OnCancel() against arming the next alarm.
class TickerService::WatchReactor final
    : public grpc::ServerWriteReactor<demo::v1::Tick> {
 public:
  // Starts the call: finishes it at once with `validation` when that is not
  // OK, else sends the first tick.
  WatchReactor(TickerService* service, const demo::v1::WatchRequest& request,
               const absl::Status& validation)
      : service_(service),
        symbol_(request.symbol()),
        interval_ms_(request.interval_ms() == 0 ? kDefaultIntervalMs
                                                : request.interval_ms()),
        unlimited_(request.count() == 0),
        remaining_(request.count()),
        next_seq_(request.after_seq() + 1),
        next_tick_at_(gpr_now(GPR_CLOCK_MONOTONIC)) {
    service_->WatchStarted();
    if (!validation.ok()) {
      Finish(ToGrpcStatus(validation));
      return;
    }
    SendTick();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"));
      return;
    }
    if ((!unlimited_ && --remaining_ == 0) || next_seq_ > kMaxSeq) {
      Finish(grpc::Status::OK);
      return;
    }
    // Keeps a steady cadence; when late, ticks at once without catching up.
    next_tick_at_ = gpr_time_add(
        next_tick_at_, gpr_time_from_millis(interval_ms_, GPR_TIMESPAN));
    const gpr_timespec now = gpr_now(GPR_CLOCK_MONOTONIC);
    if (gpr_time_cmp(next_tick_at_, now) < 0) next_tick_at_ = now;
    {
      absl::MutexLock lock(&mu_);
      if (!cancelled_) {
        // A fresh alarm per wait: an alarm is never re-armed from within its
        // own callback. Replacing the previous (fired) one is safe.
        alarm_ = std::make_unique<grpc::Alarm>();
        alarm_->Set(next_tick_at_, [this](bool fired) { OnAlarm(fired); });
        return;
      }
    }
    Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the call was cancelled"));
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    // Runs the pending alarm's callback at once with fired == false.
    if (alarm_ != nullptr) alarm_->Cancel();
  }

  void OnDone() override {
    TickerService* service = service_;
    delete this;
    service->WatchDone();
  }

 private:
  // Runs on a gRPC thread when the wait ends. Touches nothing after starting
  // the next operation, since the call may be done (and `this` deleted) by the
  // time StartWrite() or Finish() returns.
  void OnAlarm(bool fired) {
    if (!fired) {
      Finish(
          grpc::Status(grpc::StatusCode::CANCELLED, "the call was cancelled"));
      return;
    }
    SendTick();
  }

  void SendTick() {
    const absl::Time now = absl::Now();
    const int64_t seconds = absl::ToUnixSeconds(now);
    tick_.Clear();
    tick_.set_seq(next_seq_);
    tick_.set_symbol(symbol_);
    tick_.set_price(TickPrice(symbol_, next_seq_));
    tick_.mutable_time()->set_seconds(seconds);
    tick_.mutable_time()->set_nanos(static_cast<int32_t>(
        (now - absl::FromUnixSeconds(seconds)) / absl::Nanoseconds(1)));
    ++next_seq_;
    StartWrite(&tick_);
  }

  TickerService* const service_;
  const std::string symbol_;
  const uint32_t interval_ms_;
  const bool unlimited_;
  uint32_t remaining_;
  uint64_t next_seq_;
  gpr_timespec next_tick_at_;
  demo::v1::Tick tick_;  // The message being written; gRPC reads it.

  absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<grpc::Alarm> alarm_ ABSL_GUARDED_BY(mu_);
};

grpc::ServerWriteReactor<demo::v1::Tick>* TickerService::Watch(
    grpc::CallbackServerContext* /*context*/,
    const demo::v1::WatchRequest* request) {
  return new WatchReactor(this, *request, ValidateWatchRequest(*request));
}

int TickerService::ActiveWatches() const {
  absl::MutexLock lock(&mu_);
  return active_watches_;
}

bool TickerService::WaitUntilIdle(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  const auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return active_watches_ == 0;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&idle), timeout);
}

void TickerService::WatchStarted() {
  absl::MutexLock lock(&mu_);
  ++active_watches_;
}

void TickerService::WatchDone() {
  absl::MutexLock lock(&mu_);
  --active_watches_;
}

}  // namespace sse_gateway
