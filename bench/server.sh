#!/usr/bin/env bash
# Whole-server benchmark: `tslay echo` (and `tslay echo --deflate`) against ws, ws without bufferutil,
# ws with permessage-deflate, raw Node TCP and Bun, in one run of the shared load generator
# (../shared/bench: epoll C client, real handshakes, pipelined masked frames, every echo verified),
# server pinned to CPU 0 and load generator to CPU 1. Extra arguments go to run.sh's environment via env vars:
#   bench/server.sh                       full matrix (REPS=3, ~20 min)
#   REPS=1 DUR=3 TESTS="echo32 echo1k" bench/server.sh
#   BENCH_NODE_LINES="machine 26"         Node lines to run on (default; "machine" is the one on PATH)
# With the hs test, a second run per line puts tslay's handshakes beside their floor on that Node
# (handshake-floor.mjs: node:net doing the same exchange by hand).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
shared="$(cd "$root/../shared/bench" && pwd)"
[ -d "$shared/node_modules" ] && [ -x "$shared/loadgen" ] || "$shared/setup.sh"
[ -f "$root/dist/cli/main.js" ] || (cd "$root" && npm run build)
mkdir -p "$here/results"
stamp=$(date -u +%Y-%m-%dT%H-%M-%SZ)
cli="node $root/dist/cli/main.js echo --port \$PORT"
# The machine's Node and Node 26 (the active LTS line, from the npm registry, cached): the runtime moves these
# figures, so every row runs on both, each with its own baselines (raw TCP, ws) in the same invocation.
status=0
for line in ${BENCH_NODE_LINES-machine 26}; do
  bin=""
  [ "$line" = machine ] || bin="$(bash "$root/.ci/node-bin.sh" "$line"):"
  version=$(PATH="$bin$PATH" node --version)
  major=${version#v}
  major=${major%%.*}
  echo "== bench/server.sh on Node $version"
  PATH="$bin$PATH" OUT="${OUT:-$here/results/server-$stamp}-node$major" "$shared/run.sh" \
    "tslay|$cli" \
    "tslay-deflate|$cli --deflate" \
    "ws-js|env WS_NO_BUFFER_UTIL=1 WS_NO_UTF_8_VALIDATE=1 node servers/ws.mjs" \
    "ws-deflate|node servers/ws.mjs --deflate" \
    "bun|bun servers/bun.ts" || status=1
  # Handshakes against their floor on this Node: a bare node:net server doing the same exchange by hand
  # (handshake-floor.mjs; it answers nothing but the handshake test's exchange, hence a run of its own).
  if [[ " ${TESTS:-hs} " == *" hs "* ]]; then
    PATH="$bin$PATH" TESTS=hs OUT="${OUT:-$here/results/server-$stamp}-node$major-hs-floor" "$shared/run.sh" \
      "hs-floor|node $here/handshake-floor.mjs" \
      "tslay|$cli" || status=1
  fi
done
exit $status
