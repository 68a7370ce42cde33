#!/usr/bin/env bash
# Packages the scan Lambda after `cargo build --release -p lambdas --bins` (`make lambda` runs both) into
# $TARGET_DIR/lambda/ (TARGET_DIR: $CARGO_TARGET_DIR or target):
#   bootstrap, definitions        the release binaries
#   bootstrap.zip                 the zip package for the provided.al2023 runtime (built-in scanner, no clamd)
#   Dockerfile, container/        the container image's build context: docker build -t taskforge-scan <that dir>
# The binaries must run on Amazon Linux 2023, whose glibc is 2.34: a binary that needs newer symbols (built on a
# newer distribution with newer features in use) fails there at start-up, so that is checked here.
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir=${CARGO_TARGET_DIR:-target}
out=$target_dir/lambda
max_glibc=2.34

die() { printf 'package-lambda: error: %s\n' "$*" >&2; exit 1; }

for bin in bootstrap definitions; do
    [[ -x $target_dir/release/$bin ]] || die "$target_dir/release/$bin missing: cargo build --release -p lambdas --bins"
done
rm -rf "$out"
mkdir -p "$out/container"
cp "$target_dir/release/bootstrap" "$target_dir/release/definitions" "$out/"
cp lambdas/Dockerfile "$out/"
cp lambdas/container/entrypoint.sh lambdas/container/clamd.conf lambdas/container/freshclam.conf "$out/container/"

if command -v objdump >/dev/null 2>&1; then
    for bin in bootstrap definitions; do
        needed=$(objdump -T "$out/$bin" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
        if [[ $(printf '%s\n%s\n' "$needed" "$max_glibc" | sort -V | tail -1) != "$max_glibc" ]]; then
            die "$bin needs glibc $needed, Amazon Linux 2023 has $max_glibc: build on an older distribution"
        fi
        printf 'package-lambda: %s needs glibc %s (Amazon Linux 2023 has %s)\n' "$bin" "$needed" "$max_glibc"
    done
else
    printf 'package-lambda: warning: objdump (binutils) not found, the glibc check was NOT run\n' >&2
fi

# The zip package: `bootstrap` at the root, executable (zipfile keeps the mode bits).
python3 - "$out" <<'PY'
import os, sys, zipfile
out = sys.argv[1]
with zipfile.ZipFile(os.path.join(out, "bootstrap.zip"), "w", zipfile.ZIP_DEFLATED) as z:
    z.write(os.path.join(out, "bootstrap"), "bootstrap")
PY
printf 'package-lambda: %s/bootstrap.zip (%s bytes) and the image context in %s/\n' \
    "$out" "$(stat -c %s "$out/bootstrap.zip")" "$out"
