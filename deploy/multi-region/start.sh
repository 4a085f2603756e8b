#!/usr/bin/env bash
# Starts a whole federation on one machine for a demo: nats-server with JetStream, the
# regional nodes "central" (DE, PL; port 8081) and "west" (FR, ES; port 8082) running the
# demo connectors, and headquarters (port 8080) merging their counts. Ctrl-C stops all.
# Needs `cargo build --release` (or CHORUS_BIN=target/debug/chorus) and nats-server.
set -euo pipefail
cd "$(dirname "$0")/../.."
target="${CARGO_TARGET_DIR:-target}"
bin="${CHORUS_BIN:-$target/release/chorus}"
command -v nats-server >/dev/null || { echo "nats-server is missing: bash deploy/install-test-parts.sh" >&2; exit 1; }
[ -x "$bin" ] || { echo "$bin is missing: cargo build --release" >&2; exit 1; }
python3 -c "import tomli_w" 2>/dev/null || { echo "tomli-w is missing: pip install tomli-w" >&2; exit 1; }

export CHORUS_JWT_SECRET="${CHORUS_JWT_SECRET:-dev-secret-dev-secret-dev-secret-0123}"
export CHORUS_NATS_USER=chorus CHORUS_NATS_PASSWORD="${CHORUS_NATS_PASSWORD:-chorus-demo}"
export CHORUS_PLUGINS__DIR="$(dirname "$bin")"
mkdir -p data/multi-region
python3 deploy/multi-region/make-configs.py data/multi-region >/dev/null

pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT INT TERM
nats-server -c deploy/multi-region/nats-server.conf & pids+=($!)
for node in hq central west; do
  CHORUS_SERVER__LOGIN_LINK=false "$bin" serve --config "data/multi-region/$node.toml" &
  pids+=($!)
done
sleep 2
echo
echo "headquarters: http://127.0.0.1:8080  central: http://127.0.0.1:8081  west: http://127.0.0.1:8082"
echo "admin token (all nodes): $("$bin" token --role admin --config data/multi-region/hq.toml 2>/dev/null || echo 'chorus token --role admin')"
echo "try: curl -H \"Authorization: Bearer \$TOKEN\" http://127.0.0.1:8080/api/v1/federation"
wait
