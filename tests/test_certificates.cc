#include "tests/test_certificates.h"

#include <stdlib.h>

#include <cstdio>
#include <fstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace sse_gateway {
namespace {

// Runs `command` through the shell; error with its output when it fails.
absl::Status Run(const std::string& command) {
  std::string full = absl::StrCat(command, " 2>&1");
  FILE* pipe = popen(full.c_str(), "r");
  if (pipe == nullptr) {
    return absl::InternalError(absl::StrCat("cannot run: ", command));
  }
  std::string output;
  char buffer[512];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    output.append(buffer, n);
  }
  int rc = pclose(pipe);
  if (rc != 0) {
    return absl::InternalError(
        absl::StrCat("failed (", rc, "): ", command, "\n", output));
  }
  return absl::OkStatus();
}

absl::Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

constexpr char kOpenssl[] = "/usr/bin/openssl";
constexpr char kEcKey[] = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1";

// Makes `<name>.key` and `<name>.pem` in `dir`, signed by the CA, with the
// extensions in `extensions` (an openssl extension file's body).
absl::Status IssueCertificate(const std::string& dir, const std::string& name,
                              const std::string& subject,
                              const std::string& extensions) {
  std::string ext_file = absl::StrCat(dir, "/", name, ".ext");
  absl::Status status = WriteFile(ext_file, extensions);
  if (!status.ok()) return status;
  status = Run(absl::StrCat(kOpenssl, " req -new -nodes ", kEcKey, " -keyout ",
                            dir, "/", name, ".key -out ", dir, "/", name,
                            ".csr -subj ", subject));
  if (!status.ok()) return status;
  return Run(absl::StrCat(kOpenssl, " x509 -req -days 1 -in ", dir, "/", name,
                          ".csr -CA ", dir, "/ca.pem -CAkey ", dir,
                          "/ca.key -CAcreateserial -out ", dir, "/", name,
                          ".pem -extfile ", ext_file));
}

}  // namespace

absl::StatusOr<TestCertificates> TestCertificates::Generate() {
  const char* tmp = getenv("TEST_TMPDIR");
  std::string pattern =
      absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/certs.XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp ", pattern));
  }
  TestCertificates certs;
  certs.dir = pattern;
  const std::string& dir = certs.dir;
  absl::Status status = Run(absl::StrCat(
      kOpenssl, " req -x509 -nodes -days 1 ", kEcKey, " -keyout ", dir,
      "/ca.key -out ", dir, "/ca.pem -subj /CN=sse-gateway-test-ca",
      " -addext basicConstraints=critical,CA:TRUE",
      " -addext keyUsage=critical,keyCertSign,cRLSign"));
  if (!status.ok()) return status;
  status = IssueCertificate(
      dir, "server", "/CN=localhost",
      "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
      "extendedKeyUsage=serverAuth\n"
      "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  if (!status.ok()) return status;
  status = IssueCertificate(
      dir, "other", absl::StrCat("/CN=", kOtherServerName),
      absl::StrCat("basicConstraints=CA:FALSE\n"
                   "keyUsage=digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:",
                   kOtherServerName, "\n"));
  if (!status.ok()) return status;
  status =
      IssueCertificate(dir, "client", "/CN=sse-gateway-test-client",
                       "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
                       "extendedKeyUsage=clientAuth\n");
  if (!status.ok()) return status;
  certs.ca_cert = dir + "/ca.pem";
  certs.server_cert = dir + "/server.pem";
  certs.server_key = dir + "/server.key";
  certs.other_server_cert = dir + "/other.pem";
  certs.other_server_key = dir + "/other.key";
  certs.client_cert = dir + "/client.pem";
  certs.client_key = dir + "/client.key";
  return certs;
}

const TestCertificates* TestCertificates::Shared() {
  static const TestCertificates* const shared = [] {
    absl::StatusOr<TestCertificates> generated = Generate();
    EXPECT_TRUE(generated.ok()) << generated.status();
    return generated.ok() ? new TestCertificates(*std::move(generated))
                          : nullptr;
  }();
  return shared;
}

}  // namespace sse_gateway
