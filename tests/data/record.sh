#!/bin/sh
# Record buildah's build output for the parser tests.
#
# Usage: record.sh STORAGE_FOLDER OUTPUT_FOLDER
#
# STORAGE_FOLDER must contain a fresh buildah storage (STORAGE_FOLDER/root
# and STORAGE_FOLDER/run, overlay driver) with only localhost/busybox:latest
# in it, so that the first build is cold. `stagescope base-images --root
# STORAGE_FOLDER/root --runroot STORAGE_FOLDER/run --storage-driver overlay`
# makes one. Each build runs the way stagescope runs it (bud --layers
# --force-rm, stdout and stderr together) from the Containerfiles in
# OUTPUT_FOLDER, which is also the build context. images.txt lists every
# image ID and name in the storage afterwards, so the tests can map buildah's
# short IDs to full ones. Run derive_buildah_1_30.py afterwards to refresh
# the derived 1.30 fixtures.
set -u
storage=$1
out=$2
b() { buildah --root "$storage/root" --runroot "$storage/run" --storage-driver overlay "$@"; }
bud() {
    name=$1; file=$2; shift 2
    b bud --layers --force-rm --isolation chroot -f "$out/$file" "$@" "$out" \
        >"$out/$name.txt" 2>&1
    echo "$name: exit status $?"
}
bud cold multistage.Containerfile
bud warm multistage.Containerfile
bud target-first target.Containerfile --target first
bud target-second target.Containerfile --target second
bud failing failing.Containerfile
bud glued glued.Containerfile
bud fakestep fakestep.Containerfile
bud fromonly fromonly.Containerfile
# ONBUILD is kept in the docker image format only.
bud onbuild-base onbuild-base.Containerfile --format docker --tag localhost/onbuild-base
bud onbuild onbuild.Containerfile --format docker
b images --all --no-trunc --format '{{.ID}} {{.Name}}:{{.Tag}}' >"$out/images.txt"
