#!/bin/sh
# tui-sixel.sh — sixel output, checked on the byte stream: the program runs
# on a pseudo-terminal (tests/pty-run) that answers DA1 like a sixel
# terminal (attribute 4) and reports 10x20-pixel cells through TIOCGWINSZ;
# every image must be a valid sixel sequence (ESC P ... q ... ESC \) of the
# size the layout gives, written at its cell (a cursor position sequence
# before it), written again after a repaint covers it, and the graphics
# mode restored on exit.  tests/sixel-xterm.sh checks the pixels in a real
# xterm.
. "$top_srcdir/tests/lib.sh"

[ -n "$FFMPEG" ] && [ -x "$FFMPEG" ] || skip_all "no ffmpeg program (\$FFMPEG)"
PTY_RUN=${PTY_RUN:-$top_builddir/tests/pty-run}
[ -x "$PTY_RUN" ] || skip_all "no tests/pty-run"

T=$(mktemp -d "${TMPDIR:-/tmp}/clipgrep-tui-sixel.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
LIB=$T/lib
mkdir -p "$LIB" "$T/cfg/clipgrep"
export XDG_CONFIG_HOME=$T/cfg XDG_DATA_HOME=$T/data XDG_STATE_HOME=$T/state
export TERM=xterm-256color CLIPGREP_TUI_MARK=1
unset CLIPGREP_DB CLIPGREP_CONFIG NO_COLOR
printf 'model = %s\nmodel = %s\n' "$top_srcdir/tests/golden/tiny-tcmgc.safetensors" \
	"$top_srcdir/tests/golden/tiny-ea.safetensors" >"$T/cfg/clipgrep/config"
# 16:9 clips: 192x108 thumbnails.
for c in "red testsrc2 hue=h=0" "blue testsrc2 hue=h=180" "bars smptebars null"; do
	set -- $c
	"$FFMPEG" -nostdin -v error -y -f lavfi -i "$2=size=192x108:rate=10:duration=3" -vf "$3" \
		-c:v libx264 -preset ultrafast -pix_fmt yuv420p "$LIB/$1.mp4" || skip_all "ffmpeg cannot make clips"
done
run "$CLIPGREP" index "$LIB"
[ "$rc" -eq 0 ] || { diag "$err"; skip_all "clipgrep index failed"; }

SIXEL_DA1='\e[?62;4;6;22c'
RESULTS='\e_clipgrep;results'

# A sixel terminal; the results, a move, the help over the images and back, quit.
"$PTY_RUN" -g 120x40 -p 1200x800 -a "$SIXEL_DA1" -o "$T/out" -t 30 \
	-w "$RESULTS" -d 700 -s '\e' -d 300 -s '?' -d 300 -s x -d 700 -s q \
	-- "$CLIPGREP" -q "red ball"
rc=$?
ok $rc "runs and quits on a sixel terminal (exit $rc)"
"$PTY_RUN" --sixels "$T/out" >"$T/sixels"
diag "$(cat "$T/sixels")"
n=$(wc -l <"$T/sixels")
[ "$n" -ge 2 ]; ok $? "sixel images are written ($n)"
awk '$6 != 1 { bad = 1 } END { exit bad }' "$T/sixels"
ok $? "every one is a valid sixel sequence (DCS q, raster size, sixel data, ST)"
awk '$1 < 1 || $2 < 1 { bad = 1 } END { exit bad }' "$T/sixels"
ok $? "every one follows a cursor position sequence"
# Inside the screen and above the status line, in 10x20 cells.
awk '($2 - 1) * 10 + $3 > 1200 || ($1 - 1) * 20 + $4 > 39 * 20 { bad = 1 } END { exit bad }' "$T/sixels"
ok $? "every one fits the screen above the status line"
# The best frame: detail pane at row 3, column 51 (list 48 wide, a rule, a gap);
# 2/5 of the 69-column pane is 27 cells = 270 px wide, 270 * 108 / 192 = 151 px high.
grep -q '^3 51 270 151 ' "$T/sixels"
ok $? "the best frame: 270x151 pixels at row 3, column 51"
best=$(grep -c '^3 51 270 151 ' "$T/sixels")
[ "$best" -ge 2 ]; ok $? "written again after the help overlay covered it ($best times)"
strip=$(awk '$1 > 3' "$T/sixels" | wc -l)
[ "$strip" -ge 4 ]; ok $? "the frame strip above the heatmap ($strip images)"
grep -q "$(printf '\033\\[?1070h')" "$T/out"; ok $? "private colour registers are set"
tail -c 400 "$T/out" | grep -q "$(printf '\033\\[?1070r')"; ok $? "and the graphics mode is restored on exit"
tail -c 400 "$T/out" | grep -q "$(printf '\033\\[?1049l')"; ok $? "the alternate screen is left on exit"

# Not a sixel terminal: half-blocks, no sixel.
"$PTY_RUN" -g 120x40 -p 1200x800 -a '\e[?62;22c' -o "$T/out2" -t 30 \
	-w "$RESULTS" -d 700 -s '\e' -d 200 -s q -- "$CLIPGREP" -q "red ball"
ok $? "runs on a terminal without sixel"
[ ! -s "$("$PTY_RUN" --sixels "$T/out2" >"$T/sixels2"; echo "$T/sixels2")" ]
ok $? "no sixel without DA1 attribute 4"
grep -q "$(printf '\342\226\200')" "$T/out2"; ok $? "colour half-blocks instead"

# --images=none: neither.
"$PTY_RUN" -g 120x40 -p 1200x800 -a "$SIXEL_DA1" -o "$T/out3" -t 30 \
	-w "$RESULTS" -d 500 -s '\e' -d 200 -s q -- "$CLIPGREP" --images=none -q "red ball"
ok $? "--images=none runs"
"$PTY_RUN" --sixels "$T/out3" >"$T/sixels3"
[ ! -s "$T/sixels3" ] && ! grep -q "$(printf '\342\226\200')" "$T/out3"
ok $? "--images=none: no sixel, no half-blocks"

# A terminal that never answers: the probe gives up and the screen opens.
"$PTY_RUN" -g 100x30 -o "$T/out4" -t 30 -w "$RESULTS" -d 300 -s '\e' -d 200 -s q \
	-- "$CLIPGREP" -q red
ok $? "a terminal that does not answer DA1: the screen opens anyway"

# A signal in the middle: the terminal state is restored by the handler path too.
"$PTY_RUN" -g 120x40 -p 1200x800 -a "$SIXEL_DA1" -o "$T/out5" -t 30 \
	-w "$RESULTS" -d 700 -k 15 -- "$CLIPGREP" -q red
rc=$?
[ "$rc" -eq 143 ]; ok $? "SIGTERM: exit 143 ($rc)"
tail -c 400 "$T/out5" | grep -q "$(printf '\033\\[?1070r')" &&
	tail -c 400 "$T/out5" | grep -q "$(printf '\033\\[?1049l')"
ok $? "SIGTERM: graphics mode and screen restored"

done_testing
