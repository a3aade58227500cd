#!/usr/bin/env bash
# Sets up, builds and runs every test (unit and integration) through ctest.
#   ./scripts/test.sh               all tests
#   ./scripts/test.sh -L unit       only the fast unit tests (any ctest arguments pass through)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure --timeout 900 -j "$(nproc)" "$@"
