#!/bin/sh
# Install ifkit's build, test and bench dependencies from Debian's archive.
# Idempotent: packages already present are not reinstalled; nothing is fetched
# from anywhere but the configured apt sources.
#
#   scripts/install-deps.sh          build, test and bench dependencies (the
#                                    packaging tools too: make test checks the .debs)
#   scripts/install-deps.sh --deb    only the Debian packaging tools for `make deb`
set -eu

PKGS="make gcc clang llvm pkg-config libbpf-dev libxdp-dev libelf-dev zlib1g-dev libmnl-dev
bpftool libcunit1-dev iproute2 tcpdump tshark iperf3 iputils-ping ethtool
procps psmisc valgrind netcat-openbsd util-linux pv jq systemd
build-essential dpkg-dev debhelper fakeroot"
# dpkg-buildpackage (dpkg-dev), dh (debhelper), fakeroot; build-essential is
# what dpkg-buildpackage's build-dependency check requires implicitly.
DEB_PKGS="build-essential dpkg-dev debhelper fakeroot"

case "${1:-}" in
--deb) PKGS=$DEB_PKGS ;;
"") ;;
*) echo "usage: $0 [--deb]" >&2; exit 2 ;;
esac

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	echo "install-deps: all dependencies present"
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing packages:$missing" >&2
	echo "install-deps: run as root (sudo $0) to install them" >&2
	exit 1
fi

echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# wireshark-common asks whether non-root users may capture; answer no, quietly.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
echo "install-deps: done"
