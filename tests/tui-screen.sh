#!/bin/sh
# tui-screen.sh — the interactive screen driven in tmux (send-keys,
# capture-pane), as tmux's own regress tests do: a small index of generated
# clips and the tiny test models.  A tiny random model ranks clips by
# chance, so the checks are structural: results appear, keys move and
# switch, the breakdown and the heatmap show the query's tokens, help,
# resize, the player, quitting and signals leave the terminal clean.
. "$top_srcdir/tests/lib.sh"

TMUX_PROG=${TMUX_PROG:-$(command -v tmux)}
[ -n "$TMUX_PROG" ] && [ -x "$TMUX_PROG" ] || skip_all "no tmux program"
[ -n "$FFMPEG" ] && [ -x "$FFMPEG" ] || skip_all "no ffmpeg program (\$FFMPEG)"

T=$(mktemp -d "${TMPDIR:-/tmp}/clipgrep-tui-screen.XXXXXX") || exit 1
SOCK=clipgrep-test-$$
tm() { "$TMUX_PROG" -L "$SOCK" -f /dev/null "$@"; }
trap 'tm kill-server 2>/dev/null; rm -rf "$T"' EXIT
LIB=$T/lib
mkdir -p "$LIB" "$T/cfg/clipgrep"
M1=$top_srcdir/tests/golden/tiny-tcmgc.safetensors
M2=$top_srcdir/tests/golden/tiny-ea.safetensors
export XDG_CONFIG_HOME=$T/cfg XDG_DATA_HOME=$T/data XDG_STATE_HOME=$T/state
unset CLIPGREP_DB CLIPGREP_CONFIG NO_COLOR TMUX

clip() { # clip NAME SOURCE SECONDS FILTER
	"$FFMPEG" -nostdin -v error -y -f lavfi -i "$2=size=192x108:rate=10:duration=$3" -vf "$4" \
		-c:v libx264 -preset ultrafast -pix_fmt yuv420p "$LIB/tmp.mp4" &&
		mv "$LIB/tmp.mp4" "$LIB/$1"
}
clip red.mp4 testsrc2 4 hue=h=0 || skip_all "ffmpeg cannot make clips"
clip blue.mp4 testsrc2 4 hue=h=180
clip bars.mp4 smptebars 3 null
clip noise.mp4 testsrc 5 negate
# A file name carrying an escape sequence must be shown inert.
EVIL=$(printf 'evil\033[31mname.mp4')
cp "$LIB/red.mp4" "$LIB/$EVIL"
printf 'model = %s\nmodel = %s\n' "$M1" "$M2" >"$T/cfg/clipgrep/config"
run "$CLIPGREP" index "$LIB"
[ "$rc" -eq 0 ] || { diag "$err"; skip_all "clipgrep index failed"; }

# A player that records how it was called.
cat >"$T/player" <<EOF
#!/bin/sh
printf '%s\n' "\$@" >"$T/played"
EOF
chmod +x "$T/player"

# start NAME COLSxROWS ARGS...: the program in a new tmux session; its exit
# status lands in $T/NAME.exit, its pid in $T/NAME.pid.
start() {
	name=$1 size=$2
	shift 2
	printf '%s\n' "#!/bin/sh" "echo \$\$ >'$T/$name.pid'" \
		"exec env TERM=screen-256color CLIPGREP_PLAYER='$T/player' $* 2>'$T/$name.err'" >"$T/$name.sh"
	tm new-session -d -s "$name" -x "${size%x*}" -y "${size#*x}" \
		"sh '$T/$name.sh'; echo \"EXIT=\$?\" >'$T/$name.exit'; sleep 60"
}
screen() { tm capture-pane -p -t "$1"; }
# wait_for NAME TEXT [SECONDS]: until the screen shows TEXT.
wait_for() {
	i=0
	while [ $i -lt $((${3:-15} * 10)) ]; do
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
	while [ $i -lt 150 ]; do
		screen "$1" | grep -F -q -- "$2" || return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
wait_exit() {
	i=0
	while [ $i -lt 150 ] && [ ! -s "$T/$1.exit" ]; do sleep 0.1; i=$((i + 1)); done
	cat "$T/$1.exit" 2>/dev/null
}
keys() { n=$1; shift; tm send-keys -t "$n" "$@"; }

# --- search as you type, the list, the detail pane -------------------------
start a 120x40 "'$CLIPGREP' --images=blocks"
wait_for a "type to search"; ok $? "the screen opens with an empty query line"
wait_for a "5 videos"; ok $? "the status line shows the index (5 videos)"
keys a -l "red ball"
wait_for a "5 hits"; ok $? "typing a query lists the 5 clips"
S=$(screen a)
n=$(printf '%s\n' "$S" | grep -c '^ *[1-5] .* [0-9]:[0-9][0-9] *[0-9]:[0-9][0-9]')
[ "$n" -ge 5 ]; ok $? "five ranked rows with file names ($n)"
for label in video-sentence video-word sentence-frame frame-word "TC-MGC final score" "EA score"; do
	contains "$S" "$label"; ok $? "the breakdown shows $label"
done
contains "$S" "rank 1 of 5"; ok $? "the detail pane shows the selected clip's rank"
contains "$S" "best moment"; ok $? "the detail pane shows the best moment"
# The heatmap rows are the tokens `clipgrep tokenize` shows.
toks=$("$CLIPGREP" tokenize --model "$M1" "red ball" | cut -f2)
for tok in $toks; do
	case $tok in "<|startoftext|>") label="<start>" ;; "<|endoftext|>") label="<end>" ;; *) label=${tok%</w>} ;; esac
	printf '%s\n' "$S" | grep -q "│ $label  *[^ ]" || printf '%s\n' "$S" | grep -q "| $label  *[^ ]"
	ok $? "a heatmap row for the token $tok"
