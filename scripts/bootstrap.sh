#!/usr/bin/env bash
# Set up pathview in ./.venv: system libraries for Qt (installed when run as root on Debian or
# Ubuntu, otherwise named in one apt-get line), the virtual environment and the project.
#   scripts/bootstrap.sh        app only
#   scripts/bootstrap.sh test   app + test tools
# Re-running is cheap: the install is skipped while pyproject.toml is unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

extra="${1:-}"
venv="${VENV:-.venv}"
python="${PYTHON:-python3}"

# Qt's xcb/offscreen platforms and fonts; xvfb for running the real window without a screen.
apt_packages=(
  libegl1 libgl1 libglib2.0-0 libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4
  libxcb-keysyms1 libxcb-shape0 libxcb-randr0 libxcb-render-util0 libxcb-image0 libxcb-xkb1
  libfontconfig1 libdbus-1-3 fonts-dejavu-core xvfb xauth
)

if [ "$(uname -s)" = Linux ] && command -v dpkg-query >/dev/null 2>&1; then
  missing=()
  for pkg in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
      echo "bootstrap: installing system packages: ${missing[*]}"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
      echo "bootstrap: missing system packages; install them with:" >&2
      echo "  sudo apt-get install -y ${missing[*]}" >&2
      exit 1
    fi
  fi
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "bootstrap: creating $venv"
  "$python" -m venv "$venv"
fi

spec="."
[ "$extra" = test ] && spec=".[test]"
stamp="$venv/.pathview-installed-$(echo "$spec" | tr -c 'a-z' '_')"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "bootstrap: installing pathview ($spec) into $venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  # torch and torchvision resolve together, so they always come as a matching pair.
  "$venv/bin/python" -m pip install -q -e "$spec"
  echo "$want" > "$stamp"
fi
echo "bootstrap: ready ($venv)"
