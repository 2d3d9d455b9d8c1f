#!/bin/sh
# The file-heavy job, run by busybox sh on the host and inside containers alike: unpack
# a source tree, stat every file, delete it. Each step's end is announced on stdout,
# where the harness timestamps it.
# usage: fsjob.sh SCRATCH_DIR TARBALL
set -eu
mkdir -p "$1"
cd "$1"
echo begin
tar -xf "$2"
echo untar
find . -print0 | xargs -0 stat -c %s >/dev/null
echo stat
cd /
rm -rf "$1"
echo remove
