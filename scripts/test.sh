#!/usr/bin/env bash
# Sets up, builds and runs every test (unit and integration) through ctest.
#   ./scripts/test.sh               all tests
#   ./scripts/test.sh -L unit       only the fast unit tests (any ctest arguments pass through)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# The third-party clients the tests drive (tests/clients/package.json, pinned by its lock file).
if [[ ! -d tests/clients/node_modules/ioredis ]]; then
  (cd tests/clients && npm ci --no-audit --no-fund --loglevel=error)
fi
cd "${BUILD_DIR:-build}"
ctest --output-on-failure --timeout 900 -j "$(nproc)" "$@"
