#!/usr/bin/env bash
# Install the real servers that tests/real_servers.py starts: ProFTPD (with mod_tls for FTPS),
# Pure-FTPd and OpenSSH's sshd (SFTP through internal-sftp), all from Debian's packages:
#
#     sudo bash scripts/install-test-servers.sh
#
# Idempotent and quiet: it runs `apt-get update` only when something is missing, and prints what
# it installed (or that nothing was needed).
#
# Debian's proftpd-core and pure-ftpd both "Provide" and "Conflict" with ftp-server, so dpkg
# cannot install both. ProFTPD is installed as a package; Pure-FTPd's .deb is fetched with
# `apt-get download` (the same Debian archive) and unpacked with `dpkg-deb -x` under
# $PURE_FTPD_PREFIX (default /opt/powerpro-moodle-test-servers/pure-ftpd), where
# tests/real_servers.py looks for it; its shared libraries are installed as packages.
#
# The tests run each server as an ordinary process on a loopback port with its own config file,
# so the packages' own services must not run: starts during the install are denied by a
# policy-rc.d (one that already exists is left as it is), the units of what this script installed
# are disabled on a host with systemd, and one started anyway that listens on port 21 or 22 is
# stopped (a system sshd that was there before is left alone).
set -euo pipefail

PACKAGES=(
    proftpd-core        # /usr/sbin/proftpd (its modules are DSOs in /usr/lib/proftpd)
    proftpd-mod-crypto  # mod_tls.so: explicit FTPS (not in proftpd-core)
    openssh-server      # /usr/sbin/sshd with internal-sftp
    openssh-client      # ssh, sftp, ssh-keygen (the SFTP smoke tests)
    # what pure-ftpd's binaries link against (its package's Depends, less inetd and debconf)
    libc6 libcap2 libcrypt1 libpam0g libsodium23 libssl3
)
PURE_FTPD_PREFIX=${PURE_FTPD_PREFIX:-/opt/powerpro-moodle-test-servers/pure-ftpd}

if [ "$(id -u)" -ne 0 ]; then
    echo "install-test-servers: run as root (sudo bash $0)" >&2
    exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    if [ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)" != "installed" ]; then
        missing+=("$pkg")
    fi
done
need_pure=""
[ -x "$PURE_FTPD_PREFIX/usr/sbin/pure-ftpd" ] && [ -x "$PURE_FTPD_PREFIX/usr/bin/pure-pw" ] || need_pure=1

if [ "${#missing[@]}" -eq 0 ] && [ -z "$need_pure" ]; then
    echo "install-test-servers: already installed (proftpd $(dpkg-query -W -f='${Version}' proftpd-core)," \
        "pure-ftpd $(cat "$PURE_FTPD_PREFIX/VERSION" 2>/dev/null || echo '?'), openssh-server" \
        "$(dpkg-query -W -f='${Version}' openssh-server))"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
work=$(mktemp -d)
policy=/usr/sbin/policy-rc.d
own_policy=""
cleanup() {
    rm -rf "$log" "$work"
    if [ -n "$own_policy" ]; then rm -f "$policy"; fi
}
trap cleanup EXIT
quietly() { # run a command, showing its output only when it fails
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        echo "install-test-servers: failed: $*" >&2
        exit 1
    fi
}

# No service starts during the install (invoke-rc.d and deb-systemd-invoke both ask policy-rc.d).
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# install-test-servers.sh: no service starts while it installs\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=1
fi

quietly apt-get -qq update
installed=()
if [ "${#missing[@]}" -gt 0 ]; then
    # --no-remove: never take away a package that conflicts (e.g. a system pure-ftpd: Debian's
    # proftpd-core and pure-ftpd conflict), fail instead.
    quietly apt-get -qq -y --no-install-recommends --no-remove install "${missing[@]}"
    for pkg in "${missing[@]}"; do
        installed+=("$pkg $(dpkg-query -W -f='${Version}' "$pkg")")
    done
fi

if [ -n "$need_pure" ]; then
    chmod 755 "$work"
    if id _apt >/dev/null 2>&1; then chown _apt "$work"; fi  # apt downloads as _apt
    (cd "$work" && quietly apt-get -qq download pure-ftpd)
    deb=$(ls "$work"/pure-ftpd_*.deb)
    rm -rf "$PURE_FTPD_PREFIX.new"
    mkdir -p "$PURE_FTPD_PREFIX.new"
    dpkg-deb -x "$deb" "$PURE_FTPD_PREFIX.new"
    dpkg-deb -f "$deb" Version >"$PURE_FTPD_PREFIX.new/VERSION"
    if ldd "$PURE_FTPD_PREFIX.new/usr/sbin/pure-ftpd" | grep -q "not found"; then
        ldd "$PURE_FTPD_PREFIX.new/usr/sbin/pure-ftpd" >&2
        echo "install-test-servers: pure-ftpd lacks a shared library (see above)" >&2
        exit 1
    fi
    rm -rf "$PURE_FTPD_PREFIX"
    mv "$PURE_FTPD_PREFIX.new" "$PURE_FTPD_PREFIX"
    installed+=("pure-ftpd $(cat "$PURE_FTPD_PREFIX/VERSION") (unpacked in $PURE_FTPD_PREFIX)")
fi

# On a host with systemd, the units of what was just installed would start at the next boot.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    for pkg in "${missing[@]}"; do
        case "$pkg" in
            proftpd-core) systemctl disable --now proftpd >/dev/null 2>&1 || true ;;
            openssh-server) systemctl disable --now ssh >/dev/null 2>&1 || true ;;
        esac
    done
fi

# What was just installed must not be serving on the well-known ports (a system sshd that was
# there before is left alone): stop it by the pid in its pid file, then check again.
for pkg in "${missing[@]}"; do
    case "$pkg" in
        proftpd-core) name=proftpd port=21 pidfile=/run/proftpd.pid ;;
        openssh-server) name=sshd port=22 pidfile=/run/sshd.pid ;;
        *) continue ;;
    esac
    listening() { ss -Hltnp 2>/dev/null | awk -v p=":$port" 'substr($4, length($4) - length(p) + 1) == p' | grep -q "\"$name\""; }
    if command -v ss >/dev/null && listening; then
        if [ -s "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; sleep 1; fi
        if listening; then
            echo "install-test-servers: $name from $pkg is listening on port $port; stop it" >&2
            exit 1
        fi
    fi
done

echo "install-test-servers: installed:"
for line in "${installed[@]}"; do
    echo "  $line"
done
