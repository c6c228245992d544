#!/usr/bin/env bash
# Builds the enilb OCI image (daemon, plugin with its runtime, enilbctl, BPF object, a Java runtime)
# from Debian packages and the Maven build alone: no base image is pulled from any registry.
#
#   image/build.sh            # as root; tags the image with the name config/kubernetes/daemonset.yaml uses
#
# 1. a minimal Debian root filesystem (mmdebstrap, only the libraries the JVM and libbpf load, and
#    dash for the launchers), imported as a base image;
# 2. the daemon's runtime: jlink'ed with the modules its libraries use;
# 3. the distribution (daemon/target/enilb, built with Maven if missing), which carries the plugin
#    and the plugin's own runtime (bin/enilb-jre), and util-linux's nsenter (for the mount-cgroup
#    init container), copied onto the base with podman build.
# Steps 1 and 2 are cached under $ENILB_IMAGE_CACHE (default /var/cache/enilb-image), keyed by
# their inputs; a rebuild after a code change only copies the distribution again.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

if [ "$(id -u)" -ne 0 ]; then
  echo "image/build.sh: run as root (mmdebstrap and podman need it); with sudo: sudo image/build.sh" >&2
  exit 1
fi
for tool in mmdebstrap podman jlink; do
  command -v "$tool" >/dev/null || { echo "image/build.sh: $tool is missing; run integration/setup.sh" >&2; exit 1; }
done

dist=${ENILB_DIST:-$repo/daemon/target/enilb}
cache=${ENILB_IMAGE_CACHE:-/var/cache/enilb-image}
suite=bookworm
# the image's name is the one the DaemonSet pulls: one place to change it
tag=$(sed -n 's/^ *image: *\([^ ]*\).*/\1/p' config/kubernetes/daemonset.yaml | head -n 1)
version=$(sed -n 's:^  <version>\(.*\)</version>:\1:p' pom.xml | head -n 1)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
source_url=${ENILB_IMAGE_SOURCE:-$(git remote get-url origin 2>/dev/null || echo "unpublished (no git remote)")}
mkdir -p "$cache"

if [ ! -x "$dist/bin/enilbd" ] || [ ! -x "$dist/bin/enilb-jre/bin/java" ]; then
  echo "image/build.sh: building the distribution"
  mvn -B -q package -DskipTests -pl daemon -am
fi

# --- 1. root filesystem -------------------------------------------------------------------------
# What each package is for:
#   libc6, libgcc-s1, libstdc++6, zlib1g   what libjvm.so and the JDK's libraries link against
#   libbpf1, libelf1                       the library the daemon loads through jnr-ffi, and its ELF reader
#   dash                                   /bin/sh for the launchers (bin/enilbd, bin/enilbctl, enilb-cni)
packages=libc6,libgcc-s1,libstdc++6,zlib1g,libbpf1,libelf1,dash
# documentation, translations and the charset converters (iconv; Java has its own) are not needed
trim='rm -rf "$1"/usr/share/doc "$1"/usr/share/man "$1"/usr/share/locale "$1"/usr/share/lintian "$1"/usr/lib/x86_64-linux-gnu/gconv "$1"/var/cache/* "$1"/var/lib/apt/lists/*'
etc='mkdir -p "$1"/etc "$1"/root && printf "root:x:0:0:root:/root:/bin/sh\n" > "$1"/etc/passwd && printf "root:x:0:\n" > "$1"/etc/group'
# extract: the packages' files only, no package manager, no maintainer scripts (and so only
# extract hooks run; customize hooks do not in this variant)
rootfs_args=(--quiet --format=tar --variant=extract --include="$packages"
  --extract-hook="$etc" --extract-hook='mkdir -p -m 1777 "$1"/tmp' --extract-hook='ldconfig -r "$1"'
  --extract-hook="$trim" "$suite")
base_key=$(printf '%s\n' "${rootfs_args[@]}" "$(mmdebstrap --version)" | sha256sum | cut -c1-16)
base_image=localhost/enilb-base:$base_key
if ! podman image exists "$base_image"; then
  rootfs="$cache/rootfs-$base_key.tar"
  if [ ! -f "$rootfs" ]; then
    echo "image/build.sh: root filesystem ($packages)"
    mmdebstrap "${rootfs_args[@]}" "$rootfs.tmp"
    mv "$rootfs.tmp" "$rootfs"
  fi
  podman import --quiet "$rootfs" "$base_image" >/dev/null
fi

