#!/usr/bin/env bash
# install-test-deps.sh installs everything Mamori's test suite needs on Debian 12:
# the real MTAs, clamd, Redis, PostgreSQL and helpers the integration tests start on private
# ports, plus Sendmail unpacked into a private prefix (it conflicts with postfix
# as an installed package). It is idempotent: a second run only checks.
set -euo pipefail

[ "$(id -u)" = 0 ] || { echo "install-test-deps: run as root (it calls apt-get)" >&2; exit 2; }

top=$(cd "$(dirname "$0")/.." && pwd)
sendmail_prefix=${MAMORI_SENDMAIL_PREFIX:-/opt/mamori-test/sendmail}

pkgs=(postfix clamav-daemon clamav clamav-milter p7zip-full zip redis-server swaks opendkim-tools
      m4 libwrap0 iproute2 ca-certificates procps opendkim postgresql chromium)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done

export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -gt 0 ]; then
	echo "install-test-deps: installing ${missing[*]}"
	# "No configuration" keeps the package from writing a system main.cf or
	# starting a system Postfix: the tests run private instances only.
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The packages start system daemons where an init system exists; the tests
# never use them, and a system clamd would try to load (absent) signatures.
# The PostgreSQL tests run initdb for a private cluster each (harness.StartPostgres);
# the system cluster (15/main on 5432) is left stopped.
for svc in clamav-daemon clamav-freshclam clamav-milter redis-server postfix opendkim postgresql; do
	if command -v service >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
done

# Sendmail: unpack, never install (it would remove postfix).
if [ ! -x "$sendmail_prefix/usr/libexec/sendmail/sendmail" ]; then
	echo "install-test-deps: unpacking sendmail into $sendmail_prefix"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	[ -n "$(apt-cache policy sendmail-bin 2>/dev/null | grep Candidate)" ] || apt-get update -qq
	(cd "$tmp" && apt-get download -qq sendmail-bin sendmail-base sendmail-cf >/dev/null)
	mkdir -p "$sendmail_prefix"
	for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$sendmail_prefix"; done
fi

# Go modules, so that the tests never fetch mid-run.
if command -v go >/dev/null 2>&1 || [ -x /usr/local/go/bin/go ]; then
	PATH=$PATH:/usr/local/go/bin
	(cd "$top" && go mod download)
fi
echo "install-test-deps: ok"
