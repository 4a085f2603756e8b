#!/usr/bin/env bash
# Installs the system parts the tests need and that cargo cannot fetch: Chromium and its
# WebDriver (the dashboard's browser tests), nats-server (the federation tests), promtool
# (Prometheus' check of /metrics), openapi-spec-validator (the OpenAPI document's check),
# openapi-python-client (a client generated from the document must read every route) and
# tomli-w (deploy/multi-region/make-configs.py writes TOML with it) and schemathesis (a
# schema-driven fuzzer run against the server).
# Does nothing when they are already there, so README's test command and .ci/run call it
# every time. Debian/Ubuntu packages and PyPI only.
set -euo pipefail

# DuckDB's shared library, pinned (the build links it; some tests install it elsewhere).
bash "$(dirname "$0")/fetch-duckdb.sh"

# Python tools, pinned; pip reaches PyPI.
python_tools=("openapi-spec-validator==0.9.0" "openapi-python-client==0.29.1" "tomli-w==1.2.0" "schemathesis==4.32.5")
if ! python3 -c "import openapi_spec_validator, openapi_python_client, tomli_w, schemathesis" >/dev/null 2>&1; then
    echo "installing test parts: ${python_tools[*]}" >&2
    python3 -m pip install --quiet --disable-pip-version-check "${python_tools[@]}"
fi

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v nats-server >/dev/null 2>&1 || missing+=(nats-server)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "installing test parts: ${missing[*]}" >&2
if ! command -v apt-get >/dev/null 2>&1; then
    echo "no apt-get: install ${missing[*]} with this system's package manager" >&2
    exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "not root and no sudo: install ${missing[*]} as root" >&2
        exit 1
    fi
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
command -v chromium >/dev/null && command -v chromedriver >/dev/null && command -v nats-server >/dev/null \
    && command -v promtool >/dev/null
