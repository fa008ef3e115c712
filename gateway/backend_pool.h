// BackendPool: the gRPC channels to one configured backend.
//
// Create() builds the channel credentials (plaintext, TLS, or mTLS from the
// backend's `tls` config, reading the PEM files at once) and `channels`
// channels to the backend's address. Every channel keeps the gateway's flow
// control arguments (no BDP probing, a 64 KiB stream lookahead) and gets its
// own subchannel pool plus a distinct channel argument, so each channel opens
// its own HTTP/2 connection: a backend that limits concurrent streams per
// connection then serves channels x limit streams instead of queueing the
// extra calls forever. Streams are spread over the channels by StreamMethod
// (fewest open streams first).
//
// Immutable after Create(); thread-safe. The channels are shared with the
// StreamMethods that use them.

#ifndef SSE_GATEWAY_GATEWAY_BACKEND_POOL_H_
#define SSE_GATEWAY_GATEWAY_BACKEND_POOL_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/config/config.h"
#include "grpcpp/channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace sse_gateway {

// The channel argument whose value differs between the channels of a pool.
inline constexpr char kPoolChannelIndexArg[] = "sse_gateway.pool_channel";

// Credentials for `tls`: insecure when absent; otherwise SSL with the PEM
// files read now. Errors (unreadable file, cert_file without key_file) are
// InvalidArgument naming the key, e.g. "backend_tls.ca_file: cannot read ...".
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>
BuildChannelCredentials(const std::optional<BackendTlsConfig>& tls);

// The arguments of channel `index` of a pool to a backend with `tls`: flow
// control, a local subchannel pool, the distinct index, and the TLS server
// name override when `tls` has a server_name.
grpc::ChannelArguments BuildChannelArguments(
    const std::optional<BackendTlsConfig>& tls, int index);

class BackendPool {
 public:
  // Builds config.channels channels to config.address; errors as
  // BuildChannelCredentials. Channels connect lazily (or on readiness checks).
  static absl::StatusOr<std::unique_ptr<BackendPool>> Create(
      const BackendConfig& config);

  BackendPool(const BackendPool&) = delete;
  BackendPool& operator=(const BackendPool&) = delete;

  const BackendConfig& config() const { return config_; }

  // The pool's channels (config().channels of them).
  const std::vector<std::shared_ptr<grpc::Channel>>& channels() const {
    return channels_;
  }

  // Asks every channel to connect and waits until each one is READY or in a
  // final/failed state, or `deadline` passes. Returns each channel's state.
  std::vector<grpc_connectivity_state> CheckConnectivity(
      absl::Time deadline) const;

 private:
  BackendPool(BackendConfig config,
              std::vector<std::shared_ptr<grpc::Channel>> channels);

  const BackendConfig config_;
  const std::vector<std::shared_ptr<grpc::Channel>> channels_;
};

// "idle", "connecting", "ready", "transient_failure", "shutdown".
const char* ConnectivityStateName(grpc_connectivity_state state);

// One pool per backend of EffectiveBackends(config), in order. Errors are
// InvalidArgument "<config file>: <key>: <problem>".
absl::StatusOr<std::vector<std::unique_ptr<BackendPool>>> CreateBackendPools(
    const GatewayConfig& config);

// The pool named `name` among `pools` (not owned; non-empty); an empty name
// means the only pool. NotFound / InvalidArgument otherwise.
absl::StatusOr<const BackendPool*> FindBackend(
    const std::vector<std::unique_ptr<BackendPool>>& pools,
    const std::string& name);

// The connectivity of every channel of every pool, as /readyz reports it.
struct BackendReadiness {
  bool all_ready = true;
  // The state of the first channel that is not ready; "ready" if none.
  std::string first_not_ready_state = "ready";
  // [{"name":..,"address":..,"channels":["ready",..]},..]
  std::string json;
};
BackendReadiness CheckBackendReadiness(
    const std::vector<std::unique_ptr<BackendPool>>& pools,
    absl::Time deadline);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_BACKEND_POOL_H_
