// TestCertificates: a throwaway PKI for TLS tests, made with /usr/bin/openssl
// in a fresh directory under TEST_TMPDIR: a CA, a server certificate for
// "localhost" and 127.0.0.1 (subjectAltName), a server certificate for
// another name only (to test server-name overrides), and a client
// certificate, all signed by the CA. EC P-256 keys, valid for one day.
//
// Not thread-safe; make one per test (or per test suite).

#ifndef SSE_GATEWAY_TESTS_TEST_CERTIFICATES_H_
#define SSE_GATEWAY_TESTS_TEST_CERTIFICATES_H_

#include <string>

#include "absl/status/statusor.h"

namespace sse_gateway {

struct TestCertificates {
  // The name in `other_server_cert` (its only subjectAltName).
  static constexpr char kOtherServerName[] = "backend.internal";

  std::string dir;  // where the files are
  // Paths of the PEM files.
  std::string ca_cert;
  std::string server_cert;  // localhost, 127.0.0.1
  std::string server_key;
  std::string other_server_cert;  // kOtherServerName only
  std::string other_server_key;
  std::string client_cert;
  std::string client_key;

  // Generates everything; an error tells which openssl command failed.
  static absl::StatusOr<TestCertificates> Generate();

  // One set generated on first use and kept for the whole test binary; null
  // (with a test failure recorded) if generating failed. Thread-safe.
  static const TestCertificates* Shared();
};

}  // namespace sse_gateway

#endif  // SSE_GATEWAY_TESTS_TEST_CERTIFICATES_H_
