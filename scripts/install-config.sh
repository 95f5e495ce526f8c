#!/bin/sh
# meson install script (registered in meson.build): installs the example configuration
# as the live one, e.g. /etc/mqttd/mqttd.toml, unless a file is already there. An
# operator's edited configuration is never overwritten; a fresh copy of the example
# is always at <prefix>/share/doc/mqttd/mqttd.example.toml.
#   install-config.sh SOURCE TARGET
# Honours DESTDIR (staged installs, packaging): the file goes to $DESTDIR$TARGET.
set -eu

if [ $# -ne 2 ]; then
  echo "usage: install-config.sh SOURCE TARGET" >&2
  exit 2
fi
source=$1
target=${DESTDIR:-}$2

if [ -n "${MESON_INSTALL_DRY_RUN:-}" ]; then
  echo "install-config: would install $source as $target (if absent)"
  exit 0
fi
if [ -e "$target" ]; then
  echo "install-config: keeping existing $target"
  exit 0
fi
mkdir -p "$(dirname "$target")"
# 0644: readable by the mqttd user; it holds no secrets today.
install -m 0644 "$source" "$target"
echo "install-config: installed $target"
