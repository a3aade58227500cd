#!/usr/bin/env bash
# Installs the Debian packages counterd needs (only those missing), then configures and builds.
# Idempotent and quiet: a second run with everything present does no apt work at all.
#   ./scripts/setup.sh [cmake targets...]     (no targets = build everything)
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  cmake ninja-build ccache g++ pkg-config clang-format
  libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev
  libboost-dev rapidjson-dev libfmt-dev libspdlog-dev libcli11-dev
  libxxhash-dev libzstd-dev libssl-dev libcpp-jwt-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  libhiredis-dev redis-server redis-tools prometheus clickhouse-server
  librocksdb-dev postgresql-15
  curl openssl  # the TLS test drives curl and makes its test CA with openssl
)

# Node (for the client tests) may come from elsewhere with its own npm: ask for the Debian
# packages only when the commands are missing (Debian's npm conflicts with such a node).
command -v node >/dev/null || PACKAGES+=(nodejs)
command -v npm >/dev/null || PACKAGES+=(npm)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

BUILD_DIR=${BUILD_DIR:-build}
BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo}
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" "${launcher[@]}" >/dev/null
fi
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build "$BUILD_DIR" "${targets[@]}"
