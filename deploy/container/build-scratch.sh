#!/usr/bin/env bash
# Builds the from-scratch image from a static musl binary (no base image is
# pulled): deploy/container/build-scratch.sh [TAG]. Needs the Rust target
# x86_64-unknown-linux-musl, musl-tools (musl-gcc, for ring's C code) and
# podman or docker. `--format docker` keeps the HEALTHCHECK (OCI images have
# no healthcheck field).
set -euo pipefail
cd "$(dirname "$0")/../.."
tag=${1:-localhost/onshi-server:scratch}
# ENGINE may carry options: ENGINE="podman --storage-driver=vfs".
read -ra engine <<<"${ENGINE:-podman}"

CC_x86_64_unknown_linux_musl=${CC_x86_64_unknown_linux_musl:-musl-gcc} \
  cargo build --release --locked -p onshi-server \
  --target x86_64-unknown-linux-musl --target-dir target/musl
binary=target/musl/x86_64-unknown-linux-musl/release/onshi-server
# glibc's ldd says "statically linked" (static-pie) or "not a dynamic executable".
if ! ldd "$binary" 2>&1 | grep -qE 'statically linked|not a dynamic executable'; then
  echo "$binary is not static: $(ldd "$binary" 2>&1 | head -n 3)" >&2; exit 1
fi

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp "$binary" "$context/onshi-server"
install -d -m 0700 "$context/rootfs/var/lib/onshi"
install -d -m 1777 "$context/rootfs/tmp"
build_args=()
[ "${engine[0]}" = podman ] && build_args+=(--format docker)
"${engine[@]}" build "${build_args[@]}" -f deploy/container/Containerfile.scratch -t "$tag" "$context"
echo "built $tag ($(du -h "$binary" | cut -f1) binary)"
