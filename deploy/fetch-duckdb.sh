#!/usr/bin/env bash
# Puts DuckDB's official shared C library (libduckdb.so, the same version as the `duckdb`
# crate) in deploy/duckdb/lib/, where .cargo/config.toml points the build (DUCKDB_LIB_DIR).
# Linking it instead of compiling DuckDB's C++ makes a first build minutes instead of half an
# hour. The library comes from DuckDB's own npm package @duckdb/node-bindings-linux-x64 (MIT;
# Parquet and JSON built in) and must match the SHA-256 pinned in deploy/duckdb/PINS: a wrong
# or corrupted file is refused, never linked (server/build.rs checks the same pin).
# Does nothing when the right file is already there, so README's commands call it every time.
# Elsewhere than Linux x86-64, build DuckDB from source instead: --features chorus-server/bundled.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
pins="$here/duckdb/PINS"
lib_dir="$here/duckdb/lib"
registry="${npm_config_registry:-https://registry.npmjs.org}"
registry="${registry%/}"

platform="$(uname -s)-$(uname -m)"
case "$platform" in
    Linux-x86_64) package=linux-x64 ;;
    *)
        echo "fetch-duckdb: DuckDB publishes no pinned shared library for $platform here;" >&2
        echo "build DuckDB from source instead: cargo build --workspace --features chorus-server/bundled" >&2
        exit 1 ;;
esac
read -r version expected < <(awk -v p="$package" '$1 == p { print $2, $3 }' "$pins")
if [ -z "${expected:-}" ]; then
    echo "fetch-duckdb: no pin for $package in $pins" >&2
    exit 1
fi

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

if [ -e "$lib_dir/libduckdb.so" ]; then
    actual="$(sha256_of "$lib_dir/libduckdb.so")"
    if [ "$actual" = "$expected" ]; then
        exit 0
    fi
    echo "fetch-duckdb: refusing $lib_dir/libduckdb.so: its SHA-256 is $actual," >&2
    echo "but DuckDB $version ($package) is pinned as $expected in $pins." >&2
    echo "The file is corrupted or not the pinned release; delete it and run this script again." >&2
    exit 1
fi

command -v curl >/dev/null 2>&1 || { echo "fetch-duckdb: curl is needed to fetch DuckDB" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
url="$registry/@duckdb/node-bindings-$package/-/node-bindings-$package-$version.tgz"
echo "fetch-duckdb: fetching DuckDB's shared library $version from $url" >&2
curl --fail --silent --show-error --location --retry 3 --max-time 600 -o "$work/package.tgz" "$url"
tar -xzf "$work/package.tgz" -C "$work" package/libduckdb.so package/LICENSE
actual="$(sha256_of "$work/package/libduckdb.so")"
if [ "$actual" != "$expected" ]; then
    echo "fetch-duckdb: refusing the downloaded libduckdb.so: its SHA-256 is $actual," >&2
    echo "but DuckDB $version ($package) is pinned as $expected in $pins. Nothing was installed." >&2
    exit 1
fi
mkdir -p "$lib_dir"
cp "$work/package/LICENSE" "$lib_dir/LICENSE"
# Same file system as the final place, then an atomic rename: never a half-written library.
cp "$work/package/libduckdb.so" "$lib_dir/.libduckdb.so.partial"
mv "$lib_dir/.libduckdb.so.partial" "$lib_dir/libduckdb.so"
echo "fetch-duckdb: DuckDB $version is in $lib_dir" >&2
