#include "tests/testing_schema.h"

#include <memory>

#include "gtest/gtest.h"

namespace sse_gateway {

const Schema* TestingSchema() {
  static const Schema* const schema = [] {
    absl::StatusOr<std::unique_ptr<Schema>> loaded =
        Schema::LoadDescriptorSetFiles({kTestingDescriptorSet});
    return loaded.ok() ? loaded->release() : nullptr;
  }();
  EXPECT_NE(schema, nullptr) << "cannot load " << kTestingDescriptorSet;
  return schema;
}

}  // namespace sse_gateway
