#!/usr/bin/env bash
# The ws skin against ws, whole-server (shared load generator, server on CPU 0, load generator on CPU 1):
#   tslay-ws   bench/ws-skin/echo-ws.mjs with its import changed from 'ws' to 'tslay/ws' (nothing else)
#   ws-file    the same file on ws (with bufferutil, as installed)
#   tslay      `tslay echo` (tslay's own API), to see what the skin costs
# plus the raw-tcp and ws baselines that run.sh adds. Defaults: REPS=3, TESTS="echo32 echo1k".
#   bash bench/ws-skin.sh
#   REPS=1 DUR=3 bash bench/ws-skin.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
shared="$(cd "$root/../shared/bench" && pwd)"
[ -d "$shared/node_modules" ] && [ -x "$shared/loadgen" ] || "$shared/setup.sh"
[ -f "$root/dist/ws/index.js" ] || (cd "$root" && npm run build)
# The tslay/ws variant is generated, so that the two files cannot differ by more than the import.
sed "s#from 'ws';#from 'tslay/ws';#" "$here/ws-skin/echo-ws.mjs" > "$here/ws-skin/echo-tslay-ws.mjs"
changed=$(diff "$here/ws-skin/echo-ws.mjs" "$here/ws-skin/echo-tslay-ws.mjs" | grep -c '^[<>]' || true)
[ "$changed" = 2 ] || { echo "ws-skin: expected the two echo files to differ by one line" >&2; exit 1; }
mkdir -p "$here/results"
export OUT="${OUT:-$here/results/ws-skin-$(date -u +%Y-%m-%dT%H-%M-%SZ)}"
export TESTS="${TESTS:-echo32 echo1k}"
exec "$shared/run.sh" \
  "tslay-ws|node $here/ws-skin/echo-tslay-ws.mjs" \
  "ws-file|node $here/ws-skin/echo-ws.mjs" \
  "tslay|node $root/dist/cli/main.js echo --port \$PORT"
