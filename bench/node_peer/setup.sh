#!/usr/bin/env bash
# Installs the Node peer's dependencies (bench/node_peer/node_modules, git-ignored)
# exactly as pinned by package-lock.json. Idempotent: does nothing when
# node_modules was installed from the current lockfile. Needs node >= 20, npm.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

stamp=node_modules/.installed-lock.sha256
want="$(sha256sum package-lock.json | cut -d' ' -f1) node $(node --version)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "node_peer: node_modules matches package-lock.json" >&2
  exit 0
fi
# protobufjs' postinstall only prints a version-scheme warning; skip scripts.
npm ci --no-audit --no-fund --ignore-scripts >&2
echo "$want" >"$stamp"
echo "node_peer: installed $(node -p 'Object.entries(require("./package.json").dependencies).map(([n,v])=>n+"@"+v).join(" ")')" >&2
