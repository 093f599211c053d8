#!/usr/bin/env bash
# Makes `docker compose` work on a machine that has the Docker CLI but not the
# Compose v2 plugin (no Docker engine is needed for `docker compose config`).
#
# If `docker compose version` already works, this does nothing. Otherwise it
# builds Docker Compose from the Go module proxy, caches the binary in
# ${CAREPATH_CACHE:-$HOME/.cache/carepath}/bin and installs it as a Docker CLI
# plugin at ${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins/docker-compose.
#
# `go install github.com/docker/compose/v2/cmd@VERSION` is refused because
# Compose's go.mod has exclude directives, so the binary is built as a
# dependency of a throwaway module instead. If that plain build cannot resolve
# its dependencies, the versions (and excludes) of Compose's own go.mod are
# pinned and the build is retried. COMPOSE_PIN_DEPS=1 pins from the start.
#
# Environment: COMPOSE_VERSION (default v2.40.3), CAREPATH_CACHE, DOCKER_CONFIG.
set -euo pipefail

COMPOSE_VERSION="${COMPOSE_VERSION:-v2.40.3}"
COMPOSE_MODULE="github.com/docker/compose/v2"
CACHE_DIR="${CAREPATH_CACHE:-$HOME/.cache/carepath}"
CACHED_BIN="$CACHE_DIR/bin/docker-compose-$COMPOSE_VERSION"
PLUGIN_DIR="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
PLUGIN="$PLUGIN_DIR/docker-compose"
BUILD_LOG="$CACHE_DIR/compose-build.log"

die() { echo "install-compose: $*" >&2; exit 1; }

command -v docker >/dev/null 2>&1 ||
	die "the docker CLI is not on PATH; Compose is installed as a plugin of it"

if docker compose version >/dev/null 2>&1; then
	echo "install-compose: $(docker compose version 2>/dev/null | head -n1) already installed"
	exit 0
fi

# pin_from_upstream MODDIR: require every module at the version Compose's own
# go.mod names, and copy its excludes, so the build list matches upstream's.
pin_from_upstream() {
	local moddir="$1" upstream_gomod
	upstream_gomod="$(cd "$moddir" && go mod download -json "$COMPOSE_MODULE@$COMPOSE_VERSION" |
		sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
	[[ -n "$upstream_gomod" && -f "$upstream_gomod" ]] || return 1
	local -a edits=()
	local kind path version
	while read -r kind path version; do
		[[ -n "$path" ]] || continue
		edits+=("-$kind=$path@$version")
	done < <(go mod edit -json "$upstream_gomod" | awk '
		/"Require": \[/ { mode = "require"; next }
		/"Exclude": \[/ { mode = "exclude"; next }
		/^\t\]/         { mode = ""; next }
		mode != "" && /"Path":/    { gsub(/[",]/, "", $2); p = $2 }
		mode != "" && /"Version":/ { gsub(/[",]/, "", $2); print mode, p, $2 }
	')
	((${#edits[@]} > 0)) || return 1
	(cd "$moddir" && go mod edit "${edits[@]}")
}

# build_compose OUT: build Docker Compose into OUT; the log goes to BUILD_LOG.
build_compose() {
	local out="$1" moddir
	moddir="$(mktemp -d "${TMPDIR:-/tmp}/composebuild.XXXXXX")"
	# shellcheck disable=SC2064 # expand moddir now, the local is gone at exit
	trap "rm -rf '$moddir'" EXIT
	cat >"$moddir/go.mod" <<EOF
module composebuild

require $COMPOSE_MODULE $COMPOSE_VERSION
EOF
	cat >"$moddir/tools.go" <<'EOF'
//go:build tools

package tools

import _ "github.com/docker/compose/v2/cmd"
EOF
	local ldflags="-s -w -X $COMPOSE_MODULE/internal.Version=$COMPOSE_VERSION"
	local attempt
	for attempt in plain pinned; do
		if [[ "$attempt" == plain && "${COMPOSE_PIN_DEPS:-0}" == 1 ]]; then
			continue
		fi
		if [[ "$attempt" == pinned ]]; then
			echo "== pinning the versions of Compose's own go.mod" >>"$BUILD_LOG"
			pin_from_upstream "$moddir" >>"$BUILD_LOG" 2>&1 || return 1
		fi
		if (
			cd "$moddir" &&
				go mod tidy -e &&
				CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out.tmp" "$COMPOSE_MODULE/cmd"
		) >>"$BUILD_LOG" 2>&1; then
			mv -f "$out.tmp" "$out"
			return 0
		fi
	done
	return 1
}

mkdir -p "$CACHE_DIR/bin" "$PLUGIN_DIR"

if [[ -x "$CACHED_BIN" ]] && "$CACHED_BIN" version >/dev/null 2>&1; then
	echo "install-compose: installing cached Docker Compose $COMPOSE_VERSION as a Docker CLI plugin"
else
	command -v go >/dev/null 2>&1 || die "go is not on PATH; it is needed to build Docker Compose"
	echo "install-compose: building Docker Compose $COMPOSE_VERSION from the Go module proxy (a few minutes on a cold cache; log: $BUILD_LOG)"
	: >"$BUILD_LOG"
	if ! build_compose "$CACHED_BIN"; then
		tail -n 30 "$BUILD_LOG" >&2
		die "building Docker Compose $COMPOSE_VERSION failed; full log in $BUILD_LOG"
	fi
fi

install -m 0755 "$CACHED_BIN" "$PLUGIN"
docker compose version >/dev/null 2>&1 ||
	die "installed $PLUGIN, but \`docker compose version\` still fails"
