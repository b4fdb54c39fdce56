#!/bin/sh
# tui-terminal.sh — what the screen learns from the terminal, checked on the
# byte stream: the program runs on a pseudo-terminal (tests/pty-run) that
# answers its questions as a given terminal would.
#   kitty graphics  a terminal answering the graphics query OK (kitty,
#                   Ghostty) gets kitty pictures: each sent once (base64
#                   RGB in chunks of at most 4096), placed at its cell,
#                   deleted on exit; KITTY_WINDOW_ID or TERM=xterm-kitty
#                   alone too (not under tmux); --images=kitty forces them
#   colour depth    `xterm -ti vt340` runs with TERM=xterm (8 colours in
#                   terminfo) but draws 256: its XTVERSION answer
#                   (XTerm(N)), an XTGETTCAP Co answer or COLORTERM gets
#                   256-colour sequences and no stipple in the heatmap;
#                   CLIPGREP_COLOURS=8 and --colours 8 keep 8
. "$top_srcdir/tests/lib.sh"

PTY_RUN=${PTY_RUN:-$top_builddir/tests/pty-run}
[ -x "$PTY_RUN" ] || skip_all "no tests/pty-run"
DEMO=$top_srcdir/assets/demo
[ -r "$DEMO/demo.safetensors" ] || skip_all "no demo model"

