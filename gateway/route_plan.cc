#include "gateway/route_plan.h"

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "core/reflection_client.h"
#include "gateway/route/annotated_routes.h"

namespace sse_gateway {
namespace {

// How long start-up may spend reading a backend's schema by reflection.
constexpr absl::Duration kReflectionTimeout = absl::Seconds(10);

// The routes the schema's google.api.http annotations declare, as route
// configs with default options, for the methods no explicit route serves.
std::vector<RouteConfig> AnnotatedRouteConfigs(const GatewayConfig& config,
                                               const Schema& schema) {
  std::set<std::string> explicit_methods;
  for (const RouteConfig& route : config.routes) {
    absl::StatusOr<const google::protobuf::MethodDescriptor*> method =
        schema.FindServerStreamingMethod(route.upstream.method);
    if (method.ok()) explicit_methods.insert((*method)->full_name());
  }
  std::vector<RouteConfig> routes;
  for (const AnnotatedRoute& annotated : FindAnnotatedStreamRoutes(schema)) {
    if (explicit_methods.count(annotated.method->full_name()) > 0) continue;
    RouteConfig route;
    route.path = annotated.path_template;
    route.upstream.method = annotated.method_name;
    routes.push_back(std::move(route));
  }
  return routes;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Schema>> LoadSchema(
    const GatewayConfig& config,
    const std::vector<std::unique_ptr<BackendPool>>& backends) {
  if (!config.descriptor_sets.empty()) {
    return Schema::LoadDescriptorSetFiles(config.descriptor_sets);
  }
  google::protobuf::FileDescriptorSet merged;
  std::set<std::string> names;
  for (const std::unique_ptr<BackendPool>& backend : backends) {
    absl::StatusOr<google::protobuf::FileDescriptorSet> set =
        FetchSchemaByReflection(backend->channels().front(),
                                kReflectionTimeout);
    if (!set.ok()) {
      return absl::Status(
          set.status().code(),
          absl::StrCat("none given, and backend \"", backend->config().name,
                       "\" (", backend->config().address,
                       "): ", set.status().message()));
    }
    for (google::protobuf::FileDescriptorProto& file : *set->mutable_file()) {
      if (names.insert(file.name()).second)
        *merged.add_file() = std::move(file);
    }
  }
  return Schema::FromDescriptorSet(merged);
}

std::vector<PlannedRoute> PlanRoutes(const GatewayConfig& config,
                                     const Schema& schema) {
  std::vector<PlannedRoute> routes;
  for (size_t i = 0; i < config.routes.size(); ++i) {
    routes.push_back({config.routes[i], absl::StrCat("routes[", i, "]"),
                      /*is_template=*/false});
  }
  if (!config.routes_from_annotations) return routes;
  for (RouteConfig& route : AnnotatedRouteConfigs(config, schema)) {
    std::string key =
        absl::StrCat("routes_from_annotations (", route.upstream.method, " at ",
                     route.path, ")");
    routes.push_back({std::move(route), std::move(key), /*is_template=*/true});
  }
  return routes;
}

}  // namespace sse_gateway