done
# The breakdown's bars are contributions and weights; the heatmap has a legend.
contains "$S" "contribution ω·z" && contains "$S" "weight ω" && contains "$S" "similarity z"
ok $? "the breakdown shows contribution ω·z, weight ω and similarity z"
contains "$S" "low " && contains "$S" " high" && contains "$S" "★ best moment" && contains "$S" "· word's best frame"
ok $? "a one-line heatmap legend: colour ramp and marks"
contains "$S" "F1 help"; ok $? "the status line shows F1 for help"
contains "$S" 'evil\x1b[31m'; ok $? "an escape sequence in a file name is shown inert"
! tm capture-pane -e -p -t a | grep -q "$(printf '\033\\[31m')name"
ok $? "and never reaches the terminal"
printf '%s\n' "$S" | grep "red" | grep -q "◆"; ok $? "the first word's attended frame is marked"

# --- keys --------------------------------------------------------------------
keys a Escape
sleep 0.3
keys a j
wait_for a "rank 2 of 5"; ok $? "j moves the selection down"
keys a k
wait_for a "rank 1 of 5"; ok $? "k moves it back up"
keys a Down Down
wait_for a "rank 3 of 5"; ok $? "arrow keys move it too"
keys a w
sleep 0.5
screen a | grep "ball" | grep -q "◆"; ok $? "w moves the highlight to the next word"
wait_for a "[fused]"; ok $? "fused is the default mode with both heads"
# The selected clip's name: the first line of the detail pane.
selected() { screen a | sed -n 3p | sed 's/.*│ //'; }
before=$(selected)
keys a Tab
wait_for a "[TC-MGC]"; ok $? "Tab switches to TC-MGC"
keys a Tab
wait_for a "[EA]"; ok $? "Tab switches to EA"
sleep 0.3
[ "$(selected)" = "$before" ]; ok $? "switching keeps the selected clip ($before)"
keys a BTab
wait_for a "[TC-MGC]"; ok $? "Shift-Tab switches back"
keys a Tab Tab
wait_for a "[fused]"; ok $? "and Tab comes round to fused"
keys a '?'
wait_for a "clipgrep - keys"; ok $? "? opens the help"
contains "$(screen a)" "Ctrl-R"; ok $? "the help lists the keys"
contains "$(screen a)" "the best moment"; ok $? "the help explains the heatmap's marks"
keys a x
wait_gone a "clipgrep - keys"; ok $? "any key closes the help"
keys a Tab
wait_for a "[TC-MGC]"
wait_for a "EA score: not used in this mode"; ok $? "TC-MGC mode: the EA panel says not used in this mode"
keys a Tab Tab
keys a Enter
i=0; while [ $i -lt 50 ] && [ ! -s "$T/played" ]; do sleep 0.1; i=$((i + 1)); done
grep -q -- "--start=" "$T/played" && grep -q "$LIB/" "$T/played"
ok $? "Enter plays the clip at its best moment ($(tr '\n' ' ' <"$T/played" 2>/dev/null))"
wait_for a "5 hits"; ok $? "the screen comes back after the player starts"

