#!/bin/sh
# Install the Debian packages the build needs, or say exactly how to.
# Usage: scripts/deps.sh PACKAGE...
missing=""
for p in "$@"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)
	case "$status" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
	echo "uvfio: installing missing Debian packages:$missing"
	export DEBIAN_FRONTEND=noninteractive
	# Refresh the package lists only when they are missing or a day old.
	if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages' -mtime -1 2>/dev/null | head -1)" ]; then
		apt-get update -q >/dev/null || { echo "uvfio: apt-get update failed" >&2; exit 1; }
	fi
	# tshark's wireshark-common asks whether non-root users may capture:
	# answer no without asking (the traces need no capture rights)
	case " $missing " in *" tshark "*)
		echo "wireshark-common wireshark-common/install-setuid boolean false" |
			debconf-set-selections 2>/dev/null ;;
	esac
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing >/dev/null || {
		echo "uvfio: apt-get install failed; run: apt-get install -y$missing" >&2
		exit 1
	}
	exit 0
fi
echo "uvfio: missing Debian packages. Run as root:" >&2
echo "    sudo apt-get update && sudo apt-get install -y$missing" >&2
exit 1
