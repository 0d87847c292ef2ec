#!/usr/bin/env bash
# make demo: the best end-to-end job tfqat can do, on the bundled example.
set -euo pipefail
build=${1:-build/release}
echo "demo: not wired yet" >&2
exit 1
