#!/usr/bin/env bash
# Fails when the committed openapi.json differs from the spec the code produces. The committed file is what the
# web client is generated from and what reviewers read, so an API change must show up in it in the same commit.
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir=${CARGO_TARGET_DIR:-target}
cargo build --quiet --bin taskforge

generated=$(mktemp --suffix=.json)
trap 'rm -f "$generated"' EXIT
"$target_dir/debug/taskforge" openapi --output "$generated"

if [[ ! -f openapi.json ]]; then
    echo "check-openapi: openapi.json is missing; run \`make openapi\` and commit it" >&2
    exit 1
fi
if ! diff -u openapi.json "$generated"; then
    echo >&2
    echo "check-openapi: openapi.json is out of date with the code; run \`make openapi\` and commit the result" >&2
    exit 1
fi
echo "check-openapi: openapi.json matches the code"
