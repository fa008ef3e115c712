#include "gateway/route/route_table.h"

#include <algorithm>

#include "core/check.h"

namespace sse_gateway {

void RouteTable::AddExact(std::string path,
                          std::unique_ptr<StreamRoute> route) {
  const bool added = exact_.emplace(std::move(path), std::move(route)).second;
  SSE_GATEWAY_DCHECK(added);
}

void RouteTable::AddTemplate(PathTemplate path_template,
                             std::unique_ptr<StreamRoute> route) {
  // After every template with at least as many leading literal segments.
  const auto position = std::find_if(
      templates_.begin(), templates_.end(), [&](const auto& entry) {
        return entry.first.literal_prefix() < path_template.literal_prefix();
      });
  templates_.emplace(position, std::move(path_template), std::move(route));
}

std::optional<RouteTable::Match> RouteTable::Find(
    absl::string_view path) const {
  auto exact = exact_.find(path);
  if (exact != exact_.end()) return Match{exact->second.get(), {}};
  for (const auto& [path_template, route] : templates_) {
    std::optional<PathTemplate::Bindings> bindings = path_template.Match(path);
    if (bindings.has_value()) return Match{route.get(), *std::move(bindings)};
  }
  return std::nullopt;
}

}  // namespace sse_gateway
