#!/usr/bin/env bash
# Start N dashboard replicas (`python -m explorer serve`) on 127.0.0.1:BASE_PORT.. and nginx (non-root, its own prefix) in the foreground.
# Usage: deploy/replicas.sh N LISTEN [BASE_PORT]   e.g. deploy/replicas.sh 2 127.0.0.1:8080 8601
# LISTEN=0.0.0.0:8080 exposes the dashboard to the network (README "Demo on a network").
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:?number of replicas}; LISTEN=${2:?listen address, e.g. 127.0.0.1:8080}; BASE=${3:-8601}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { echo "nginx not found: apt-get install nginx (or bash .ci/setup)" >&2; exit 1; }
PREFIX=$(mktemp -d -t latent-explorer-nginx.XXXXXX)
mkdir -p "$PREFIX"/{client_body,proxy,fastcgi,uwsgi,scgi}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM
upstreams=""
for ((i = 0; i < N; i++)); do
  port=$((BASE + i))
  .venv/bin/python -m explorer serve --server.address 127.0.0.1 --server.port "$port" >"$PREFIX/replica-$port.log" 2>&1 &
  pids+=($!)
  upstreams+="        server 127.0.0.1:$port;"$'\n'
done
sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@LISTEN@|$LISTEN|g" deploy/nginx.conf.template |
  awk -v up="$upstreams" '{ if ($0 == "@UPSTREAMS@") printf "%s", up; else print }' >"$PREFIX/nginx.conf"
echo "nginx on $LISTEN -> $N replicas from port $BASE; logs in $PREFIX" >&2
# In the background and waited on, so that a signal to this script reaches the trap at once and stops everything.
"$NGINX" -p "$PREFIX" -c "$PREFIX/nginx.conf" -e "$PREFIX/error.log" &
pids+=($!)
wait "$!"
