#!/usr/bin/env bash
# The infra tests run Debian's promtool and prometheus (alert rules, a real Prometheus scraping Herald) and
# docker-compose (`config` validates infra/docker-compose.yml). Run before `npm test`: install them where we
# can, otherwise say what is missing in one line.
set -euo pipefail
missing=()
command -v promtool >/dev/null && command -v prometheus >/dev/null || missing+=(prometheus)
command -v docker-compose >/dev/null || missing+=(docker-compose)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian's ${missing[*]} for the infra tests"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The package starts no daemon here (no systemd), and the tests run their own Prometheus.
  exit 0
fi
echo "the infra tests need ${missing[*]}: install them (apt-get install ${missing[*]})" >&2
exit 1