# --- the query line (readline) ----------------------------------------------------
keys a /
keys a -l " bars"
wait_for a "red ball bars"; ok $? "/ edits the query, typing appends"
keys a C-a
keys a -l "x"
wait_for a "xred ball bars"; ok $? "readline editing keys work (Ctrl-A)"
keys a C-k
keys a BSpace
wait_for a "type to search"; ok $? "an empty query clears the list"
keys a F1
wait_for a "clipgrep - keys"; ok $? "F1 opens the help from the query line"
keys a x
wait_gone a "clipgrep - keys"
keys a -l "?"
wait_for a "clipgrep - keys"; ok $? "? on an empty query line opens the help"
keys a x
wait_gone a "clipgrep - keys"
contains "$(screen a | head -1)" "type to search"; ok $? "and types nothing"
keys a -l "blue"
keys a Enter
wait_for a "blue"; sleep 0.3
keys a /
keys a C-u
keys a C-r
keys a -l "bl"
wait_for a "reverse-i-search"; ok $? "Ctrl-R searches the history"
keys a Enter
wait_for a "❯ blue"; ok $? "and brings the query back"
keys a Escape

# --- resize ------------------------------------------------------------------
tm resize-window -t a -x 30 -y 8 2>/dev/null || tm resize-pane -t a -x 30 -y 8
wait_for a "terminal too small"; ok $? "a tiny terminal says so"
tm resize-window -t a -x 70 -y 20 2>/dev/null || tm resize-pane -t a -x 70 -y 20
wait_for a "hits"; ok $? "a narrow terminal shows the list"
tm resize-window -t a -x 120 -y 40 2>/dev/null || tm resize-pane -t a -x 120 -y 40
wait_for a "video-sentence"; ok $? "back to full size: the detail pane returns"

# --- quit ----------------------------------------------------------------------------
keys a Escape
sleep 0.2
keys a q
st=$(wait_exit a)
[ "$st" = "EXIT=0" ]; ok $? "q quits with status 0 ($st)"
S=$(screen a)
! contains "$S" "hits" && ! contains "$S" "video-sentence"
ok $? "nothing is left on the screen after quitting"
grep -q "^blue$" "$T/state/clipgrep/history"
ok $? "the query history is kept in \$XDG_STATE_HOME/clipgrep/history"
[ ! -s "$T/a.err" ]; ok $? "nothing on standard error"
diag "$(cat "$T/a.err" 2>/dev/null)"

# --- the demo opens with its suggestion selected: typing replaces it ---------------
DEMO=$top_srcdir/assets/demo
if [ -r "$DEMO/demo.safetensors" ] && [ -r "$DEMO/query.txt" ]; then
	sugg=$(head -n 1 "$DEMO/query.txt")
	start m 120x40 "'$CLIPGREP' demo --images=blocks"
	wait_for m "❯ $sugg" 60; ok $? "the demo opens with its suggested query"
	keys m End
	keys m -l "s"
	wait_for m "❯ ${sugg}s"; ok $? "End keeps the suggestion: typing after it appends"
	keys m Escape; sleep 0.2; keys m q
	wait_exit m >/dev/null
	start n 120x40 "'$CLIPGREP' demo --images=blocks"
	wait_for n "❯ $sugg" 60
	keys n -l "red"
	sleep 0.5
	L=$(screen n | head -1)
	contains "$L" "❯ red" && ! contains "$L" "$sugg"
	ok $? "the first key typed replaces the suggestion ($L)"
	keys n Escape; sleep 0.2; keys n q
	wait_exit n >/dev/null
	# One file, four heads: Tab visits each head, then fused (issue 15).
	start o 120x40 "'$CLIPGREP' demo --images=blocks --mode ea-seq"
	wait_for o "[ea-seq]" 60; ok $? "--mode ea-seq: the demo's third head is a mode"
	keys o Escape; sleep 0.2; keys o Tab
	wait_for o "[meanp]"; ok $? "Tab goes on to meanp"
	keys o Tab
	wait_for o "[fused]" && wait_for o "score"; ok $? "then fused, and the hits show"
	keys o q
	wait_exit o >/dev/null
else
	for i in 1 2 3 4 5 6; do ok 0 "# SKIP no demo model"; done
fi