# --- 2. the daemon's Java runtime ----------------------------------------------------------------
# The modules the daemon's libraries use (jdeps --print-module-deps over lib/*.jar), and
# jdk.crypto.ec, which TLS to the API server loads as a provider (jdeps cannot see that).
modules=java.base,java.compiler,java.desktop,java.logging,java.management,java.naming,java.net.http,java.sql,jdk.crypto.ec,jdk.jfr,jdk.management,jdk.unsupported
jdk_version=$(java -version 2>&1 | head -n 2 | tr '\n' ' ')
jre_key=$(printf '%s\n' "$modules" "$jdk_version" cds | sha256sum | cut -c1-16)
jre="$cache/jre-$jre_key"
if [ ! -x "$jre/bin/java" ]; then
  echo "image/build.sh: daemon runtime ($modules)"
  rm -rf "$jre.tmp"
  # with the JDK's class-data archive (jlink does not make one by default): the daemon starts
  # 1.1 – 1.8 s sooner (docs/BENCHMARKS.md); only the compressed-pointer one, as enilbd's heap is
  # far below 32 GB
  jlink --add-modules "$modules" --output "$jre.tmp" --strip-debug --strip-native-debug-symbols=exclude-debuginfo-files \
    --no-header-files --no-man-pages --compress=2 --generate-cds-archive
  rm -f "$jre.tmp/lib/server/classes_nocoops.jsa"
  mv "$jre.tmp" "$jre"
fi

# --- nsenter: the one util-linux tool the image needs -------------------------------------------
# The mount-cgroup init container joins the node's mount and cgroup namespaces with it (enilbctl
# cgroup mount; a JVM cannot join a mount namespace). The util-linux package would bring PAM,
# libsystemd and, through debconf, perl (some 20 MB) for a 35 kB binary that links only libc and
# libselinux, which the base has.
nsenter_version=$(apt-cache policy util-linux | sed -n 's/^ *Candidate: *//p')
[ -n "$nsenter_version" ] || { echo "image/build.sh: apt knows no util-linux (apt-get update?)" >&2; exit 1; }
nsenter="$cache/nsenter-$nsenter_version"
if [ ! -x "$nsenter" ]; then
  echo "image/build.sh: nsenter of util-linux $nsenter_version"
  deb=$(mktemp -d "$cache/util-linux.XXXXXX")
  (cd "$deb" && apt-get download -q "util-linux=$nsenter_version" >/dev/null 2>&1)
  dpkg-deb --fsys-tarfile "$deb"/util-linux_*.deb | tar -x -C "$deb" ./usr/bin/nsenter
  mv "$deb/usr/bin/nsenter" "$nsenter.tmp" && mv "$nsenter.tmp" "$nsenter"
  rm -rf "$deb"
fi

# --- 3. the image -------------------------------------------------------------------------------
# what goes in, so that an unchanged tree is not copied again (tests build the image every run)
inputs=$( { echo "$base_image $jre_key $nsenter_version $version $revision $source_url"; cat config/enilb.yaml;
            find "$dist" -printf '%P %s %T@ %m\n' | sort; } | sha256sum | cut -c1-32)
previous=$(podman image inspect --format '{{.Id}} {{index .Labels "io.enilb.image.inputs"}}' "$tag" 2>/dev/null || true)
if [ "${previous#* }" = "$inputs" ]; then
  echo "image/build.sh: $tag is up to date"
  exit 0
fi
context=$(mktemp -d "$cache/context.XXXXXX")
trap 'rm -rf "$context"' EXIT
cp -a "$jre" "$context/jre"
cp -a "$dist" "$context/enilb"
cp "$nsenter" "$context/nsenter"
mkdir -p "$context/etc"
cp config/enilb.yaml "$context/etc/enilb.yaml"
cat > "$context/Containerfile" <<EOF
FROM $base_image
COPY jre /opt/enilb/jre
COPY enilb /opt/enilb
COPY etc/enilb.yaml /etc/enilb/enilb.yaml
COPY nsenter /usr/bin/nsenter
ENV PATH=/opt/enilb/bin:/usr/bin:/bin
LABEL org.opencontainers.image.title="enilb" \\
      org.opencontainers.image.description="ClusterIP Services for pods that own their network card, in eBPF on the pod's NIC" \\
      org.opencontainers.image.version="$version" \\
      org.opencontainers.image.revision="$revision" \\
      org.opencontainers.image.source="$source_url" \\
      io.enilb.image.inputs="$inputs"
CMD ["/opt/enilb/bin/enilbd", "--config", "/etc/enilb/enilb.yaml"]
EOF
# COPY only, nothing runs at build time; the base is local, never pulled
podman build --quiet --pull=never --network=none --layers=false -t "$tag" "$context" >/dev/null
# the image this one replaces would stay behind untagged
if [ -n "$previous" ]; then
  podman rmi "${previous%% *}" >/dev/null 2>&1 || true
fi
size=$(podman image inspect --format '{{.Size}}' "$tag")
echo "image/build.sh: $tag built, $((size / 1024 / 1024)) MiB (version $version, revision ${revision:0:12})"
