#!/usr/bin/env bash
# Install Debian's chromium for the browser tests of `cellscale label` (tests/label/test_browser.py
# drives /usr/bin/chromium with Playwright; never `playwright install`, which downloads a browser).
# Idempotent and unattended: does nothing when /usr/bin/chromium exists; otherwise installs the
# `chromium` package with apt-get, as root or through sudo when that works without a password,
# running `apt-get update` first only if the first try fails. Exits 1 with a message saying what to
# do when it cannot install.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
    echo "install-chromium: $CHROMIUM is already installed ($("$CHROMIUM" --version 2>/dev/null || echo 'version unknown'))"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-chromium: error: $CHROMIUM is missing and this system has no apt-get; install" \
         "Chromium so that $CHROMIUM exists (the browser tests skip without it, and fail when CI is set)" >&2
    exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "install-chromium: error: $CHROMIUM is missing and installing it needs root; run" \
         "'sudo apt-get install -y chromium' (or this script as root)" >&2
    exit 1
fi

apt_install() {
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
}

if ! apt_install; then
    echo "install-chromium: apt-get install failed; updating the package lists and trying again" >&2
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
    apt_install
fi

if [ ! -x "$CHROMIUM" ]; then
    echo "install-chromium: error: the chromium package installed, but $CHROMIUM does not exist" \
         "(a distribution that ships it elsewhere?); link it to $CHROMIUM" >&2
    exit 1
fi
echo "install-chromium: installed $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
