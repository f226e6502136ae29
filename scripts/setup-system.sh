#!/usr/bin/env bash
# Install the Debian packages jobshadow needs, only those that are missing (idempotent).
# Used by `make setup`; safe to run repeatedly. Needs root or sudo when something is missing.
set -euo pipefail

# command-or-library : package
needs=(
  "bin:Xvfb:xvfb"
  "bin:xdotool:xdotool"
  "bin:openbox:openbox"
  "bin:xterm:xterm"
  "bin:xdpyinfo:x11-utils"
  "bin:xedit:x11-apps"
  "bin:xcalc:x11-apps"
  "bin:xsetroot:x11-xserver-utils"
  "lib:libxkbcommon.so.0:libxkbcommon0"
  "lib:libxcb.so.1:libxcb1"
  "lib:libxcb-shm.so.0:libxcb-shm0"
  "lib:libxcb-randr.so.0:libxcb-randr0"
  "lib:libxcb-render.so.0:libxcb-render0"
  "lib:libxcb-xfixes.so.0:libxcb-xfixes0"
  "bin:chromium:chromium"
  "bin:tesseract:tesseract-ocr"
  "file:/usr/share/tesseract-ocr/5/tessdata/eng.traineddata:tesseract-ocr-eng"
  "file:/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf:fonts-dejavu-core"
)
missing=()
for item in "${needs[@]}"; do
  kind=${item%%:*}; rest=${item#*:}; what=${rest%%:*}; pkg=${rest#*:}
  case $kind in
    bin) command -v "$what" >/dev/null 2>&1 || missing+=("$pkg") ;;
    lib) ldconfig -p 2>/dev/null | grep -q "$what" || missing+=("$pkg") ;;
    file) [ -e "$what" ] || missing+=("$pkg") ;;
  esac
done
py=${PYTHON:-python3.11}
if ! command -v "$py" >/dev/null 2>&1; then
  missing+=(python3.11 python3.11-venv)
elif ! "$py" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  missing+=(python3.11-venv)
fi
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "installing Debian packages: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
