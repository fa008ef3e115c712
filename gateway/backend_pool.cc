#include "gateway/backend_pool.h"

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/read_file.h"
#include "core/status_macros.h"
#include "gateway/http/http_status.h"
#include "grpcpp/create_channel.h"

namespace sse_gateway {
namespace {

// Reads the PEM file at `path` for config key `key`.
absl::StatusOr<std::string> ReadPemFile(const std::string& key,
                                        const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(key, ": ", text.status().message()));
  }
  if (text->find("-----BEGIN") == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(key, ": \"", path, "\" is not a PEM file"));
  }
  return text;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>
BuildChannelCredentials(const std::optional<BackendTlsConfig>& tls) {
  if (!tls.has_value()) return grpc::InsecureChannelCredentials();
  const std::string prefix = tls->key.empty() ? "tls" : tls->key;
  if (tls->cert_file.empty() != tls->key_file.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        prefix, tls->cert_file.empty() ? ".key_file" : ".cert_file",
        ": cert_file and key_file go together (mTLS)"));
  }
  grpc::SslCredentialsOptions options;
  const std::pair<const std::string*, std::string*> files[] = {
      {&tls->ca_file, &options.pem_root_certs},
      {&tls->cert_file, &options.pem_cert_chain},
      {&tls->key_file, &options.pem_private_key},
  };
  const char* const names[] = {".ca_file", ".cert_file", ".key_file"};
  for (size_t i = 0; i < 3; ++i) {
    if (files[i].first->empty()) continue;
    ASSIGN_OR_RETURN(
        std::string pem,
        ReadPemFile(absl::StrCat(prefix, names[i]), *files[i].first));
    *files[i].second = std::move(pem);
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      grpc::SslCredentials(options);
  if (credentials == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, ": gRPC refused the TLS credentials"));
  }
  return credentials;
}

grpc::ChannelArguments BuildChannelArguments(
    const std::optional<BackendTlsConfig>& tls, int index) {
  grpc::ChannelArguments args;
  // Bound what one call may buffer ahead of a slow consumer: no BDP-driven
  // window growth, a 64 KiB HTTP/2 stream window.
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 64 * 1024);
  // Identical channels would share one subchannel (one connection); a local
  // pool and a distinct argument give each channel its own connection.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // A minimal filter stack (no retry, deadline or message-size filters)
  // cuts what every call costs from about 34 to 25 KiB of gateway RSS per
  // open stream (2,000 idle streams; see docs/benchmarks.md). Deadlines are
  // still sent as grpc-timeout and also enforced by GrpcStreamCall itself;
  // a call refused by a backend that is going away is not retried
  // transparently: an EventSource is told to reconnect (see
  // WriteUnavailableResponse) and resumes with its Last-Event-ID.
  args.SetInt(GRPC_ARG_MINIMAL_STACK, 1);
  // gRPC's default reconnect backoff grows to 120 s: a backend that was down
  // for a minute would stay unreachable for up to two more after it is back,
  // while browsers keep retrying. Reconnect within a second of its return.
  // GRPC_ARG_MIN_RECONNECT_BACKOFF_MS is left at its default on purpose: in
  // gRPC it is the time one connection attempt (TCP + TLS + HTTP/2
  // handshake) may take, not a backoff. At 100 ms a loaded or distant backend
  // could fail every first attempt with UNAVAILABLE.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(kPoolChannelIndexArg, index);
  if (tls.has_value() && !tls->server_name.empty()) {
    args.SetSslTargetNameOverride(tls->server_name);
  }
  return args;
}

absl::StatusOr<std::unique_ptr<BackendPool>> BackendPool::Create(
    const BackendConfig& config) {
  if (config.channels < 1 || config.channels > kMaxBackendChannels) {
    return absl::InvalidArgumentError(absl::StrCat(
        config.key, ".channels: must be 1 to ", kMaxBackendChannels));
  }
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> credentials,
                   BuildChannelCredentials(config.tls));
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < config.channels; ++i) {
    channels.push_back(grpc::CreateCustomChannel(
        config.address, credentials, BuildChannelArguments(config.tls, i)));
  }
  return std::unique_ptr<BackendPool>(
      new BackendPool(config, std::move(channels)));
}

