#!/usr/bin/env bash
# Builds bench/grpc_gateway_peer/bin/grpc_gateway_peer offline, from Debian
# packages only (Go 1.19, grpc-gateway 1.6.4 v1 API, grpc-go 1.33,
# golang/protobuf 1.3.5), in GOPATH mode: no Go modules are downloaded.
#
#   bench/grpc_gateway_peer/build.sh          # idempotent; safe to re-run
#
# Generated code and the GOPATH live in bench/grpc_gateway_peer/build/
# (git-ignored); the binary goes to bench/grpc_gateway_peer/bin/ (git-ignored).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
BUILD="$HERE/build"
BIN="$HERE/bin/grpc_gateway_peer"
PROTO_ROOT="$REPO/proto"
PROTO_FILE="bench/v1/firehose.proto"
# Go import path of the generated package (a GOPATH-only name, no network).
GO_PKG="ssegateway.bench/grpc_gateway_peer/firehosepb"

# 1. Debian packages (apt-get only when something is missing).
PKGS=(
  golang-go
  golang-github-grpc-ecosystem-grpc-gateway-dev
  golang-grpc-gateway
  golang-google-grpc-dev
  golang-goprotobuf-dev
  golang-google-genproto-dev
  protobuf-compiler
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
    || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "build.sh: installing ${missing[*]}" >&2
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  if ! $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"; then
    $SUDO apt-get update
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
  fi
fi

# 2. Generate Go code (protoc-gen-go 1.3.5 with the grpc plugin, and
#    protoc-gen-grpc-gateway 1.6.4 with the YAML HTTP mapping).
GOPATH_DIR="$BUILD/gopath"
PKG_DIR="$GOPATH_DIR/src/$GO_PKG"
GEN_DIR="$BUILD/gen"
rm -rf "$GEN_DIR"
mkdir -p "$GEN_DIR" "$PKG_DIR" "$(dirname "$BIN")"
MAP="M$PROTO_FILE=$GO_PKG"
protoc -I "$PROTO_ROOT" \
  --plugin=protoc-gen-go=/usr/bin/protoc-gen-go \
  --plugin=protoc-gen-grpc-gateway=/usr/bin/protoc-gen-grpc-gateway \
  --go_out="plugins=grpc,$MAP:$GEN_DIR" \
  --grpc-gateway_out="logtostderr=true,grpc_api_configuration=$HERE/firehose_gateway.yaml,$MAP:$GEN_DIR" \
  "$PROTO_ROOT/$PROTO_FILE"
# protoc-gen-grpc-gateway lays its file out by the M-mapped import path, but
# protoc-gen-go 1.3.5 by the .proto's own directory (no go_package option):
# gather both into the package dir (only when changed, so the Go build
# cache keeps working). Both use the Go package name bench_v1.
find "$GEN_DIR" -name '*.go' -print0 | while IFS= read -r -d '' f; do
  cmp -s "$f" "$PKG_DIR/$(basename "$f")" || cp "$f" "$PKG_DIR/"
done

# 3. The main package, also in the GOPATH (GOPATH mode needs the source there).
MAIN_DIR="$GOPATH_DIR/src/ssegateway.bench/grpc_gateway_peer/cmd/grpc_gateway_peer"
mkdir -p "$MAIN_DIR"
cmp -s "$HERE/main.go" "$MAIN_DIR/main.go" || cp "$HERE/main.go" "$MAIN_DIR/main.go"

# 4. Build, offline: GOPATH mode, Debian's sources in /usr/share/gocode.
export GO111MODULE=off
export GOPATH="$GOPATH_DIR:/usr/share/gocode"
export GOPROXY=off GOFLAGS= GOTOOLCHAIN=local
export GOCACHE="$BUILD/gocache"
(cd "$MAIN_DIR" && go build -trimpath -o "$BIN" .)
echo "build.sh: built $BIN ($(go version | awk '{print $3}'))" >&2
