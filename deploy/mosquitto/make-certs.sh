#!/bin/sh
# Makes the TLS files for Mosquitto's 8883 listener (deploy/mosquitto/mosquitto.conf):
#   certs/ca.crt       the plant's own CA: give it to every gateway and to the collector
#   certs/ca.key       the CA's key: only for making server certificates; keep it off the server
#   certs/server.crt   the broker's certificate, signed by the CA, valid for the names below
#   certs/server.key   its key, readable only by the broker's user
#
#   deploy/mosquitto/make-certs.sh [-o DIR] [--owner UID:GID] [--days N] [NAME ...]
#
# The certificate is valid for "mosquitto" (the compose service name the collector connects
# to), "localhost", 127.0.0.1 and every NAME given: the host names and addresses the gateways
# use to reach the broker (e.g. broker.plant.example 192.168.1.5). An existing CA is kept, so
# running it again (new names, or a certificate about to expire) needs no change on the
# gateways. EC P-256 keys. Needs openssl.
#
# --owner (default 1883:1883, the user of the eclipse-mosquitto image) owns server.key when the
# script runs as root; otherwise the key belongs to whoever ran it, and the script says how to
# hand it over.
set -eu

dir="$(cd "$(dirname "$0")" && pwd)/certs"
owner=1883:1883
days=825
while [ $# -gt 0 ]; do
  case "$1" in
    -o) dir="$2"; shift 2 ;;
    --owner) owner="$2"; shift 2 ;;
    --days) days="$2"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    -*) echo "make-certs.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done

san="DNS:mosquitto,DNS:localhost,IP:127.0.0.1"
for name in "$@"; do
  case "$name" in
    *[!A-Za-z0-9.:-]*|'') echo "make-certs.sh: \"$name\" is not a host name or an IP address" >&2; exit 2 ;;
  esac
  if printf '%s' "$name" | grep -Eq '^[0-9.]+$|:'; then san="$san,IP:$name"; else san="$san,DNS:$name"; fi
done

umask 077
mkdir -p "$dir"
chmod 0755 "$dir"
cd "$dir"

if [ -s ca.key ] && [ -s ca.crt ]; then
  echo "make-certs.sh: keeping the CA in $dir/ca.crt"
else
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=SME metering MQTT CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout ca.key -out ca.crt 2>/dev/null
  chmod 0644 ca.crt
  echo "make-certs.sh: made a new CA, $dir/ca.crt"
fi

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=mosquitto" \
  -keyout server.key.new -out server.csr 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' "$san" > server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -set_serial "0x$(openssl rand -hex 16)" \
  -days "$days" -extfile server.ext -out server.crt.new 2>/dev/null
rm -f server.csr server.ext
chmod 0644 server.crt.new
chmod 0600 server.key.new
if [ "$(id -u)" = 0 ]; then
  chown "$owner" server.key.new
elif [ "$(id -u):$(id -g)" != "$owner" ]; then
  echo "make-certs.sh: the broker runs as $owner and must read server.key: sudo chown $owner $dir/server.key" >&2
fi
mv -f server.key.new server.key
mv -f server.crt.new server.crt
echo "make-certs.sh: $dir/server.crt for $san, valid $days days"
