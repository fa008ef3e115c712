// RouteTable: which route serves a request path. Exact route paths match the
// path's raw bytes (as sent, not decoded); then path templates are tried,
// those with more leading literal segments first (in the order added among
// equals), binding their variables (decoded once, by PathTemplate).
//
// Built once at start-up, then immutable: Find() is thread-safe.

#ifndef SSE_GATEWAY_GATEWAY_ROUTE_ROUTE_TABLE_H_
#define SSE_GATEWAY_GATEWAY_ROUTE_ROUTE_TABLE_H_

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "gateway/route/path_template.h"
#include "gateway/route/stream_route.h"

namespace sse_gateway {

class RouteTable {
 public:
  struct Match {
    const StreamRoute* route = nullptr;  // Owned by the table.
    PathTemplate::Bindings bindings;     // Empty for an exact path.
  };

  // Serves `path` exactly with `route`. Requires: `path` was not added yet.
  void AddExact(std::string path, std::unique_ptr<StreamRoute> route);
  // Serves every path `path_template` matches with `route`.
  void AddTemplate(PathTemplate path_template,
                   std::unique_ptr<StreamRoute> route);

  // The route for `path` (raw, without the query), or nullopt.
  std::optional<Match> Find(absl::string_view path) const;

  size_t size() const { return exact_.size() + templates_.size(); }

 private:
  absl::flat_hash_map<std::string, std::unique_ptr<StreamRoute>> exact_;
  // Most literal segments first.
  std::vector<std::pair<PathTemplate, std::unique_ptr<StreamRoute>>> templates_;
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_ROUTE_ROUTE_TABLE_H_
