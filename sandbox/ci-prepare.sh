#!/usr/bin/env bash
# Prepares a machine for the sandbox tests: a static busybox for the
# default image, then the image itself. Needs a running Docker daemon and
# only Debian packages and the Go module proxy. Run from anywhere:
#   bash sandbox/ci-prepare.sh
set -euo pipefail
cd "$(dirname "$0")/.."

have_static_busybox() {
	local b
	for b in /bin/busybox /usr/bin/busybox; do
		if [ -x "$b" ] && ! (command -v ldd >/dev/null && ldd "$b" 2>/dev/null | grep -q '=>'); then
			return 0
		fi
	done
	return 1
}
if ! have_static_busybox; then
	echo "ci-prepare: installing busybox-static" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq busybox-static >/dev/null
fi

if command -v docker >/dev/null && ! docker info >/dev/null 2>&1; then
	echo "ci-prepare: Docker is not reachable (DOCKER_HOST=${DOCKER_HOST:-unset}); start it (e.g. service docker start)" >&2
	exit 1
fi

go run ./sandbox/cmd/buildimage
