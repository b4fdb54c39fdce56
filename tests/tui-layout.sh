#!/bin/sh
# tui-layout.sh — the screen at the sizes people have (80x24, 100x30,
# 160x45), driven in tmux with the bundled demo (36 clips, a 16-token
# query, 12 frames half a second apart): each screen is captured and
# checked for what must be there and for nothing drawn over anything.
#   80x24   the list only; its range counter in the header, not over a
#           row's length; d (or F2) opens the detail page, Enter/Esc back
#   100x30  the pane beside the list; the heatmap says how many token rows
#           are hidden and w scrolls it; the breakdown's headings fit
#   160x45  frame labels never repeat (tenths when frames are < 1 s apart)
# And `clipgrep QUERY` on a terminal opens the screen with that query.
. "$top_srcdir/tests/lib.sh"

TMUX_PROG=${TMUX_PROG:-$(command -v tmux)}
[ -n "$TMUX_PROG" ] && [ -x "$TMUX_PROG" ] || skip_all "no tmux program"
DEMO=$top_srcdir/assets/demo
[ -r "$DEMO/demo.safetensors" ] && [ -r "$DEMO/query.txt" ] || skip_all "no demo model"

T=$(mktemp -d "${TMPDIR:-/tmp}/clipgrep-tui-layout.XXXXXX") || exit 1
SOCK=clipgrep-layout-$$
tm() { "$TMUX_PROG" -L "$SOCK" -f /dev/null "$@"; }
trap 'tm kill-server 2>/dev/null; rm -rf "$T"' EXIT
export XDG_CONFIG_HOME=$T/cfg XDG_DATA_HOME=$T/data XDG_STATE_HOME=$T/state
unset CLIPGREP_DB CLIPGREP_CONFIG NO_COLOR TMUX CLIPGREP_COLOURS
M="--model $DEMO/demo.safetensors"
DB=$T/demo.db
run "$CLIPGREP" index --db "$DB" $M "$DEMO/clips"
[ "$rc" -eq 0 ] || { diag "$err"; skip_all "clipgrep index failed"; }
Q=$(head -n 1 "$DEMO/query.txt")

