#!/usr/bin/env bash
# Makes sure the browser test can run: Debian's Chromium, Node.js, and the
# test app's npm packages (the SMART JavaScript client and Playwright),
# installing what is missing when we may.
set -euo pipefail
cd "$(dirname "$0")/.."
app=fhirserver/testdata/smartapp

apt_install() {
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "cannot install $* here: run 'sudo apt-get install $*'" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "$@" >/dev/null
}

if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  echo "Chromium not found; installing Debian's chromium package" >&2
  apt_install chromium
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "Node.js not found; installing Debian's nodejs and npm packages" >&2
  apt_install nodejs npm
fi
# npm ci when the packages are missing or older than the lock file.
if [ ! -f "$app/node_modules/.package-lock.json" ] || [ "$app/package-lock.json" -nt "$app/node_modules/.package-lock.json" ]; then
  echo "installing the browser test's npm packages (fhirclient, playwright-core)" >&2
  (cd "$app" && npm ci --legacy-peer-deps --no-audit --no-fund --loglevel=error) || {
    echo "npm could not install the browser test's packages in $app" >&2
    exit 1
  }
fi
