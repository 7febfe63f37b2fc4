#!/usr/bin/env bash
# Installs what building and testing need, on a fresh Debian machine:
# the wasm32-wasip2 Rust target, Postfix (for smtp-sink and the MTA tests),
# the Python packages of tests/requirements.txt, the wasmtime CLI at the
# host's wasmtime version (the command component's tests) and Node.js (the
# second-language host, examples/js). Skips what is already there.
# Usage: scripts/deps.sh [--demo]   (--demo: only what `make demo` needs)
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
  echo "deps: adding the wasm32-wasip2 Rust target" >&2
  rustup target add wasm32-wasip2
fi

PY="${PYTHON:-python3}"
if ! command -v "$PY" >/dev/null; then
  echo "deps: installing Debian's python3" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    python3 python3-venv >/dev/null
fi
# Debian's own Python refuses pip installs (PEP 668, "externally managed"):
# the packages then go into a virtual environment of the project's, .venv,
# which scripts/py (the Makefile's Python) runs from then on.
if ! "$PY" -c 'import os, sys, sysconfig
managed = os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))
sys.exit(managed and sys.prefix == sys.base_prefix)'; then
  if [ ! -x .venv/bin/python ]; then
    echo "deps: $PY is externally managed: making .venv for the test packages" >&2
    if ! "$PY" -m venv .venv 2>/dev/null; then
      rm -rf .venv
      $sudo apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        python3-venv >/dev/null
      "$PY" -m venv .venv
    fi
  fi
  PY=.venv/bin/python
fi
need_py=()
while read -r req; do
  [ -z "$req" ] && continue
  mod="${req%%[<>=]*}"
  case "$mod" in pytest-*) modname="${mod//-/_}" ;; *) modname="$mod" ;; esac
  if [ "${1:-}" = --demo ] && [ "$mod" != aiosmtpd ]; then continue; fi
  "$PY" -c "import $modname" 2>/dev/null || need_py+=("$req")
done < tests/requirements.txt
if [ ${#need_py[@]} -gt 0 ]; then
  echo "deps: pip install ${need_py[*]}" >&2
  "$PY" -m pip install --quiet --disable-pip-version-check "${need_py[@]}"
fi

# Postfix brings smtp-sink and the MTA of the delivery tests; Cyrus SASL
# (sasl2-bin, libsasl2-modules) backs its submission port's AUTH.
if [ "${1:-}" != --demo ] && { [ ! -x /usr/sbin/smtp-sink ] || ! command -v saslpasswd2 >/dev/null; }; then
  echo "deps: installing Debian's postfix, sasl2-bin, libsasl2-modules" >&2
  echo "postfix postfix/main_mailer_type select No configuration" | $sudo debconf-set-selections
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    postfix sasl2-bin libsasl2-modules >/dev/null
fi

[ "${1:-}" = --demo ] && exit 0

# The stock wasmtime CLI, at the version the host is built with (Cargo.lock).
version=$(sed -n '/^name = "wasmtime"$/{n;s/^version = "\(.*\)"$/\1/p;q}' Cargo.lock)
have=$( { wasmtime --version || ~/.cargo/bin/wasmtime --version; } 2>/dev/null | awk '{print $2}' | head -1 || true)
if [ "$have" != "$version" ]; then
  echo "deps: cargo install wasmtime-cli $version (about 15 minutes on 2 cores)" >&2
  cargo install --quiet --locked wasmtime-cli --version "$version"
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "deps: installing Debian's nodejs, npm" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    nodejs npm >/dev/null
fi
