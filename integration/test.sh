#!/usr/bin/env bash
# The test command: installs the system prerequisites, builds everything and runs every test,
# the kernel tests included (they need root: BPF, tc and network namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "integration/test.sh: the kernel tests need root; run it as root (or with sudo)" >&2
  exit 1
fi
bash integration/setup.sh
mvn -B install "$@"
