#!/usr/bin/env bash
# Installs what pip cannot: Chromium for the browser tests (Debian's package; Playwright's
# own browser download does not work offline) and a CJK font so Chinese text renders in
# screenshots. Does nothing when a Chromium or Chrome is already on PATH.
set -euo pipefail

for name in chromium chromium-browser google-chrome; do
  if command -v "$name" >/dev/null 2>&1; then
    exit 0
  fi
done

if ! command -v apt-get >/dev/null 2>&1; then
  echo "Chromium is missing and this is not a Debian-like system: install Chromium," >&2
  echo "then run the tests again (or set CHROMIUM=/path/to/chromium)." >&2
  exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
  else
    echo "Chromium is missing and installing it needs root: run" >&2
    echo "  apt-get update && apt-get install -y chromium fonts-wqy-microhei" >&2
    exit 1
  fi
fi

echo "Installing Chromium from Debian's packages (about a minute)..."
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null
