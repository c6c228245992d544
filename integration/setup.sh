#!/usr/bin/env bash
# Installs what enilb needs from the system (Debian packages) and mounts the BPF
# filesystem. Idempotent: safe to run again; it installs only what is missing.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (it installs packages and mounts bpffs)" >&2
  exit 1
fi

# What each package is for:
#   clang, llvm        compile bpf/*.bpf.c to a BPF object (clang -target bpf), llvm-strip; clang
#                      also builds enilb-cni's JNI library (daemon/src/main/cni/native)
#   libbpf-dev         BPF headers (bpf_helpers.h ...) for the kernel programs
#   libbpf1            the library the daemon loads through jnr-ffi
#   bpftool            inspecting programs and maps (tests, operators)
#   iproute2           ip/tc for the network-namespace lab (tests only; the daemon never shells out)
#   iptables, nftables kube-proxy-style comparison paths in the benchmarks
#   curl, socat        clients in tests and the demo
#   ethtool            turning checksum offload off in the lab (tests)
#   wrk, nginx-light   load generator and backend server for benchmarks
#   maven, default-jdk-headless  the build
#   python3-scapy      packet tables (bpf tests): builds the expected ICMP errors, fragments and
#                      IP options with checksums of its own, independent of enilb
#   mmdebstrap         the image's minimal Debian root filesystem (image/build.sh)
#   podman, runc       building the image and running the daemon from it in the tests; runc
#                      because crun refuses hosts with cgroups v1 and v2 mounted side by side
#   tcpdump            captures on the lab fabric: what the wire carries (socket-lb lab test)
#   linux-perf         where a short connection's CPU time goes (PathBench profile)
#   prometheus         only for promtool: the tests check config/prometheus rules (check + unit tests)
packages=(clang llvm libbpf-dev libbpf1 bpftool iproute2 ethtool iptables nftables curl socat
          wrk nginx-light maven openjdk-17-jdk-headless python3 python3-matplotlib
          procps util-linux kmod python3-scapy mmdebstrap podman runc prometheus tcpdump linux-perf)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# nginx-light's package starts a server on install; the benchmarks run their own instances.
if [[ " ${missing[*]:-} " == *" nginx-light "* ]] && command -v systemctl >/dev/null 2>&1; then
  systemctl disable --now nginx >/dev/null 2>&1 || true
fi
# prometheus is here for promtool; its server is not wanted on a test machine.
if [[ " ${missing[*]:-} " == *" prometheus "* ]] && command -v systemctl >/dev/null 2>&1; then
  systemctl disable --now prometheus >/dev/null 2>&1 || true
fi

# prometheus's package starts a server on install; only its promtool is wanted.
if [[ " ${missing[*]:-} " == *" prometheus "* ]] && command -v systemctl >/dev/null 2>&1; then
  systemctl disable --now prometheus >/dev/null 2>&1 || true
fi

# The BPF filesystem holds the pinned maps that outlive the daemon.
if ! mountpoint -q /sys/fs/bpf; then
  mount -t bpf bpf /sys/fs/bpf
fi

# The kernel must offer what the datapath uses; say so clearly instead of failing later.
for mod in sch_ingress cls_bpf veth macvlan; do
  modprobe -q "$mod" 2>/dev/null || true
done
echo "setup.sh: prerequisites present"
