#!/bin/bash
# The compose stack's one-shot `influxdb-tokens` service (the influxdb image, for its influx CLI)
# runs this once InfluxDB is healthy, before the collector and Grafana start. With the admin
# token, which only this service and InfluxDB's first setup see, it makes two tokens scoped to
# the one bucket:
#   $TOKENS_DIR/collector/token   write only: the collector's InfluxDB sink (token_file)
#   $TOKENS_DIR/grafana/token     read only: Grafana's data source ($__file{...})
# Each directory is a volume mounted, read-only, into that one service. A token file whose token
# InfluxDB still knows is kept; a missing one, or one InfluxDB no longer knows (its data volume
# was recreated), is replaced by a new token.
#
# Environment: INFLUX_HOST, INFLUX_TOKEN (the admin token), INFLUX_ORG, INFLUX_BUCKET,
# TOKENS_DIR (default /tokens).
set -euo pipefail

: "${INFLUX_HOST:?}" "${INFLUX_TOKEN:?}" "${INFLUX_ORG:?}" "${INFLUX_BUCKET:?}"
dir="${TOKENS_DIR:-/tokens}"

# The ID is the first column (the rest is padded with tabs), as the image's own entrypoint reads it.
bucket_id="$(influx bucket list --name "$INFLUX_BUCKET" --hide-headers | cut -f 1)"
if [ -z "$bucket_id" ]; then
  echo "make-tokens.sh: no bucket $INFLUX_BUCKET in org $INFLUX_ORG" >&2
  exit 1
fi
known="$(influx auth list --json)"

# token <who> <read|write>
token() {
  local file="$dir/$1/token" json token
  if [ -s "$file" ] && grep -qF "\"token\": \"$(cat "$file")\"" <<<"$known"; then
    echo "make-tokens.sh: $1 keeps its $2 token"
    return
  fi
  json="$(influx auth create --"$2"-bucket "$bucket_id" --description "sme-metering $1: $2 $INFLUX_BUCKET" --json)"
  token="$(sed -n 's/^[[:space:]]*"token":[[:space:]]*"\([^"]*\)".*/\1/p' <<<"$json" | head -n 1)"
  if [ -z "$token" ]; then
    echo "make-tokens.sh: no token in the answer to auth create for $1" >&2
    exit 1
  fi
  if [ "$token" = "$INFLUX_TOKEN" ]; then
    echo "make-tokens.sh: InfluxDB answered with the admin token for $1" >&2
    exit 1
  fi
  mkdir -p "$dir/$1"
  printf '%s' "$token" > "$file.new"
  # Readable by the service's own user (the collector's, Grafana's 472); nobody else mounts it.
  chmod 0444 "$file.new"
  mv -f "$file.new" "$file"
  echo "make-tokens.sh: made a $2-only token on bucket $INFLUX_BUCKET for $1"
}

token collector write
token grafana read