# --- a folder: indexed in the background, results limited to it ----------------
mkdir -p "$T/new/sub"
cp "$LIB/red.mp4" "$LIB/bars.mp4" "$T/new/"
cp "$LIB/blue.mp4" "$T/new/sub/"
start d 120x40 "'$CLIPGREP' --images=blocks --db '$T/fresh.db' -q red '$T/new'"
wait_for d "indexed" 60; ok $? "a new folder is indexed in the background (status: indexed)"
wait_for d "3 hits"; ok $? "the results fill in: the 3 videos of the folder"
keys d Escape; sleep 0.2; keys d q
st=$(wait_exit d)
[ "$st" = "EXIT=0" ]; ok $? "quits ($st)"
start e 120x40 "'$CLIPGREP' --images=blocks --db '$T/fresh.db' --no-index -q red '$T/new/sub'"
wait_for e "1 hits"; ok $? "DIR limits the results to the videos under it"
keys e Escape; sleep 0.2; keys e q
wait_exit e >/dev/null
# After its first results the screen wrote the search cache file beside the index.
cached=$(ls "$T"/fresh.db.search-* 2>/dev/null | grep -v '\.tmp-' | head -1)
[ -n "$cached" ] && [ -s "$cached" ]; ok $? "the screen writes the search cache file (${cached##*/})"

# --- colour depths -----------------------------------------------------------------
for term in xterm xterm-256color xterm-direct; do
	infocmp "$term" >/dev/null 2>&1 || { ok 0 "# SKIP no terminfo for $term"; continue; }
	start "t$term" 120x40 "env TERM=$term '$CLIPGREP' -q red"
	wait_for "t$term" "5 hits"; r=$?
	keys "t$term" Escape; sleep 0.2; keys "t$term" q
	st=$(wait_exit "t$term")
	[ $r -eq 0 ] && [ "$st" = "EXIT=0" ]; ok $? "TERM=$term: results and a clean exit ($st)"
done

# --- signals restore the terminal ---------------------------------------------------
for sig in TERM HUP INT; do
	start "s$sig" 100x30 "'$CLIPGREP' --images=blocks -q red"
	wait_for "s$sig" "5 hits"
	kill -"$sig" "$(cat "$T/s$sig.pid")"
	st=$(wait_exit "s$sig")
	S=$(screen "s$sig")
	case $sig in TERM) want=143 ;; HUP) want=129 ;; INT) want=130 ;; esac
	[ "$st" = "EXIT=$want" ] && ! contains "$S" "hits"
	ok $? "SIG$sig: the program dies of it ($st) and restores the terminal"
done

# --- Ctrl-Z: the terminal is given back while stopped, the screen returns on SIGCONT ---
start z 100x30 "'$CLIPGREP' --images=blocks -q red"
wait_for z "5 hits"
keys z C-z
i=0; while [ $i -lt 50 ] && [ "$(ps -o stat= -p "$(cat "$T/z.pid")" | cut -c1)" != T ]; do sleep 0.1; i=$((i + 1)); done
[ "$(ps -o stat= -p "$(cat "$T/z.pid")" | cut -c1)" = T ] && ! contains "$(screen z)" "hits"
ok $? "Ctrl-Z stops the program and restores the terminal"
kill -CONT "$(cat "$T/z.pid")"
wait_for z "5 hits"; ok $? "SIGCONT brings the screen back"
keys z Escape; sleep 0.2; keys z q
st=$(wait_exit z)
[ "$st" = "EXIT=0" ]; ok $? "quits after a suspend ($st)"

# --- no colour, not UTF-8 -------------------------------------------------------------
start c 100x30 "NO_COLOR=1 LC_ALL=C '$CLIPGREP' -q red"
wait_for c "5 hits"; ok $? "NO_COLOR and the C locale: results"
# Colour parameters (30-38, 40-48, 90-107); 39/49, tmux's "default colour", are not colour.
! tm capture-pane -e -p -t c | grep -o "$(printf '\033')\[[0-9;]*m" |
	grep -E -q '[[;](3[0-8]|4[0-8]|9[0-7]|10[0-7])[;m]'
ok $? "NO_COLOR: no colour sequences"
S=$(screen c)
contains "$S" " > red"; ok $? "the C locale: an ASCII prompt"
keys c Escape; sleep 0.2; keys c q
st=$(wait_exit c)
[ "$st" = "EXIT=0" ]; ok $? "quits ($st)"

# --- not a terminal, no index ------------------------------------------------------------
run "$CLIPGREP" </dev/null
[ "$rc" -eq 1 ] && contains "$err" "needs a terminal"
ok $? "without a terminal: a message and exit 1"

done_testing
