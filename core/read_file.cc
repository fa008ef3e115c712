#include "core/read_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace sse_gateway {
namespace {

struct FileCloser {
  void operator()(FILE* file) const { std::fclose(file); }
};

absl::Status ReadError(const std::string& path, int error) {
  const std::string message =
      absl::StrCat("cannot read \"", path, "\": ", std::strerror(error));
  return error == ENOENT ? absl::NotFoundError(message)
                         : absl::InvalidArgumentError(message);
}

}  // namespace

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  std::unique_ptr<FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (file == nullptr) return ReadError(path, errno);
  std::string content;
  char buffer[16384];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file.get())) > 0) {
    content.append(buffer, n);
  }
  // fopen succeeds on a directory; reading it fails with EISDIR.
  if (std::ferror(file.get())) return ReadError(path, errno);
  return content;
}

}  // namespace sse_gateway
