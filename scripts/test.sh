#!/usr/bin/env bash
# The whole test suite: installs the Debian test peers it needs when run as root, builds, runs node:test.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the integration tests run for real: command -> package.
declare -A PEERS=( [mosquitto]=mosquitto [pg_ctlcluster]=postgresql [socat]=socat [jq]=jq [curl]=curl [systemd-analyze]=systemd )
missing=()
for cmd in "${!PEERS[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${PEERS[$cmd]}")
done
# The Modbus test server is a Python library, not a command: Debian's own python3 must import it
# (not the first python3 on PATH, e.g. a pyenv one). Its server module needs serial_asyncio, which
# python3-pymodbus only recommends, and --no-install-recommends below would skip it.
/usr/bin/python3 -c 'import pymodbus, serial, serial_asyncio' >/dev/null 2>&1 ||
  missing+=(python3-pymodbus python3-serial python3-serial-asyncio)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test: installing Debian test peers: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # The packages start their own services; the tests start private instances instead.
    systemctl stop mosquitto postgresql >/dev/null 2>&1 || service mosquitto stop >/dev/null 2>&1 || true
  else
    echo "test: missing test peers. Install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

npm run --silent build
# The tests run from source through tsx, which strips types: the compiler checks them here (and the
# @ts-expect-error lines that prove a wrong database column does not compile).
npm run --silent typecheck
# The layers (ARCHITECTURE.md, .dependency-cruiser.cjs): a wrong import fails here, naming its rule.
npm run --silent lint:layers
files=$(find test -name '*.test.ts' | sort)
exec node --import tsx --test --test-concurrency=2 --test-timeout=120000 $files
