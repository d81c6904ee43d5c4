#!/bin/sh
# Makes Mosquitto's password file (deploy/mosquitto/mosquitto.conf, acl): the collector's user
# and one user per gateway, each gateway allowed to publish only under plants/<its name>/.
#
#   MQTT_PASSWORD=... deploy/mosquitto/make-passwd.sh [-o DIR] [--owner UID:GID] GATEWAY ...
#   (set -a; . deploy/.env; sudo --preserve-env=MQTT_PASSWORD deploy/mosquitto/make-passwd.sh boiler-house workshop-2)
#
# Writes DIR/passwd (hashed, what the broker reads) and DIR/passwords/<gateway> (the plain
# password, mode 0600: configure it on that gateway; the broker never reads it). A gateway that
# already has a password keeps it; a new one gets a random one. The file lists exactly the
# collector and the GATEWAYs given: one left out can no longer log in once the broker reloads
# (docker compose -f deploy/compose.yaml kill -s HUP mosquitto). The collector's password is
# MQTT_PASSWORD, the value deploy/.env gives the collector.
#
# A gateway name goes into topics (plants/<name>/...) and meter ids (<name>.<meter>), so it may
# hold only letters, digits, "_" and "-": no "/" (plants/a/b/# lies inside gateway a's topics),
# no "+" or "#", no "." (the meter ids' separator), and it may not be "collector".
#
# DIR defaults to deploy/mosquitto. --owner (default 1883:1883, the user of the
# eclipse-mosquitto image) owns passwd when the script runs as root. Needs mosquitto_passwd
# (Debian: apt install mosquitto) and openssl.
set -eu

dir="$(cd "$(dirname "$0")" && pwd)"
owner=1883:1883
while [ $# -gt 0 ]; do
  case "$1" in
    -o) dir="$2"; shift 2 ;;
    --owner) owner="$2"; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    -*) echo "make-passwd.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
if [ -z "${MQTT_PASSWORD:-}" ]; then
  echo "make-passwd.sh: set MQTT_PASSWORD (the collector's password, as in deploy/.env)" >&2
  exit 2
fi
if [ $# -eq 0 ]; then
  echo "make-passwd.sh: name at least one gateway" >&2
  exit 2
fi
for name in "$@"; do
  case "$name" in
    collector) echo "make-passwd.sh: \"collector\" is the collector's user, not a gateway" >&2; exit 2 ;;
    *[!A-Za-z0-9_-]*|'') echo "make-passwd.sh: gateway \"$name\": only letters, digits, _ and - (it becomes a topic level and part of meter ids)" >&2; exit 2 ;;
  esac
  if [ ${#name} -gt 32 ]; then
    echo "make-passwd.sh: gateway \"$name\" is longer than 32 characters" >&2
    exit 2
  fi
done

umask 077
mkdir -p "$dir/passwords"
plain="$dir/passwd.new"
printf 'collector:%s\n' "$MQTT_PASSWORD" > "$plain"
for name in "$@"; do
  if [ ! -s "$dir/passwords/$name" ]; then
    openssl rand -base64 24 | tr -d '\n/+=' > "$dir/passwords/$name"
    echo "make-passwd.sh: new password for $name in $dir/passwords/$name"
  fi
  printf '%s:%s\n' "$name" "$(cat "$dir/passwords/$name")" >> "$plain"
done
# Hashes the plain file in place: no password is ever on a command line.
mosquitto_passwd -U "$plain"
if [ "$(id -u)" = 0 ]; then
  chown "$owner" "$plain"
elif [ "$(id -u):$(id -g)" != "$owner" ]; then
  echo "make-passwd.sh: the broker runs as $owner and must read passwd: sudo chown $owner $dir/passwd" >&2
fi
mv -f "$plain" "$dir/passwd"
echo "make-passwd.sh: $dir/passwd: collector $*"
