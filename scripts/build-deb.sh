#!/bin/sh
# Build ifkit's Debian packages with Debian's own tooling (make deb).
#
# dpkg-buildpackage writes its results to the parent of the source tree and
# its work files into debian/: so it runs on a copy of the tree under
# $BUILD/deb/src, and the .debs land in $BUILD/deb.  The source tree is left
# as it was.  Tools: scripts/install-deps.sh --deb.
set -eu

BUILD=${BUILD:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
case $BUILD in /*) out=$BUILD/deb ;; *) out=$top/$BUILD/deb ;; esac

missing=""
for tool in dpkg-buildpackage dh dpkg-deb fakeroot; do
	command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -n "$missing" ]; then
	echo "make deb: missing:$missing (install them: scripts/install-deps.sh --deb)" >&2
	exit 1
fi

# debian/changelog's version is the package version; it must be ifkit's.
version=$(sed -n 's/^#define IFKIT_VERSION "\(.*\)"$/\1/p' "$top/include/ifkit/version.h")
deb_version=$(cd "$top" && dpkg-parsechangelog -SVersion)
if [ "$deb_version" != "$version" ]; then
	echo "make deb: debian/changelog has $deb_version, include/ifkit/version.h $version:" \
	     "add a changelog entry (dch -v $version)" >&2
	exit 1
fi

rm -rf "$out"
mkdir -p "$out/src/ifkit-$version"
# The tree without build outputs and git metadata.
(cd "$top" && tar --exclude=./build --exclude=./.git --exclude="./$BUILD" -cf - .) |
	tar -C "$out/src/ifkit-$version" -xf -

echo "make deb: dpkg-buildpackage -us -uc -b in $out/src/ifkit-$version"
(cd "$out/src/ifkit-$version" && dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1 || {
	tail -n 40 "$out/build.log" >&2
	echo "make deb: failed; full log in $out/build.log" >&2
	exit 1
}
mv "$out"/src/*.deb "$out"/src/*.buildinfo "$out"/src/*.changes "$out"/ 2>/dev/null || true
rm -rf "$out/src"
echo "make deb: packages in $out:"
ls -1 "$out"/*.deb
