#!/bin/sh
# Installs sealbridge as a kustomize legacy exec plugin (the form `kubectl kustomize
# --enable-alpha-plugins` runs) for both generator kinds it serves:
#   <plugin home>/sealbridge.io/v1alpha1/secretgenerator/SecretGenerator
#   <plugin home>/viaduct.ai/v1/ksops/ksops            (ksops' kind: existing ksops files work as-is)
# and, with --ksops-in-path DIR, a `ksops` command in DIR for ksops' KRM form
# (`exec: {path: ksops}`).
#
# Usage: install.sh [--binary PATH] [--ksops-in-path DIR] [PLUGIN_HOME]
#   PLUGIN_HOME defaults to $KUSTOMIZE_PLUGIN_HOME, else $XDG_CONFIG_HOME/kustomize/plugin,
#   else $HOME/.config/kustomize/plugin — the order kustomize searches.
# Each entry is a symbolic link to the sealbridge binary, which picks its mode from its name.
set -eu

binary=""
ksops_dir=""
home=""
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=$2; shift 2 ;;
    --ksops-in-path) ksops_dir=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) echo "install.sh: unknown option $1" >&2; exit 2 ;;
    *) home=$1; shift ;;
  esac
done

if [ -z "$binary" ]; then
  binary=$(command -v sealbridge || true)
  [ -n "$binary" ] || { echo "install.sh: sealbridge is not in PATH; pass --binary PATH" >&2; exit 2; }
fi
[ -x "$binary" ] || { echo "install.sh: $binary is not an executable file" >&2; exit 2; }
case "$binary" in /*) ;; *) binary="$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")" ;; esac

if [ -z "$home" ]; then
  if [ -n "${KUSTOMIZE_PLUGIN_HOME:-}" ]; then home=$KUSTOMIZE_PLUGIN_HOME
  elif [ -n "${XDG_CONFIG_HOME:-}" ]; then home=$XDG_CONFIG_HOME/kustomize/plugin
  else home=$HOME/.config/kustomize/plugin
  fi
fi

link() { # link DIR NAME
  mkdir -p "$1"
  ln -sfn "$binary" "$1/$2"
  echo "installed $1/$2 -> $binary" >&2
}
link "$home/sealbridge.io/v1alpha1/secretgenerator" SecretGenerator
link "$home/viaduct.ai/v1/ksops" ksops
if [ -n "$ksops_dir" ]; then link "$ksops_dir" ksops; fi
