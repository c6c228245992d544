#!/usr/bin/env bash
# The demo: builds enilb, starts a small lab (3 dual-stack pods with their own NIC, 2 Services, one of
# them dual-stack: reached over IPv4 and IPv6) with the real daemon and CNI plugin, prints what
# answers, and stays up until Ctrl-C, which removes it all.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "integration/demo.sh: the lab needs root (network namespaces, BPF); run it as root (or with sudo)" >&2
  exit 1
fi
bash integration/setup.sh >/dev/null
if [ ! -x daemon/target/enilb/bin/enilbd ] || [ ! -f integration/target/enilb-integration-0.1.0-SNAPSHOT.jar ] \
   || [ -n "$(find bpf verticles daemon integration -name '*.java' -newer daemon/target/enilb/bin/enilbd -print -quit 2>/dev/null)" ]; then
  echo "building (mvn -B -q install -DskipTests) ..."
  mvn -B -q install -DskipTests
fi
cpfile=$(mktemp)
mvn -B -q -pl integration dependency:build-classpath -Dmdep.outputFile="$cpfile" >/dev/null
cp=$(cat "$cpfile")
rm -f "$cpfile"
exec java -Denilb.dist="$PWD/daemon/target/enilb" -Denilb.bpf.object="$PWD/bpf/target/bpf/enilb.bpf.o" \
  -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
  -cp "integration/target/enilb-integration-0.1.0-SNAPSHOT.jar:$cp" io.enilb.demo.Demo
