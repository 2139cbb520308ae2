#!/usr/bin/env bash
# Build a stand-in for SAM's Lambda base image, public.ecr.aws/lambda/python:3.13-x86_64, from Debian
# packages and the machine's own CPython 3.13: no container registry is reachable here, and
# `sam local invoke --skip-pull-image` uses a local image of exactly that tag.
# It is Debian bookworm with CPython 3.13, not Amazon Linux: enough to prove handlers and events.
# Usage: build-base-image.sh WORKDIR PYTHON313 [TAG]
set -euo pipefail
work=$1
python=$2
tag=${3:-public.ecr.aws/lambda/python:3.13-x86_64}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "sam-local: base image $tag already present"
  exit 0
fi
rootfs="$work/rootfs"
rm -rf "$rootfs"
mkdir -p "$rootfs"
# The shared libraries CPython's extension modules link against.
libs=libssl3,libffi8,libsqlite3-0,libbz2-1.0,liblzma5,zlib1g,libreadline8,libncursesw6,libuuid1,libexpat1,libgdbm6,ca-certificates
echo "sam-local: debootstrap bookworm (minbase) into $rootfs"
debootstrap --variant=minbase --include="$libs" bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log" >&2; exit 1; }

prefix=$("$python" -c 'import sys; print(sys.prefix)')
echo "sam-local: CPython from $prefix into /var/lang"
mkdir -p "$rootfs/var/lang"
tar -C "$prefix" \
  --exclude='lib/python3.13/site-packages/*' --exclude='lib/python3.13/test' --exclude='__pycache__' \
  --exclude='lib/python3.13/idlelib' --exclude='lib/python3.13/tkinter' -c . | tar -C "$rootfs/var/lang" -x

echo "sam-local: awslambdaric and boto3 into /var/runtime"
"$python" -m pip install --quiet --no-compile --target "$rootfs/var/runtime" awslambdaric boto3

cat >"$rootfs/var/runtime/bootstrap" <<'BOOT'
#!/bin/sh
export PYTHONPATH=/opt/python/lib/python3.13/site-packages:/opt/python:/var/runtime:${LAMBDA_TASK_ROOT:-/var/task}
exec /var/lang/bin/python3.13 -m awslambdaric "$_HANDLER"
BOOT
chmod +x "$rootfs/var/runtime/bootstrap"
mkdir -p "$rootfs/var/task" "$rootfs/opt"

echo "sam-local: docker import $tag"
tar -C "$rootfs" -c . | docker import \
  -c 'ENV PATH=/var/lang/bin:/usr/local/bin:/usr/bin:/bin' \
  -c 'ENV LD_LIBRARY_PATH=/var/lang/lib' \
  -c 'ENV LANG=C.UTF-8' \
  -c 'ENV LAMBDA_TASK_ROOT=/var/task' \
  -c 'ENV LAMBDA_RUNTIME_DIR=/var/runtime' \
  -c 'WORKDIR /var/task' - "$tag" >/dev/null
rm -rf "$rootfs"
echo "sam-local: built $tag"
