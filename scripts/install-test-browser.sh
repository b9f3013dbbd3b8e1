#!/usr/bin/env bash
# Install the browser tests/test_ui_browser.py drives: Debian's chromium and its chromedriver.
#
#     sudo bash scripts/install-test-browser.sh
#
# Idempotent and quiet: it runs `apt-get update` only when a package is missing, and prints what
# it installed (or that nothing was needed). The browser and the driver come from the Debian
# archive only: the test never lets selenium download one (no Selenium Manager), and neither
# does this script.
set -euo pipefail

PACKAGES=(
    chromium         # /usr/bin/chromium
    chromium-driver  # /usr/bin/chromedriver, the same version as the browser
)

installed_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true; }

missing=()
for pkg in "${PACKAGES[@]}"; do
    if [ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)" != "installed" ]; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-test-browser: already installed (chromium $(installed_version chromium))"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-test-browser: ${missing[*]} missing; run as root (sudo bash $0)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
quietly() { # run a command, showing its output only when it fails
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        echo "install-test-browser: failed: $*" >&2
        exit 1
    fi
}

quietly apt-get -qq update
quietly apt-get -qq -y --no-install-recommends install "${missing[@]}"

echo "install-test-browser: installed:"
for pkg in "${missing[@]}"; do
    echo "  $pkg $(installed_version "$pkg")"
done
