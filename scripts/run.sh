#!/usr/bin/env bash
# Sets up (Debian packages), builds, and starts counterd on the embedded store in the foreground.
#   ./scripts/run.sh                      HTTP on 127.0.0.1:8080, data in ./data
#   ./scripts/run.sh --http-addr 0.0.0.0:9000 --data-dir /var/lib/counterd
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh counterd counterctl
exec "${BUILD_DIR:-build}/bin/counterd" "$@"
