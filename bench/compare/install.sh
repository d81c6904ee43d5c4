#!/bin/sh
# Installs what the comparison contenders need, outside the git tree:
#   - Debian's python3-pymodbus and python3-paho-mqtt for /usr/bin/python3 (apt, only if missing)
#   - Node-RED and node-red-contrib-modbus, pinned by node-red/package.json and package-lock.json,
#     with `npm ci` into DIR (default: target/compare/node-red in this workspace, git-ignored)
# Usage: install.sh [DIR]
# Afterwards Node-RED is DIR/node_modules/.bin/node-red. Re-running with an unchanged lock file and
# an installed node_modules does nothing.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-$here/../../target/compare/node-red}

missing=""
for pkg in python3-pymodbus python3-paho-mqtt; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $pkg"
    fi
done
if [ -n "$missing" ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    echo "install.sh: apt-get install$missing" >&2
    $sudo apt-get install -y $missing >&2 || { $sudo apt-get update >&2 && $sudo apt-get install -y $missing >&2; }
fi
/usr/bin/python3 -c 'import pymodbus, paho.mqtt' 

mkdir -p "$dir"
if [ -d "$dir/node_modules/node-red" ] && [ -d "$dir/node_modules/node-red-contrib-modbus" ] \
    && cmp -s "$here/node-red/package-lock.json" "$dir/package-lock.json" \
    && cmp -s "$here/node-red/package.json" "$dir/package.json"; then
    echo "install.sh: Node-RED already installed in $dir" >&2
else
    cp "$here/node-red/package.json" "$here/node-red/package-lock.json" "$dir/"
    (cd "$dir" && npm ci --no-audit --no-fund >&2)
fi
echo "install.sh: node-red $(node -p "require('$dir/node_modules/node-red/package.json').version"), node-red-contrib-modbus $(node -p "require('$dir/node_modules/node-red-contrib-modbus/package.json').version"), pymodbus $(/usr/bin/python3 -c 'import pymodbus; print(pymodbus.__version__)'), paho-mqtt $(/usr/bin/python3 -c 'import paho.mqtt; print(paho.mqtt.__version__)')" >&2