start() { # start NAME COLSxROWS ARGS...
	name=$1 size=$2
	shift 2
	printf '%s\n' "#!/bin/sh" "exec env TERM=screen-256color $* 2>'$T/$name.err'" >"$T/$name.sh"
	tm new-session -d -s "$name" -x "${size%x*}" -y "${size#*x}" \
		"sh '$T/$name.sh'; echo \"EXIT=\$?\" >'$T/$name.exit'; sleep 60"
}
screen() { tm capture-pane -p -t "$1"; }
wait_for() { # wait_for NAME TEXT [SECONDS]
	i=0
	while [ $i -lt $((${3:-20} * 10)) ]; do
		screen "$1" | grep -F -q -- "$2" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	diag "timed out waiting for '$2' on:"
	diag "$(screen "$1")"
	return 1
}
wait_gone() {
	i=0
	while [ $i -lt 100 ]; do
		screen "$1" | grep -F -q -- "$2" || return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
keys() { n=$1; shift; tm send-keys -t "$n" "$@"; }
quit() { keys "$1" Escape; sleep 0.2; keys "$1" Escape; sleep 0.2; keys "$1" q; wait_exit "$1"; }
wait_exit() {
	i=0
	while [ $i -lt 100 ] && [ ! -s "$T/$1.exit" ]; do sleep 0.1; i=$((i + 1)); done
	cat "$T/$1.exit" 2>/dev/null
}
# row N of a capture (1-based)
row() { printf '%s\n' "$1" | sed -n "${2}p"; }
TUI="'$CLIPGREP' --db '$DB' $M --images=blocks"

# --- 80x24: the list; the detail on its own page ------------------------------
start s 80x24 "$TUI -q '$Q'"
wait_for s "36 hits"; ok $? "80x24: the demo query lists 36 hits"
keys s Escape
sleep 0.3
S=$(screen s)
diag "$S"
! contains "$S" "granularity"; ok $? "80x24: no room for the pane beside the list"
# Every hit row ends with its best moment and its length, whole.
n=$(printf '%s\n' "$S" | sed -n '3,23p' | grep -c ' [0-9]:[0-9][0-9]  *[0-9]:[0-9][0-9]$')
[ "$n" -eq 21 ]; ok $? "80x24: all 21 rows end with best moment and length, nothing over them ($n)"
row "$S" 2 | grep -q '1-21/36 .*best  length$'
ok $? "80x24: the range counter sits in the header before 'best length'"
row "$S" 24 | grep -q 'd detail'; ok $? "80x24: the status line shows the detail key (d)"
keys s d
wait_for s "granularity"; ok $? "80x24: d opens the detail page (breakdown)"
S=$(screen s)
diag "$S"
contains "$S" "word x frame attention" && contains "$S" "sentence-frame" && contains "$S" "best moment"
ok $? "80x24: the page shows the clip, the breakdown and the heatmap"
contains "$S" "more (w/W)"; ok $? "80x24: the heatmap says that token rows are hidden"
contains "$(row "$S" 24)" "Enter/Esc back"; ok $? "80x24: the status line shows the way back"
contains "$S" "rank 1 of 36"; ok $? "80x24: the page is the selected clip's (rank 1)"
keys s j
wait_for s "rank 2 of 36"; ok $? "80x24: j on the page shows the next clip"
keys s Enter
wait_gone s "granularity"; ok $? "80x24: Enter goes back to the list"
S=$(screen s)
n=$(printf '%s\n' "$S" | sed -n '3,23p' | grep -c ' [0-9]:[0-9][0-9]  *[0-9]:[0-9][0-9]$')
[ "$n" -eq 21 ]; ok $? "80x24: the list again ($n rows)"
keys s d
wait_for s "granularity"
keys s Escape
wait_gone s "granularity"; ok $? "80x24: Esc goes back too"
keys s /
sleep 0.2
row "$(screen s)" 24 | grep -q 'F2 detail'; ok $? "80x24: from the query line the status line offers F2"
keys s F2
wait_for s "granularity"; ok $? "80x24: F2 opens the page from the query line"
keys s Escape
wait_gone s "granularity"
keys s '?'
wait_for s "clipgrep - keys"
S=$(screen s)
contains "$S" "more (j, Down)"; ok $? "80x24: the help says it has more below"
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do keys s j; done
wait_for s "any other key closes"; ok $? "80x24: j scrolls the help to its end"
keys s x
wait_gone s "clipgrep - keys"
st=$(quit s)
[ "$st" = "EXIT=0" ]; ok $? "80x24: quits ($st)"

# --- 100x30: the pane; the heatmap scrolls with a mark ---------------------------
start m 100x30 "$TUI -q '$Q'"
wait_for m "36 hits"
keys m Escape
sleep 0.3
S=$(screen m)
diag "$S"
contains "$S" "granularity"; ok $? "100x30: the pane beside the list"
printf '%s\n' "$S" | grep -q '↓[0-9]* more (w/W)'; ok $? "100x30: a mark says how many token rows are below"
! contains "$S" "ω·weight" && printf '%s\n' "$S" | grep -q 'granularity  *\(contribution \)\{0,1\}ω·z  *weight ω  *similarity z'
ok $? "100x30: the breakdown's headings do not overlap"
contains "$S" "<start>"; ok $? "100x30: the heatmap starts at <start>"
for i in 1 2 3 4 5 6 7 8 9 10; do keys m w; done
sleep 0.5
S=$(screen m)
diag "$S"
! contains "$S" "<start>" && printf '%s\n' "$S" | grep -q '↑[0-9]* '
ok $? "100x30: w scrolls the heatmap down, and the mark says rows are above"
n=$(printf '%s\n' "$S" | sed -n '3,29p' | cut -c1-44 | grep -c ' [0-9]:[0-9][0-9]  *[0-9]:[0-9][0-9]$')
[ "$n" -eq 27 ]; ok $? "100x30: every list row ends with its times ($n)"
st=$(quit m)
[ "$st" = "EXIT=0" ]; ok $? "100x30: quits ($st)"

# --- 160x45: frame labels -----------------------------------------------------------
start l 160x45 "$TUI -q '$Q'"
wait_for l "36 hits"
keys l Escape
sleep 0.3
S=$(screen l)
diag "$S"
labels=$(printf '%s\n' "$S" | grep '│ frame ' | sed 's/.*│ frame *//')
[ -n "$labels" ]; ok $? "160x45: a row of frame labels ($labels)"
dups=$(printf '%s\n' $labels | uniq -d)
[ -z "$dups" ] && [ "$(printf '%s\n' $labels | wc -l)" -eq 12 ]
ok $? "160x45: twelve labels, no two neighbours alike (repeated: $dups)"
contains "$S" "contribution ω·z"; ok $? "160x45: the long headings where they fit"
st=$(quit l)
[ "$st" = "EXIT=0" ]; ok $? "160x45: quits ($st)"

# --- clipgrep QUERY (rclip style) on a terminal: the screen with that query -------------
start r 100x30 "'$CLIPGREP' --db '$DB' $M --images=blocks red boxes"
wait_for r "❯ red boxes"; ok $? "clipgrep red boxes: the screen opens with that query"
wait_for r "36 hits"; ok $? "and lists its hits"
st=$(quit r)
[ "$st" = "EXIT=0" ]; ok $? "quits ($st)"

done_testing
