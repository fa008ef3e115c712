#include "gateway/route/metadata_forwarding.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/grpc_stream_call.h"
#include "core/status_macros.h"

namespace sse_gateway {
namespace {

constexpr absl::string_view kGrpcMetadataPrefix = "grpc-metadata-";
constexpr char kAuthorization[] = "authorization";
constexpr char kForwardedFor[] = "x-forwarded-for";

// The lower-cased tokens of every Connection header of the request.
absl::flat_hash_set<std::string> ConnectionTokens(
    const httplib::Headers& headers) {
  absl::flat_hash_set<std::string> tokens;
  auto [begin, end] = headers.equal_range("Connection");
  for (auto it = begin; it != end; ++it) {
    for (absl::string_view token : absl::StrSplit(it->second, ',')) {
      token = absl::StripAsciiWhitespace(token);
      if (!token.empty()) tokens.insert(absl::AsciiStrToLower(token));
    }
  }
  return tokens;
}

absl::Status HeaderError(absl::string_view header, absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat("header ", header, ": ", problem));
}

}  // namespace

bool IsNeverForwardedHeader(absl::string_view name) {
  static const auto* const kNames = new absl::flat_hash_set<std::string>{
      "connection",     "keep-alive",        "proxy-connection", "te",
      "trailer",        "transfer-encoding", "upgrade",          "host",
      "content-length", "remote_addr",       "remote_port",      "local_addr",
      "local_port"};
  return kNames->contains(absl::AsciiStrToLower(name));
}

size_t MetadataBytes(const Metadata& metadata) {
  size_t bytes = 0;
  for (const auto& [key, value] : metadata) {
    bytes += MetadataEntryBytes(key, value);
  }
  return bytes;
}

absl::Status CheckForwardHeaderName(absl::string_view name) {
  if (IsNeverForwardedHeader(name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", name,
        "\" is a hop-by-hop or connection-level header and is never "
        "forwarded"));
  }
  std::string key = absl::AsciiStrToLower(name);
  if (absl::StartsWith(key, kGrpcMetadataPrefix)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", name, "\": Grpc-Metadata-* headers are always forwarded"));
  }
  absl::Status status = CheckGrpcMetadata(key, "");
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", name, "\" cannot be a gRPC metadata key: ", status.message()));
  }
  return absl::OkStatus();
}

MetadataForwarding::MetadataForwarding(
    std::vector<std::string> forward_headers,
    std::optional<std::string> token_query_param)
    : token_query_param_(std::move(token_query_param)) {
  for (std::string& name : forward_headers) {
    if (CheckForwardHeaderName(name).ok()) {
      forward_headers_.push_back(absl::AsciiStrToLower(name));
    }
  }
  if (token_query_param_.has_value() && token_query_param_->empty()) {
    token_query_param_.reset();
  }
}

MetadataForwarding::MetadataForwarding()
    : MetadataForwarding({kAuthorization}, std::nullopt) {}

absl::StatusOr<std::optional<std::string>> MetadataForwarding::TakeToken(
    std::vector<std::pair<std::string, std::string>>* params) const {
  std::optional<std::string> token;
  if (!token_query_param_.has_value()) return token;
  int seen = 0;
  std::vector<std::pair<std::string, std::string>> kept;
  for (auto& [key, value] : *params) {
    if (key != *token_query_param_) {
      kept.emplace_back(std::move(key), std::move(value));
      continue;
    }
    ++seen;
    if (!value.empty()) token = std::move(value);
  }
  *params = std::move(kept);
  if (seen > 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "query parameter ", *token_query_param_, " given more than once"));
  }
  return token;
}

absl::StatusOr<Metadata> MetadataForwarding::Build(
    const httplib::Headers& headers, absl::string_view client_ip,
    const std::optional<std::string>& token) const {
  const absl::flat_hash_set<std::string> connection_tokens =
      ConnectionTokens(headers);
  auto forwardable = [&](absl::string_view name) {
    return !IsNeverForwardedHeader(name) &&
           !connection_tokens.contains(absl::AsciiStrToLower(name));
  };
  Metadata metadata;
  auto add = [&](absl::string_view header, std::string key,
                 std::string value) -> absl::Status {
    absl::Status status = CheckGrpcMetadata(key, value);
    if (!status.ok()) return HeaderError(header, status.message());
    metadata.emplace_back(std::move(key), std::move(value));
    return absl::OkStatus();
  };

  // Configured headers, in configuration order.
  for (const std::string& name : forward_headers_) {
    if (name == kForwardedFor || !forwardable(name)) continue;
    auto [begin, end] = headers.equal_range(name);
    for (auto it = begin; it != end; ++it) {
      RETURN_IF_ERROR(add(it->first, name, it->second));
    }
  }
  // Grpc-Metadata-<name>, in request order.
  for (const auto& [header, value] : headers) {
    std::string lower = absl::AsciiStrToLower(header);
    if (!absl::StartsWith(lower, kGrpcMetadataPrefix)) continue;
    std::string key = lower.substr(kGrpcMetadataPrefix.size());
    // Refused rather than dropped: the client asked for something gRPC
    // keeps for itself (some such keys abort gRPC's encoder).
    if (IsReservedGrpcMetadataKey(key)) {
      return HeaderError(
          header, absl::StrCat("metadata key '", key, "' is reserved by gRPC"));
    }
    if (key == kForwardedFor || !forwardable(header) || !forwardable(key)) {
      continue;
    }
    std::string sent = value;
    if (absl::EndsWith(key, "-bin") && !absl::Base64Unescape(value, &sent)) {
      return HeaderError(header, "a -bin value must be base64");
    }
    RETURN_IF_ERROR(add(header, std::move(key), std::move(sent)));
  }
  // X-Forwarded-For: the incoming chain, then the client.
  std::vector<absl::string_view> chain;
  if (forwardable(kForwardedFor)) {
    auto [begin, end] = headers.equal_range(kForwardedFor);
    for (auto it = begin; it != end; ++it) {
      absl::string_view hop = absl::StripAsciiWhitespace(it->second);
      if (!hop.empty()) chain.push_back(hop);
    }
  }
  if (!client_ip.empty()) chain.push_back(client_ip);
  if (!chain.empty()) {
    RETURN_IF_ERROR(
        add("X-Forwarded-For", kForwardedFor, absl::StrJoin(chain, ", ")));
  }
  // The token, unless the request carried its own authorization.
  if (token.has_value()) {
    bool has_authorization = false;
    for (const auto& entry : metadata) {
      if (entry.first == kAuthorization) has_authorization = true;
    }
    if (!has_authorization) {
      absl::Status status = CheckGrpcMetadata(kAuthorization, *token);
      if (!status.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("query parameter ", *token_query_param_,
                         ": the token must be printable ASCII"));
      }
      metadata.emplace_back(kAuthorization, absl::StrCat("Bearer ", *token));
    }
  }
  return metadata;
}

}  // namespace sse_gateway
