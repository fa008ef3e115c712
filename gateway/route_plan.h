// What a config serves, worked out at start-up before any route is built:
// the schema (from the descriptor sets, or else from every backend's server
// reflection) and the list of routes (the config's, then those the schema's
// google.api.http annotations declare when routes_from_annotations is on).
//
// Stateless functions; thread-compatible.

#ifndef SSE_GATEWAY_GATEWAY_ROUTE_PLAN_H_
#define SSE_GATEWAY_GATEWAY_ROUTE_PLAN_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/schema.h"
#include "gateway/backend_pool.h"
#include "gateway/config/config.h"

namespace sse_gateway {

// The schema of `config`: its descriptor sets, or when it names none, the
// files every backend in `backends` serves by reflection (merged by name).
// The error says which backend failed.
absl::StatusOr<std::unique_ptr<Schema>> LoadSchema(
    const GatewayConfig& config,
    const std::vector<std::unique_ptr<BackendPool>>& backends);

// One route to build.
struct PlannedRoute {
  RouteConfig config;
  // Where an error about it points: "routes[2]", or the annotation.
  std::string key;
  // From an annotation: `config.path` is a path template.
  bool is_template = false;
};

// The config's routes, then (with routes_from_annotations) one for each
// annotated server-streaming method that no explicit route serves.
std::vector<PlannedRoute> PlanRoutes(const GatewayConfig& config,
                                     const Schema& schema);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_ROUTE_PLAN_H_