BackendPool::BackendPool(BackendConfig config,
                         std::vector<std::shared_ptr<grpc::Channel>> channels)
    : config_(std::move(config)), channels_(std::move(channels)) {}

std::vector<grpc_connectivity_state> BackendPool::CheckConnectivity(
    absl::Time deadline) const {
  std::vector<grpc_connectivity_state> states;
  // Ask them all first so they connect in parallel.
  for (const auto& channel : channels_) {
    states.push_back(channel->GetState(/*try_to_connect=*/true));
  }
  const auto chrono_deadline = absl::ToChronoTime(deadline);
  for (size_t i = 0; i < channels_.size(); ++i) {
    while (states[i] == GRPC_CHANNEL_IDLE ||
           states[i] == GRPC_CHANNEL_CONNECTING) {
      if (!channels_[i]->WaitForStateChange(states[i], chrono_deadline)) break;
      states[i] = channels_[i]->GetState(/*try_to_connect=*/true);
    }
  }
  return states;
}

const char* ConnectivityStateName(grpc_connectivity_state state) {
  switch (state) {
    case GRPC_CHANNEL_IDLE:
      return "idle";
    case GRPC_CHANNEL_CONNECTING:
      return "connecting";
    case GRPC_CHANNEL_READY:
      return "ready";
    case GRPC_CHANNEL_TRANSIENT_FAILURE:
      return "transient_failure";
    case GRPC_CHANNEL_SHUTDOWN:
      return "shutdown";
  }
  return "?";
}

absl::StatusOr<std::vector<std::unique_ptr<BackendPool>>> CreateBackendPools(
    const GatewayConfig& config) {
  std::vector<std::unique_ptr<BackendPool>> pools;
  for (const BackendConfig& backend : EffectiveBackends(config)) {
    absl::StatusOr<std::unique_ptr<BackendPool>> pool =
        BackendPool::Create(backend);
    if (!pool.ok()) {
      return absl::Status(
          pool.status().code(),
          absl::StrCat(config.file, ": ", pool.status().message()));
    }
    pools.push_back(*std::move(pool));
  }
  return pools;
}

absl::StatusOr<const BackendPool*> FindBackend(
    const std::vector<std::unique_ptr<BackendPool>>& pools,
    const std::string& name) {
  if (name.empty()) {
    if (pools.size() == 1) return pools[0].get();
    return absl::InvalidArgumentError("is required with several backends");
  }
  for (const auto& pool : pools) {
    if (pool->config().name == name) return pool.get();
  }
  return absl::NotFoundError(absl::StrCat("unknown backend \"", name, "\""));
}

BackendReadiness CheckBackendReadiness(
    const std::vector<std::unique_ptr<BackendPool>>& pools,
    absl::Time deadline) {
  BackendReadiness readiness;
  // Ask every channel of every pool first so that they connect in parallel.
  for (const auto& pool : pools) {
    for (const auto& channel : pool->channels()) {
      channel->GetState(/*try_to_connect=*/true);
    }
  }
  std::vector<std::string> entries;
  for (const auto& pool : pools) {
    std::vector<std::string> states;
    for (grpc_connectivity_state state : pool->CheckConnectivity(deadline)) {
      if (state != GRPC_CHANNEL_READY && readiness.all_ready) {
        readiness.all_ready = false;
        readiness.first_not_ready_state = ConnectivityStateName(state);
      }
      states.push_back(absl::StrCat("\"", ConnectivityStateName(state), "\""));
    }
    entries.push_back(
        absl::StrCat("{\"name\":", JsonQuote(pool->config().name),
                     ",\"address\":", JsonQuote(pool->config().address),
                     ",\"channels\":[", absl::StrJoin(states, ","), "]}"));
  }
  readiness.json = absl::StrCat("[", absl::StrJoin(entries, ","), "]");
  return readiness;
}

}  // namespace sse_gateway
