#!/usr/bin/env bash
# Installs the Debian 12 packages needed to build and test sse-gateway.
# Idempotent: packages already present are skipped; apt-get update runs only
# when something is missing. Needs root (or sudo) and a reachable apt mirror.
set -euo pipefail

PACKAGES=(
  bazel-bootstrap        # Bazel 4.2.3, used offline in WORKSPACE mode
  g++ pkg-config
  protobuf-compiler libprotobuf-dev
  protobuf-compiler-grpc libgrpc++-dev
  libabsl-dev
  libcpp-httplib-dev libssl-dev zlib1g-dev libbrotli-dev
  libyaml-cpp-dev
  libnghttp2-dev         # HTTP/2 on the listening side (gateway/http/http2_session)
  nghttp2-client         # h2load, HTTP/2 benchmark peer
  libgtest-dev libgmock-dev
  openssl                # tests make throwaway TLS certificates
  prometheus             # ships /usr/bin/promtool, used by //gateway/ops:metrics_test
  curl ca-certificates
  chromium               # tests/browser: EventSource in headless Chromium
  nginx                  # tests/proxy: nginx in front of two gateway replicas
  clang-14 libclang-rt-14-dev  # fuzz/: libFuzzer targets (clang's runtime)
  cmake dpkg-dev xz-utils      # scripts/build_tsan_abseil.sh: TSan-instrumented Abseil
  procps psmisc          # ps/pkill/fuser in fault tests
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

# Node.js and npm drive the browser tests (tests/browser). Machines that
# already have them (any Node >= 18) keep theirs; otherwise Debian's.
if ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install_deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install_deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
