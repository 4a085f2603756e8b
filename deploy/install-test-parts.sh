#!/usr/bin/env bash
# Installs the system parts the tests need and that cargo cannot fetch: Chromium and its
# WebDriver (the dashboard's browser tests) and nats-server (the federation tests). Does
# nothing when they are already there, so README's test command and .ci/run call it every
# time. Debian/Ubuntu packages only.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v nats-server >/dev/null 2>&1 || missing+=(nats-server)
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
command -v chromium >/dev/null && command -v chromedriver >/dev/null && command -v nats-server >/dev/null
