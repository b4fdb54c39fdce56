#!/bin/sh
# tui-segments.sh — the screen's s key (issue 19), driven in tmux: a
# 3-minute video of six 30 s segments, a red square in two of them, is
# listed once by its best segment; s lists every matching segment (the same
# file on several rows, each with its own range) and says so; s again goes
# back to each video's best.
. "$top_srcdir/tests/lib.sh"

TMUX_PROG=${TMUX_PROG:-$(command -v tmux)}
[ -n "$TMUX_PROG" ] && [ -x "$TMUX_PROG" ] || skip_all "no tmux program"
[ -n "$FFMPEG" ] && [ -x "$FFMPEG" ] || skip_all "no ffmpeg program (\$FFMPEG)"
DEMO=$top_srcdir/assets/demo
[ -r "$DEMO/demo.safetensors" ] || skip_all "no demo model"

T=$(mktemp -d "${TMPDIR:-/tmp}/clipgrep-tui-segments.XXXXXX") || exit 1
SOCK=clipgrep-segments-$$
tm() { "$TMUX_PROG" -L "$SOCK" -f /dev/null "$@"; }
trap 'tm kill-server 2>/dev/null; rm -rf "$T"' EXIT
export XDG_CONFIG_HOME=$T/cfg XDG_DATA_HOME=$T/data XDG_STATE_HOME=$T/state
unset CLIPGREP_DB CLIPGREP_CONFIG NO_COLOR TMUX CLIPGREP_COLOURS
mkdir -p "$T/lib"

# Six 30 s scenes at 64x64, 1 frame a second: a red square on dark in the
# second and the fifth, a blue one on light elsewhere.
inputs= filters= labels= n=0
for s in blue red blue blue red blue; do
	if [ "$s" = red ]; then bg=0x282c3a; else bg=0xe0e8f0; fi
	inputs="$inputs -f lavfi -i color=c=$bg:s=64x64:r=1:d=30"
	filters="$filters[$n]drawbox=x=12:y=12:w=40:h=40:color=$s:t=fill[s$n];"
	labels="$labels[s$n]"
	n=$((n + 1))
done
# shellcheck disable=SC2086
"$FFMPEG" -nostdin -v error -y $inputs -filter_complex "${filters}${labels}concat=n=$n:v=1[v]" \
	-map "[v]" -c:v libx264 -preset ultrafast -pix_fmt yuv420p "$T/lib/long.mp4" ||
	skip_all "ffmpeg cannot make the video"
M="--model $DEMO/demo.safetensors"
DB=$T/index.db
run "$CLIPGREP" index --db "$DB" $M --window 30 "$T/lib"
[ "$rc" -eq 0 ] || { diag "$err"; skip_all "clipgrep index failed"; }
run "$CLIPGREP" info --db "$DB" --json
contains "$out" '"segments":6,'; ok $? "the video is indexed as six segments"

screen() { tm capture-pane -p -t s; }
wait_for() { # wait_for TEXT
	i=0
	while [ $i -lt 200 ]; do
		screen | grep -F -q -- "$1" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	diag "timed out waiting for '$1' on:"
	diag "$(screen)"
	return 1
}
# rows of the list naming long.mp4
rows() { screen | grep -c 'long\.mp4'; }

printf '%s\n' "#!/bin/sh" "exec env TERM=screen-256color '$CLIPGREP' --db '$DB' $M --images=none \
	--mode tcmgc -q 'a big red square' 2>'$T/err'" >"$T/run.sh"
tm new-session -d -s s -x 160 -y 45 "sh '$T/run.sh'; echo \"EXIT=\$?\" >'$T/exit'; sleep 60"
wait_for "1 hit"; ok $? "each video's best: one hit"
sleep 0.3
[ "$(rows)" -eq 1 ]; ok $? "one row names the video ($(rows))"
# Leave the query line so that s is a key, not a letter of the query.
tm send-keys -t s Escape
sleep 0.3
tm send-keys -t s s
wait_for "every matching segment"; ok $? "s: the status line says every matching segment"
wait_for "1 video, 6 segments"; ok $? "the status line counts the video and its segments"
wait_for "6 hits"; ok $? "s: six hits, one per segment"
S=$(screen)
diag "$S"
n=$(printf '%s\n' "$S" | grep -c 'long\.mp4')
[ "$n" -ge 2 ]; ok $? "s: the video is on several rows ($n)"
printf '%s\n' "$S" | grep 'long\.mp4' | head -1 | grep -q '0:30\(\.0\)\{0,1\}-1:00\|2:00\(\.0\)\{0,1\}-2:30'
ok $? "s: the first row is a red segment (0:30-1:00 or 2:00-2:30)"
tm send-keys -t s s
wait_for "each video's best segment"; ok $? "s again: back to each video's best"
wait_for "1 hit"; ok $? "s again: one hit"
tm send-keys -t s q
i=0; while [ $i -lt 100 ] && [ ! -s "$T/exit" ]; do sleep 0.1; i=$((i + 1)); done
contains "$(cat "$T/exit" 2>/dev/null)" "EXIT=0"; ok $? "q quits with status 0"

done_testing
