#!/usr/bin/env bash
# The console's browser tests drive a local Chromium (Debian's package; nothing
# is downloaded from the internet). Run before `npm test`: install it where we
# can, otherwise say what is missing in one line.
set -euo pipefail
browser="${CHROMIUM_PATH:-/usr/bin/chromium}"
[ -x "$browser" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian's chromium for the browser tests"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  exit 0
fi
echo "the browser tests need Chromium at $browser: install it (apt-get install chromium) or set CHROMIUM_PATH" >&2
exit 1
