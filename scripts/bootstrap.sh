#!/usr/bin/env bash
# Set up pathview in ./.venv: system libraries for Qt (installed when run as root on Debian or
# Ubuntu, otherwise named in one apt-get line), the virtual environment and the project with its
# test tools. One install serves `make run`, `make test` and `make lint`; re-running is cheap:
# nothing is installed again while pyproject.toml (and the PyTorch choice) is unchanged.
#
#   scripts/bootstrap.sh
#
# Environment:
#   PATHVIEW_TORCH=cpu   install PyTorch's CPU-only build (a venv of about 1.8 GB instead of
#                        6.3 GB, 4.1 GB of it CUDA) from PyTorch's own index, TORCH_INDEX_URL
#                        (default https://download.pytorch.org/whl/cpu); for machines without
#                        an NVIDIA GPU
#   VENV, PYTHON         the venv folder (default .venv) and the Python that creates it (python3)
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${VENV:-.venv}"
python="${PYTHON:-python3}"
torch_choice="${PATHVIEW_TORCH:-default}"
torch_index="${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}"
lock_timeout="${APT_LOCK_TIMEOUT:-600}"

say() { echo "bootstrap: $*"; }

if ! command -v "$python" >/dev/null 2>&1; then
  say "$python not found: install Python 3.10 or newer (Debian/Ubuntu: apt-get install python3)" >&2
  exit 1
fi

# Qt's xcb/offscreen platforms and fonts; xvfb for running the real window without a screen.
apt_packages=(
  libegl1 libgl1 libglib2.0-0 libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4
  libxcb-keysyms1 libxcb-shape0 libxcb-randr0 libxcb-render-util0 libxcb-image0 libxcb-xkb1
  libfontconfig1 libdbus-1-3 fonts-dejavu-core xvfb xauth
)
# Debian and Ubuntu ship the venv module separately, one package per Python version.
venv_missing=0
if ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  venv_missing=1
  py_version="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  apt_packages+=("python${py_version}-venv")
fi

# Wait (with a message) while another apt or dpkg run holds its locks: on a fresh machine the
# unattended upgrades often do, and apt-get would otherwise fail at once.
wait_for_apt() {
  local waited=0 locks=(/var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock)
  while ! "$python" - "${locks[@]}" <<'EOF' 2>/dev/null; do
import fcntl, sys
for name in sys.argv[1:]:
    try:
        handle = open(name, "a")
    except (FileNotFoundError, PermissionError):
        continue
    fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # apt's own kind of lock
EOF
    if [ "$waited" = 0 ]; then
      say "another apt/dpkg process holds the package lock; waiting for it (up to ${lock_timeout}s)"
    elif [ $((waited % 30)) = 0 ]; then
      say "still waiting for the apt/dpkg lock (${waited}s)"
    fi
    if [ "$waited" -ge "$lock_timeout" ]; then
      say "gave up waiting for the apt/dpkg lock after ${lock_timeout}s" >&2
      return 1
    fi
    sleep 5
    waited=$((waited + 5))
  done
}

if [ "$(uname -s)" = Linux ] && command -v dpkg-query >/dev/null 2>&1; then
  missing=()
  for pkg in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
      say "installing system packages: ${missing[*]}"
      export DEBIAN_FRONTEND=noninteractive
      wait_for_apt
      apt-get -o DPkg::Lock::Timeout="$lock_timeout" update -qq
      apt-get -o DPkg::Lock::Timeout="$lock_timeout" install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
    else
      say "missing system packages; install them with:" >&2
      echo "  sudo apt-get install -y ${missing[*]}" >&2
      exit 1
    fi
  fi
elif [ "$venv_missing" = 1 ]; then
  say "$python has no venv module (ensurepip): install it, e.g. the python3-venv package" >&2
  exit 1
fi

if [ ! -x "$venv/bin/python" ]; then
  say "creating $venv"
  "$python" -m venv "$venv"
fi

stamp="$venv/.pathview-installed"
want="$( (cat pyproject.toml; echo "torch=$torch_choice $torch_index") | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" = "$want" ]; then
  say "ready ($venv, already installed)"
  exit 0
fi

pip=("$venv/bin/python" -m pip)
started=$(date +%s)
"${pip[@]}" install -q --upgrade pip
if [ "$torch_choice" = cpu ]; then
  say "installing PyTorch's CPU-only build from $torch_index"
  "${pip[@]}" install --index-url "$torch_index" torch torchvision
elif [ "$torch_choice" != default ]; then
  say "PATHVIEW_TORCH must be 'cpu' or unset, not '$torch_choice'" >&2
  exit 1
else
  say "the default PyTorch build comes with its CUDA libraries (several GB on the first" \
    "install); on a machine without an NVIDIA GPU, PATHVIEW_TORCH=cpu installs the CPU-only build"
fi
# torch and torchvision resolve together, so they always come as a matching pair.
say "installing pathview and its test tools into $venv (pip shows each package as it comes)"
# The cluster extra (Ray) too: its test scores two slides on a local Ray of 2 workers.
"${pip[@]}" install -e ".[test,cluster]"
echo "$want" >"$stamp"
say "ready ($venv, installed in $(($(date +%s) - started))s; $(du -sh "$venv" | cut -f1) on disk)"
