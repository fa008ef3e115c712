#include "gateway/route/annotated_routes.h"

#include "absl/strings/str_cat.h"
#include "proto/google/api/http.pb.h"

namespace sse_gateway {
namespace {

void AddGetRules(const google::api::HttpRule& rule,
                 const google::protobuf::MethodDescriptor* method,
                 std::vector<AnnotatedRoute>* routes) {
  if (rule.pattern_case() == google::api::HttpRule::kGet &&
      !rule.get().empty()) {
    routes->push_back(AnnotatedRoute{
        rule.get(), method,
        absl::StrCat(method->service()->full_name(), "/", method->name())});
  }
  for (const google::api::HttpRule& binding : rule.additional_bindings()) {
    AddGetRules(binding, method, routes);
  }
}

}  // namespace

std::vector<AnnotatedRoute> FindAnnotatedStreamRoutes(const Schema& schema) {
  std::vector<AnnotatedRoute> routes;
  for (const google::protobuf::FileDescriptor* file : schema.files()) {
    for (int s = 0; s < file->service_count(); ++s) {
      const google::protobuf::ServiceDescriptor* service = file->service(s);
      for (int m = 0; m < service->method_count(); ++m) {
        const google::protobuf::MethodDescriptor* method = service->method(m);
        if (!method->server_streaming() || method->client_streaming()) continue;
        google::api::HttpRuleOption option;
        if (!option.ParseFromString(method->options().SerializeAsString()) ||
            !option.has_http()) {
          continue;
        }
        AddGetRules(option.http(), method, &routes);
      }
    }
  }
  return routes;
}

}  // namespace sse_gateway
