#include "core/status_macros.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"

namespace sse_gateway {
namespace {

int calls = 0;

absl::Status Fails() {
  ++calls;
  return absl::InvalidArgumentError("no");
}
absl::Status Succeeds() {
  ++calls;
  return absl::OkStatus();
}
absl::StatusOr<std::unique_ptr<std::string>> Make(bool ok) {
  ++calls;
  if (!ok) return absl::NotFoundError("none");
  return std::make_unique<std::string>("made");
}

absl::Status ReturnIfError(bool fail) {
  RETURN_IF_ERROR(Succeeds());
  RETURN_IF_ERROR(fail ? Fails() : Succeeds());
  return absl::InternalError("reached the end");
}

absl::StatusOr<std::string> AssignOrReturn(bool ok) {
  ASSIGN_OR_RETURN(std::unique_ptr<std::string> made, Make(ok));
  std::string existing;
  ASSIGN_OR_RETURN(existing, absl::StatusOr<std::string>("second"));
  return *made + " " + existing;
}

TEST(StatusMacrosTest, ReturnIfErrorReturnsTheFirstErrorOnly) {
  calls = 0;
  EXPECT_EQ(ReturnIfError(true).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(calls, 2);
  calls = 0;
  EXPECT_EQ(ReturnIfError(false).code(), absl::StatusCode::kInternal);
  EXPECT_EQ(calls, 2);
}

TEST(StatusMacrosTest, AssignOrReturnMovesTheValueOrReturnsTheError) {
  calls = 0;
  absl::StatusOr<std::string> ok = AssignOrReturn(true);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, "made second");
  EXPECT_EQ(calls, 1);  // Evaluated once.
  absl::StatusOr<std::string> error = AssignOrReturn(false);
  EXPECT_EQ(error.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(error.status().message(), "none");
}

}  // namespace
}  // namespace sse_gateway
