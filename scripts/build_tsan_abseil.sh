#!/usr/bin/env bash
# Builds Debian's Abseil (the exact source package of the installed
# libabsl20220623, Debian's patches applied) and keeps its synchronization
# library as a ThreadSanitizer-instrumented shared library with Debian's
# SONAME (libabsl_synchronization.so.20220623), so a TSan test binary loads it
# through LD_LIBRARY_PATH in place of Debian's (the other libabsl_* stay
# Debian's). Then
# our code and gRPC (whose grpc_core::Mutex / gpr_mu are absl::Mutex) both lock
# through an absl::Mutex that tells TSan about its happens-before edges.
#
#   bash scripts/build_tsan_abseil.sh    # prints the library directory last
#
# Idempotent: skips everything when the cache already holds this build.
# Output: ${XDG_CACHE_HOME:-$HOME/.cache}/sse-gateway/absl-tsan/<version>/lib
# Downloads only from Debian's mirror, through apt with a private state
# directory (InRelease signature and file hashes checked by apt). Needs
# apt-get, dpkg-source (dpkg-dev), cmake, g++ (scripts/install_deps.sh).
set -euo pipefail

VERSION="20220623.1-1+deb12u2"       # must equal the installed libabsl20220623
SOVERSION="20220623"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
FLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=thread"
JOBS=2
# Only libabsl_synchronization (absl::Mutex, CondVar, Notification) is
# replaced: it carries Abseil's TSan annotations (__tsan_mutex_*), entirely
# inside the library. Everything else stays Debian's, uninstrumented:
# - libabsl_base must match the code that inlines SpinLock::Lock: an
#   instrumented SpinLock::SlowLock called from Debian's libabsl_time
#   (absl::Now) ends ignores it never began (TSan "CHECK failed:
#   ignore_sync > 0", seen in access_log_test);
# - Status, Cord, strings...: gRPC uses them on memory it hands between
#   threads through its own atomics, which TSan cannot see, so
#   instrumenting them only adds false reports.
INSTRUMENTED=(synchronization)

cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/sse-gateway/absl-tsan"
prefix="${cache_root}/${VERSION}"
stamp="${prefix}/.complete"
system_libdir="/usr/lib/$(gcc -print-multiarch)"

installed=$(dpkg-query -W -f='${Version}' "libabsl${SOVERSION}" 2>/dev/null || true)
if [ "$installed" != "$VERSION" ]; then
  echo "build_tsan_abseil: installed libabsl${SOVERSION} is '${installed}'," \
    "this script builds ${VERSION}; update VERSION" >&2
  exit 1
fi

stamp_value="${FLAGS}; ${INSTRUMENTED[*]}"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$stamp_value" ]; then
  echo "build_tsan_abseil: cached" >&2
  echo "${prefix}/lib"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 1. Fetch the source package with apt, using only a private sources list
#    and private lists/cache directories (the system's apt state is untouched).
mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial" "$work/src"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]" \
  "${MIRROR} bookworm main" >"$work/apt/sources.list"
apt_opts=(
  -o "Dir::Etc::SourceList=$work/apt/sources.list"
  -o "Dir::Etc::SourceParts=$work/apt/none"
  -o "Dir::State::Lists=$work/apt/lists"
  -o "Dir::Cache=$work/apt/cache"
  -o "Debug::NoLocking=1"
  -o "APT::Sandbox::User=$(id -un)"
)
echo "build_tsan_abseil: fetching abseil ${VERSION} source from ${MIRROR}" >&2
apt-get -qq "${apt_opts[@]}" update >&2
(cd "$work/src" &&
  apt-get -qq "${apt_opts[@]}" source --download-only "abseil=${VERSION}" >&2)
# The .dsc signature is not checked here (no Debian keyring for dpkg-source);
# apt already verified the files against the signed Sources index.
dpkg-source --no-check -x "$work/src/abseil_${VERSION}.dsc" "$work/abseil" >&2

# Debian's patches set the SONAME and the ABI options; insist on the header
# that decides the ABI being the one our code compiles against.
if ! cmp -s "$work/abseil/absl/base/options.h" /usr/include/absl/base/options.h; then
  echo "build_tsan_abseil: absl/base/options.h differs from the installed one" >&2
  exit 1
fi

# 2. Configure everything instrumented and shared, build only what is kept
#    (and what it links against), keep only the INSTRUMENTED libraries.
echo "build_tsan_abseil: building with ${FLAGS} (${JOBS} jobs)" >&2
rm -rf "$prefix"
cmake -S "$work/abseil" -B "$work/build" -DCMAKE_BUILD_TYPE=None \
  -DCMAKE_CXX_STANDARD=17 -DBUILD_SHARED_LIBS=ON -DBUILD_TESTING=OFF \
  -DCMAKE_C_FLAGS="$FLAGS" -DCMAKE_CXX_FLAGS="$FLAGS" \
  -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=thread" >"$work/cmake.log" 2>&1 ||
  { cat "$work/cmake.log" >&2; exit 1; }
targets=()
for lib in "${INSTRUMENTED[@]}"; do targets+=(--target "${lib}"); done
cmake --build "$work/build" -j "$JOBS" "${targets[@]}" >"$work/build.log" 2>&1 ||
  { tail -50 "$work/build.log" >&2; exit 1; }
mkdir -p "$prefix/lib"
for lib in "${INSTRUMENTED[@]}"; do
  cp -a "$work/build"/absl/*/"libabsl_${lib}.so.${SOVERSION}"* "$prefix/lib/"
done

# 3. ABI check: each kept library has the SONAME of Debian's, defines every
#    dynamic symbol Debian's defines, and is instrumented.
checked=0
for lib in "${INSTRUMENTED[@]}"; do
  name="libabsl_${lib}.so.${SOVERSION}"
  system_lib="$system_libdir/$name"
  ours="$prefix/lib/$name"
  if [ ! -e "$ours" ]; then
    echo "build_tsan_abseil: ${name} was not built" >&2
    exit 1
  fi
  soname=$(readelf -d "$ours" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
  if [ "$soname" != "$name" ]; then
    echo "build_tsan_abseil: ${ours} has SONAME '${soname}'" >&2
    exit 1
  fi
  # Only strong symbols: weak ones are copies of inline functions (e.g.
  # std::ctype<char>::do_widen, absl::cord_internal::SmallMemmove<true>) that
  # exist or not depending on inlining at -O2 vs -O1; every user of an inline
  # function emits its own copy, so none needs the library's.
  missing=$(comm -23 \
    <(nm -D --defined-only "$system_lib" |
      awk '$2 !~ /^[WVuvw]$/ {print $3}' | sort -u) \
    <(nm -D --defined-only "$ours" | awk '{print $3}' | sort -u))
  if [ -n "$missing" ]; then
    echo "build_tsan_abseil: ${name} lacks Debian's symbols:" >&2
    echo "$missing" | head -20 >&2
    exit 1
  fi
  if [ "$(nm -D --undefined-only "$ours" | grep -c '__tsan_')" -eq 0 ]; then
    echo "build_tsan_abseil: ${name} is not instrumented" >&2
    exit 1
  fi
  checked=$((checked + 1))
done
echo "build_tsan_abseil: ${checked} libraries built, ABI-checked against" \
  "${system_libdir}" >&2

printf '%s' "$stamp_value" >"$stamp"
echo "${prefix}/lib"
