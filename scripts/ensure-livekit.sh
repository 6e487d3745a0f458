#!/usr/bin/env bash
# Makes sure the video test can run against a real LiveKit server: builds
# the pinned livekit-server with `go install` into a cache directory when
# it is not there yet, and prints its path. The version is pinned here (the
# module proxy serves v1.7.2; newer ones are refused).
set -euo pipefail
version=v1.7.2
dir="${XDG_CACHE_HOME:-$HOME/.cache}/fhirserver/livekit-$version"
bin="$dir/server"
if [ ! -x "$bin" ]; then
  echo "building livekit-server $version (once; a few minutes)" >&2
  mkdir -p "$dir"
  GOBIN="$dir" GOFLAGS= go install "github.com/livekit/livekit-server/cmd/server@$version" >&2 || {
    echo "cannot build livekit-server $version: the video test needs it (go install github.com/livekit/livekit-server/cmd/server@$version)" >&2
    exit 1
  }
fi
echo "$bin"
