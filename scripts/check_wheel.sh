#!/usr/bin/env bash
# Build pathview's wheel, install it (not editable) into a new virtual environment and use it
# from a folder outside the checkout, as someone who installed it with pip would:
# `pathview score` and `pathview report` on the bundled demo, `pathview-train --help` and an
# offscreen start of the app on the demo. pip's cache is left on, so the dependencies the
# set-up just installed are not downloaded a second time.
#   scripts/check_wheel.sh            (uses .venv's Python to build; run scripts/bootstrap.sh first)
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
python="${VENV:-.venv}/bin/python"
[ -x "$python" ] || python="${PYTHON:-python3}"

work="$(mktemp -d "${TMPDIR:-/tmp}/pathview-wheel.XXXXXX")"
trap 'rm -rf "$work"' EXIT
say() { echo "wheel-check: $*"; }
fail() { echo "wheel-check: FAILED: $*" >&2; exit 1; }
started=$(date +%s)

say "building the wheel"
"$python" -m pip wheel --no-deps -q -w "$work/dist" .
wheel="$(ls "$work"/dist/pathview-*.whl)"
say "built $(basename "$wheel") ($(du -h "$wheel" | cut -f1))"
listing="$("$python" -m zipfile -l "$wheel")"
for member in pathview/resources/model/pcam-default/model.json \
  pathview/resources/model/pcam-default/weights.pt pathview/resources/demo/labels.csv \
  pathview-0.1.0.dist-info/licenses/LICENSE; do
  grep -q "$member" <<<"$listing" || fail "the wheel lacks $member"
done
top_level="$(grep -v "dist-info/" <<<"$listing" | awk 'NR > 1 {split($1, p, "/"); print p[1]}' | sort -u)"
[ "$top_level" = pathview ] || fail "the wheel installs more than pathview: $top_level"

say "installing it into a new venv (not editable; dependencies from pip's cache where it has them)"
"${PYTHON:-python3}" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q --upgrade pip
"$work/venv/bin/python" -m pip install "$wheel"
installed=$(date +%s)

outside="$work/elsewhere"
mkdir -p "$outside"
cd "$outside"
export PATHVIEW_CONFIG_DIR="$work/config" PATHVIEW_DATA_DIR="$work/data"
unset PATHVIEW_MODEL_DIR PYTHONPATH
bin="$work/venv/bin"
where="$("$bin/python" -c 'import pathview; print(pathview.__file__)')"
case "$where" in "$work/venv/"*) ;; *) fail "pathview imported from $where, not the new venv" ;; esac
demo="$("$bin/python" -c 'from pathview.core.resources import demo_folder; print(demo_folder())')"
case "$demo" in "$work/venv/"*) ;; *) fail "the demo is at $demo, not in the installed package" ;; esac

say "pathview score on the installed demo (from $outside)"
"$bin/pathview" score "$demo" --out scores.csv | tee score.out
[ "$(wc -l <scores.csv)" = 65 ] || fail "scores.csv should hold 64 patches and a header"
grep -q "^labels: .*labels.csv (found with the folder" score.out || fail "score ignored labels.csv"
grep -q "^AUC " score.out || fail "score printed no AUC"

say "pathview report"
"$bin/pathview" report "$demo" --out report.html
grep -q "<td>number format</td>" report.html || fail "the report does not name the number format"
grep -q "<td>input codec</td><td>none" report.html || fail "the report does not say the model has no input codec"

say "pathview-train --help"
"$bin/pathview-train" --help >train-help.txt
head -1 train-help.txt | grep -q "^usage: pathview-train" || fail "$(head -1 train-help.txt)"

say "pathview --demo, offscreen, quitting after 3 s"
QT_QPA_PLATFORM=offscreen "$bin/pathview" --demo --quit-after-ms 3000 2>app.err \
  || { cat app.err >&2; fail "the app did not start and quit cleanly"; }
! grep -q Traceback app.err || { cat app.err >&2; fail "the app printed a traceback"; }

cd "$repo"
done_at=$(date +%s)
say "passed in $((done_at - started))s (build and install $((installed - started))s," \
  "commands $((done_at - installed))s)"
