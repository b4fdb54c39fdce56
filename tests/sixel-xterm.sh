#!/bin/sh
# sixel-xterm.sh — does the best frame really show as a picture?  Runs the
# interactive screen in `xterm -ti vt340` (sixel graphics) on a virtual X
# display (Xvfb), takes a screenshot (xwd | convert) and checks that the
# cells where the best frame goes hold a picture (many colours) rather than
# text.  Not part of make check (it needs X programs); run it by hand:
#
#   tests/sixel-xterm.sh [--demo] [OUT.png]      (from the build tree)
#
# --demo shows `clipgrep demo` (the bundled clips and model) instead of
# clips generated here with the tiny test models.
#
# Needs: Xvfb, xterm, xwd, convert (ImageMagick), ffmpeg
# (Debian: apt-get install xvfb xterm x11-apps imagemagick ffmpeg).
# Exit: 0 the picture is there, 1 it is not, 77 a program is missing.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
CLIPGREP=${CLIPGREP:-$top_builddir/clipgrep}
FFMPEG=${FFMPEG:-$(command -v ffmpeg)}
DEMO=0
if [ "${1:-}" = --demo ]; then
	DEMO=1
	shift
fi
OUT=${1:-$PWD/sixel-xterm.png}

for p in Xvfb xterm xwd convert; do
	command -v "$p" >/dev/null 2>&1 || { echo "sixel-xterm: no $p"; exit 77; }
done
[ -n "$FFMPEG" ] || { echo "sixel-xterm: no ffmpeg"; exit 77; }

T=$(mktemp -d "${TMPDIR:-/tmp}/clipgrep-sixel-xterm.XXXXXX") || exit 1
XPID=
cleanup() {
	[ -n "$XPID" ] && kill "$XPID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT INT TERM
mkdir -p "$T/lib" "$T/cfg/clipgrep"
export XDG_CONFIG_HOME=$T/cfg XDG_DATA_HOME=$T/data XDG_STATE_HOME=$T/state
unset CLIPGREP_DB CLIPGREP_CONFIG NO_COLOR
printf 'model = %s\nmodel = %s\n' "$top_srcdir/tests/golden/tiny-tcmgc.safetensors" \
	"$top_srcdir/tests/golden/tiny-ea.safetensors" >"$T/cfg/clipgrep/config"
for c in "red testsrc2 hue=h=0" "blue testsrc2 hue=h=180" "bars smptebars null"; do
	set -- $c
	"$FFMPEG" -nostdin -v error -y -f lavfi -i "$2=size=192x108:rate=10:duration=3" -vf "$3" \
		-c:v libx264 -preset ultrafast -pix_fmt yuv420p "$T/lib/$1.mp4" || exit 77
done
if [ $DEMO -eq 1 ]; then
	"$CLIPGREP" demo --print >/dev/null 2>&1 || { echo "sixel-xterm: no demo"; exit 77; }
	CMD="'$CLIPGREP' demo"
else
	"$CLIPGREP" index "$T/lib" 2>/dev/null || { echo "sixel-xterm: indexing failed"; exit 1; }
	CMD="'$CLIPGREP' -q 'red ball'"
fi

# A free display number.
D=91
while [ -e "/tmp/.X11-unix/X$D" ] || [ -e "/tmp/.X$D-lock" ]; do D=$((D + 1)); done
Xvfb ":$D" -screen 0 1024x640x24 -nolisten tcp >"$T/xvfb.log" 2>&1 &
XPID=$!
sleep 1.5
export DISPLAY=":$D"

# 6x13 cells, no border: cell (row, col) starts at pixel ((col-1)*6, (row-1)*13).
# numColorRegisters: a VT340 has 16; allow xterm's 256 for a faithful picture.
printf '%s\n' "#!/bin/sh" "exec $CMD 2>'$T/err'" >"$T/run.sh"
xterm -ti vt340 -tn xterm-256color -xrm 'XTerm*numColorRegisters: 256' -xrm 'XTerm*decTerminalID: vt340' \
	-fn '-misc-fixed-medium-r-semicondensed--13-120-75-75-c-60-iso10646-1' -b 0 -geometry 120x40+0+0 -bg black -fg white \
	-e sh "$T/run.sh" >"$T/xterm.log" 2>&1 &
TPID=$!
sleep 6
xwd -root -silent | convert xwd:- "$OUT"
kill "$TPID" 2>/dev/null
wait "$TPID" 2>/dev/null

# The best frame: rows 3.., columns 51.. (27 cells wide).  Text cells have
# two colours; a picture of testsrc2 has dozens.
colours=$(convert "$OUT" -crop 150x60+306+30 +repage -format %k info:)
echo "sixel-xterm: screenshot $OUT; $colours colours where the best frame goes"
[ -s "$T/err" ] && cat "$T/err"
[ "${colours:-0}" -ge 16 ]
