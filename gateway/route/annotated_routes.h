// FindAnnotatedStreamRoutes: the routes a schema declares itself with the
// google.api.http method annotation, for `routes_from_annotations: true`.
//
// Every server-streaming (not client-streaming) method whose HttpRule, or one
// of its additional_bindings, has a `get:` pattern yields one route: that
// path template and the method. Other verbs are skipped (an EventSource can
// only GET). The annotation is read from the method's options by field number
// (72295728), so any copy of google/api/annotations.proto works.
// Stateless; thread-safe.

#ifndef SSE_GATEWAY_GATEWAY_ROUTE_ANNOTATED_ROUTES_H_
#define SSE_GATEWAY_GATEWAY_ROUTE_ANNOTATED_ROUTES_H_

#include <string>
#include <vector>

#include "core/schema.h"
#include "google/protobuf/descriptor.h"

namespace sse_gateway {

struct AnnotatedRoute {
  std::string path_template;  // e.g. "/v1/{name=rooms/*}/events"
  const google::protobuf::MethodDescriptor* method = nullptr;
  // "package.Service/Method", as a route's `method` key names it.
  std::string method_name;
};

// In the schema's file order, then method order.
std::vector<AnnotatedRoute> FindAnnotatedStreamRoutes(const Schema& schema);

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_GATEWAY_ROUTE_ANNOTATED_ROUTES_H_