T=$(mktemp -d "${TMPDIR:-/tmp}/clipgrep-tui-terminal.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
export XDG_CONFIG_HOME=$T/cfg XDG_DATA_HOME=$T/data XDG_STATE_HOME=$T/state
export CLIPGREP_TUI_MARK=1
unset CLIPGREP_DB CLIPGREP_CONFIG NO_COLOR CLIPGREP_COLOURS COLORTERM KITTY_WINDOW_ID TMUX STY TERM_PROGRAM
M="--model $DEMO/demo.safetensors"
DB=$T/demo.db
run "$CLIPGREP" index --db "$DB" $M "$DEMO/clips"
[ "$rc" -eq 0 ] || { diag "$err"; skip_all "clipgrep index failed"; }

DA1_PLAIN='\e[?62;22c'
KITTY_OK='\e_Gi=31,\t\e_Gi=31;OK\e\\'
XTVERSION='\e[>0q\t\eP>|XTerm(379)\e\\'
TCAP_CO='\eP+q436f\e\\\t\eP1+r436f=323536\e\\'
RESULTS='\e_clipgrep;results'
Q="red boxes bounce"

# --- kitty graphics ------------------------------------------------------------
env TERM=xterm-256color "$PTY_RUN" -g 120x40 -p 1200x800 -o "$T/k1" -t 30 -a "$DA1_PLAIN" -R "$KITTY_OK" \
	-w "$RESULTS" -d 700 -s '\e' -d 300 -s q -- "$CLIPGREP" --db "$DB" $M -q "$Q"
ok $? "a terminal answering the kitty graphics query: runs and quits"
"$PTY_RUN" --kitty "$T/k1" >"$T/k1.list"
diag "$(head -n 20 "$T/k1.list")"
nt=$(grep -c '^t ' "$T/k1.list")
[ "$nt" -ge 2 ]; ok $? "pictures are sent with the kitty protocol ($nt)"
awk '$1 == "t" && $6 != 1 { bad = 1 } END { exit bad }' "$T/k1.list"
ok $? "every transmission is 24-bit RGB of its size in base64 chunks of at most 4096"
awk '$1 == "t" { n[$2]++ } END { for (i in n) if (n[i] > 1) bad = 1; exit bad }' "$T/k1.list"
ok $? "each picture is sent once"
# The best frame: the pane at row 3, column 51 (list 48 wide, a rule, a gap).
grep -q '^p [0-9]* 3 51$' "$T/k1.list"; ok $? "the best frame is placed at row 3, column 51"
awk '$1 == "t" { sent[$2] = 1 } $1 == "p" && !sent[$2] { bad = 1 } END { exit bad }' "$T/k1.list"
ok $? "only pictures sent before are placed"
awk '$1 == "p" && ($3 < 1 || $4 < 1 || $3 > 39 || $4 > 120) { bad = 1 } END { exit bad }' "$T/k1.list"
ok $? "every placement is on the screen, above the status line"
tail -n 1 "$T/k1.list" | grep -q '^d A'; ok $? "every picture is deleted on exit"
[ -z "$("$PTY_RUN" --sixels "$T/k1")" ]; ok $? "no sixel beside kitty"
! grep -q "$(printf '\342\226\200')" "$T/k1"; ok $? "no half-blocks for the pictures"

env TERM=xterm-256color KITTY_WINDOW_ID=1 "$PTY_RUN" -g 120x40 -p 1200x800 -o "$T/k2" -t 30 -a "$DA1_PLAIN" \
	-w "$RESULTS" -d 700 -s '\e' -d 300 -s q -- "$CLIPGREP" --db "$DB" $M -q "$Q"
"$PTY_RUN" --kitty "$T/k2" | grep -q '^p '; ok $? "KITTY_WINDOW_ID alone: kitty pictures"
env TERM=xterm-256color KITTY_WINDOW_ID=1 TMUX=/tmp/x,1,0 "$PTY_RUN" -g 120x40 -p 1200x800 -o "$T/k3" -t 30 -a "$DA1_PLAIN" \
	-w "$RESULTS" -d 700 -s '\e' -d 300 -s q -- "$CLIPGREP" --db "$DB" $M -q "$Q"
! "$PTY_RUN" --kitty "$T/k3" | grep -q '^p ' && grep -q "$(printf '\342\226\200')" "$T/k3"
ok $? "KITTY_WINDOW_ID under tmux (no answer): half-blocks, not kitty"
env TERM=xterm-256color "$PTY_RUN" -g 120x40 -p 1200x800 -o "$T/k4" -t 30 -a "$DA1_PLAIN" \
	-w "$RESULTS" -d 700 -s '\e' -d 300 -s q -- "$CLIPGREP" --db "$DB" $M --images=kitty -q "$Q"
"$PTY_RUN" --kitty "$T/k4" | grep -q '^p '; ok $? "--images=kitty forces kitty pictures"
# The detail page moves the best frame: the old placement goes, the new one comes.
env TERM=xterm-256color "$PTY_RUN" -g 120x40 -p 1200x800 -o "$T/k5" -t 30 -a "$DA1_PLAIN" -R "$KITTY_OK" \
	-w "$RESULTS" -d 700 -s '\e' -d 300 -s d -d 700 -s '\e' -d 500 -s q -- "$CLIPGREP" --db "$DB" $M -q "$Q"
"$PTY_RUN" --kitty "$T/k5" >"$T/k5.list"
grep -q '^p [0-9]* 3 2$' "$T/k5.list" && grep -q '^d i [1-9]' "$T/k5.list"
ok $? "the detail page: the best frame placed at row 3, column 2, the pane's placements deleted"

# Sixel too: the page's best frame is written at its own cell.
env TERM=xterm-256color "$PTY_RUN" -g 120x40 -p 1200x800 -o "$T/s1" -t 30 -a '\e[?62;4;22c' \
	-w "$RESULTS" -d 700 -s '\e' -d 300 -s d -d 900 -s '\e' -d 500 -s q -- "$CLIPGREP" --db "$DB" $M -q "$Q"
"$PTY_RUN" --sixels "$T/s1" >"$T/s1.list"
grep -q '^3 51 ' "$T/s1.list" && grep -q '^3 2 ' "$T/s1.list" && [ "$(grep -c '^3 51 ' "$T/s1.list")" -ge 2 ]
ok $? "sixel: the best frame in the pane (3, 51), on the page (3, 2), in the pane again after Esc"

# --- colour depth ---------------------------------------------------------------------
sgr256() { grep -c "$(printf '\033')\[48;5;[0-9]*m" "$1"; }
stipple() { grep -c "$(printf '\342\226\223')" "$1"; }   # ▓, the 8-colour heatmap's shade
if infocmp xterm-256color >/dev/null 2>&1 && infocmp xterm >/dev/null 2>&1; then
	env TERM=xterm "$PTY_RUN" -g 120x40 -o "$T/c1" -t 30 -a "$DA1_PLAIN" \
		-w "$RESULTS" -d 600 -s '\e' -d 300 -s q -- "$CLIPGREP" --db "$DB" $M --images=blocks -q "$Q"
	[ "$(sgr256 "$T/c1")" -eq 0 ] && [ "$(stipple "$T/c1")" -gt 0 ]
	ok $? "TERM=xterm, a terminal that says nothing more: 8 colours, the heatmap in shades"
	env TERM=xterm "$PTY_RUN" -g 120x40 -o "$T/c2" -t 30 -a '\e[?63;1;2;4;6;9;15;16;22;28c' -R "$XTVERSION" \
		-w "$RESULTS" -d 600 -s '\e' -d 300 -s q -- "$CLIPGREP" --db "$DB" $M --images=blocks -q "$Q"
	[ "$(sgr256 "$T/c2")" -gt 0 ] && [ "$(stipple "$T/c2")" -eq 0 ]
	ok $? "TERM=xterm answering XTVERSION XTerm(379) (xterm -ti vt340): 256 colours, no shades"
	env TERM=xterm "$PTY_RUN" -g 120x40 -o "$T/c3" -t 30 -a "$DA1_PLAIN" -R "$TCAP_CO" \
		-w "$RESULTS" -d 600 -s '\e' -d 300 -s q -- "$CLIPGREP" --db "$DB" $M --images=blocks -q "$Q"
	[ "$(sgr256 "$T/c3")" -gt 0 ] && [ "$(stipple "$T/c3")" -eq 0 ]
	ok $? "TERM=xterm answering XTGETTCAP Co=256: 256 colours"
	env TERM=xterm COLORTERM=truecolor "$PTY_RUN" -g 120x40 -o "$T/c4" -t 30 -a "$DA1_PLAIN" \
		-w "$RESULTS" -d 600 -s '\e' -d 300 -s q -- "$CLIPGREP" --db "$DB" $M --images=blocks -q "$Q"
	[ "$(stipple "$T/c4")" -eq 0 ]; ok $? "TERM=xterm with COLORTERM=truecolor: no shades"
	env TERM=xterm CLIPGREP_COLOURS=8 "$PTY_RUN" -g 120x40 -o "$T/c5" -t 30 -a "$DA1_PLAIN" -R "$XTVERSION" \
		-w "$RESULTS" -d 600 -s '\e' -d 300 -s q -- "$CLIPGREP" --db "$DB" $M --images=blocks -q "$Q"
	[ "$(sgr256 "$T/c5")" -eq 0 ] && [ "$(stipple "$T/c5")" -gt 0 ]
	ok $? "CLIPGREP_COLOURS=8 overrides the detection"
	env TERM=xterm CLIPGREP_COLOURS=8 "$PTY_RUN" -g 120x40 -o "$T/c6" -t 30 -a "$DA1_PLAIN" \
		-w "$RESULTS" -d 600 -s '\e' -d 300 -s q -- "$CLIPGREP" --db "$DB" $M --images=blocks --colours 256 -q "$Q"
	[ "$(sgr256 "$T/c6")" -gt 0 ]; ok $? "--colours 256 overrides CLIPGREP_COLOURS and TERM=xterm's 8"
	env TERM=xterm-256color NO_COLOR=1 CLIPGREP_COLOURS=256 "$PTY_RUN" -g 120x40 -o "$T/c7" -t 30 -a "$DA1_PLAIN" \
		-w "$RESULTS" -d 600 -s '\e' -d 300 -s q -- "$CLIPGREP" --db "$DB" $M --images=blocks -q "$Q"
	[ "$(sgr256 "$T/c7")" -gt 0 ]; ok $? "an explicit CLIPGREP_COLOURS wins over NO_COLOR (no-color.org)"
else
	for i in 1 2 3 4 5 6 7; do ok 0 "# SKIP no xterm/xterm-256color terminfo"; done
fi
env TERM=xterm CLIPGREP_COLOURS=lots "$PTY_RUN" -g 120x40 -o "$T/c8" -t 10 -- "$CLIPGREP" --db "$DB" $M -q "$Q"
st=$?
[ "$st" -eq 1 ] && grep -q "CLIPGREP_COLOURS: .lots. is not" "$T/c8"
ok $? "CLIPGREP_COLOURS=lots: exit 1 (usage) naming the variable and the value ($st)"

done_testing
