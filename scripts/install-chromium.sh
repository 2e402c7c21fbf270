#!/usr/bin/env bash
# Installs what pip cannot: Chromium for the browser tests and a CJK font so Chinese text
# renders in screenshots. Debian's package where apt-get can be used (Playwright's own
# browser download is blocked on the project machines); elsewhere (macOS, other Linux) the
# browser that Playwright manages, downloaded once by `playwright install chromium`.
# Does nothing when a Chromium or Chrome is already on PATH.
set -euo pipefail

for name in chromium chromium-browser google-chrome; do
  if command -v "$name" >/dev/null 2>&1; then
    exit 0
  fi
done

PYTHON="${PYTHON:-.venv/bin/python}"
playwright_chromium() {
  echo "Installing Playwright's Chromium (playwright install chromium)..."
  if ! "$PYTHON" -m playwright install chromium; then
    echo "Could not install a Chromium: install one by hand (or set CHROMIUM=/path/to/it)," >&2
    echo "then run the tests again." >&2
    exit 1
  fi
}

sudo=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo="sudo"
fi
if ! command -v apt-get >/dev/null 2>&1 || { [ "$(id -u)" -ne 0 ] && [ -z "$sudo" ]; }; then
  playwright_chromium
  exit 0
fi

echo "Installing Chromium from Debian's packages (about a minute)..."
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null
