#!/bin/sh
# cli-habits2.sh — what rclip, fzf and yazi users reach for (issue 16,
# item 7): `search --in DIR` (whole path components: /a/b is not /a/bc),
# `-l` and `-0` paths-only output (exact bytes), `--preview` pictures,
# `clipgrep preview FILE` as a previewer (through a pseudo-terminal that
# does or does not answer DA1 with sixel, and as `fzf --preview` calls it:
# stdin not a terminal, $FZF_PREVIEW_COLUMNS set), and `clipgrep similar`.
. "$top_srcdir/tests/lib.sh"

PTY_RUN=${PTY_RUN:-$top_builddir/tests/pty-run}
T=$(mktemp -d "${TMPDIR:-/tmp}/clipgrep-cli-habits2.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
unset CLIPGREP_DB CLIPGREP_CONFIG FZF_PREVIEW_COLUMNS FZF_PREVIEW_LINES COLORTERM
export HOME="$T/home" XDG_CONFIG_HOME="$T/cfg" XDG_DATA_HOME="$T/data" XDG_STATE_HOME="$T/state"
export TERM=xterm-256color
M=$top_srcdir/tests/golden/tiny-tcmgc.safetensors
C=$top_srcdir/assets/demo/clips
# /a/b and /a/bc share a prefix but not a folder; copy-01 is clip-01's content.
mkdir -p "$HOME" "$T/a/b" "$T/a/bc"
cp "$C/clip-01.mp4" "$C/clip-03.mp4" "$T/a/b/"
cp "$C/clip-02.mp4" "$T/a/bc/"
cp "$C/clip-01.mp4" "$T/a/bc/copy-01.mp4"
DB=$T/index.db
S="search --db $DB"

run "$CLIPGREP" index -q --db "$DB" --model "$M" "$T/a"
ok $rc "fixture: four clips in /a/b and /a/bc"

# --in
run "$CLIPGREP" $S --in "$T/a/b" a dog
printf '%s\n' "$out" | awk '{ print $NF }' | sort >"$T/in-b"
printf '%s\n' "$T/a/b/clip-01.mp4" "$T/a/b/clip-03.mp4" >"$T/want-b"
[ "$rc" -eq 0 ] && cmp -s "$T/in-b" "$T/want-b"
ok $? "--in /a/b lists the two clips under /a/b and none of /a/bc (rc $rc)"
diag "$out" "$err"
run "$CLIPGREP" $S --in "$T/a/bc/" a dog
printf '%s\n' "$out" | awk '{ print $NF }' | sort >"$T/in-bc"
printf '%s\n' "$T/a/bc/clip-02.mp4" "$T/a/bc/copy-01.mp4" >"$T/want-bc"
cmp -s "$T/in-bc" "$T/want-bc"
ok $? "--in /a/bc/ (trailing slash) lists only /a/bc"
printf '%s\n' "$out" | awk 'NR == 1 && $1 == 1 { f = 1 } END { exit !f }'
ok $? "ranks are counted within DIR (the first is 1)"
run sh -c "cd '$T/a' && exec '$CLIPGREP' $S --in b a dog"
printf '%s\n' "$out" | awk '{ print $NF }' | sort | cmp -s - "$T/want-b"
ok $? "--in takes a relative folder"
run "$CLIPGREP" $S --in "$T/a/nowhere" a dog
[ "$rc" -eq 2 ] && contains "$err" "'$T/a/nowhere'" && contains "$err" "no such folder"
ok $? "--in a missing folder: exit 2 naming it (rc $rc: $err)"
run sh -c "cd '$T/a/b' && exec '$CLIPGREP' $S a dog"
contains "$out" "$T/a/bc/clip-02.mp4"
ok $? "inside an indexed folder, search still ranks the whole index (no implicit --in)"

# -l and -0
run "$CLIPGREP" $S a dog
printf '%s\n' "$out" | awk '{ print $NF }' >"$T/order"
"$CLIPGREP" $S -l a dog >"$T/l"
cmp -s "$T/l" "$T/order"
ok $? "-l: the ranked paths, one per line, nothing else"
"$CLIPGREP" $S --files --in "$T/a/b" a dog >"$T/l2"
awk -v p="$T/a/b/" 'index($0, p) == 1' "$T/order" | cmp -s - "$T/l2"
ok $? "--files with --in: the paths under DIR in rank order"
"$CLIPGREP" $S -0 a dog >"$T/z"
tr '\n' '\000' <"$T/order" | cmp -s - "$T/z"
ok $? "-0: NUL-terminated paths (exact bytes)"
n=$(xargs -0 -n1 echo <"$T/z" | wc -l)
[ "$n" -eq 4 ]; ok $? "xargs -0 reads four paths ($n)"
run "$CLIPGREP" $S -l --json a dog
[ "$rc" -eq 1 ] && contains "$err" "--json"
ok $? "-l with --json is a usage error naming --json (rc $rc)"

# --preview
run "$CLIPGREP" $S --preview a dog
[ "$rc" -eq 0 ] && ! printf '%s' "$out" | grep -q "$(printf '\033')"
ok $? "--preview with stdout not a terminal: plain text, no escapes"
"$CLIPGREP" $S --preview=blocks -n 2 a dog >"$T/pb"
grep -q "$(printf '\342\226\200')" "$T/pb" && [ "$(grep -c 'mp4$' "$T/pb")" -eq 2 ]
ok $? "--preview=blocks: half-blocks under each of the two hits"
"$CLIPGREP" $S --preview=sixel -n 2 a dog >"$T/ps"
[ "$(grep -c "$(printf '\033')Pq\\|$(printf '\033')P[0-9;]*q" "$T/ps")" -ge 2 ]
ok $? "--preview=sixel: a sixel sequence per hit"
"$CLIPGREP" $S --preview=kitty -n 2 a dog >"$T/pk"
[ "$(grep -c "$(printf '\033')_Ga=T,f=24,s=[0-9]*,v=[0-9]*,q=2," "$T/pk")" -eq 2 ] && [ "$(grep -c 'mp4$' "$T/pk")" -eq 2 ]
ok $? "--preview=kitty: a kitty graphics picture (a=T, RGB) under each of the two hits"
run "$CLIPGREP" $S --preview=iterm a dog
[ "$rc" -eq 1 ] && contains "$err" "'iterm'"
ok $? "--preview=iterm: a usage error naming the value"

# clipgrep preview
F=$T/a/b/clip-01.mp4
run "$CLIPGREP" preview --db "$DB" "$T/a/nope.mp4"
[ "$rc" -eq 2 ] && contains "$err" "'$T/a/nope.mp4'" && contains "$err" "not in the index"
ok $? "preview of a file not in the index: exit 2 naming it (rc $rc: $err)"
if [ -x "$PTY_RUN" ]; then
	"$PTY_RUN" -g 100x30 -p 1000x600 -a '\e[?62;4;22c' -o "$T/pp1" -t 20 \
		-- "$CLIPGREP" preview --db "$DB" --query "a dog" "$F"
	ok $? "preview on a sixel terminal runs"
	"$PTY_RUN" --sixels "$T/pp1" >"$T/pp1.six"
	[ -s "$T/pp1.six" ] && awk '$6 != 1 { bad = 1 } END { exit bad }' "$T/pp1.six"
	ok $? "it writes a valid sixel image (ESC P ... q ... ESC \\)"
	diag "$(cat "$T/pp1.six")"
	grep -q "best 0:" "$T/pp1" && grep -q "clip-01.mp4" "$T/pp1"
	ok $? "and the text line: the path and the best moment"
	"$PTY_RUN" -g 100x30 -a '\e[?62;22c' -o "$T/pp2" -t 20 \
		-- "$CLIPGREP" preview --db "$DB" "$F"
	ok $? "preview on a terminal without sixel runs"
	"$PTY_RUN" --sixels "$T/pp2" >"$T/pp2.six"
	[ ! -s "$T/pp2.six" ] && grep -q "$(printf '\342\226\200')" "$T/pp2"
	ok $? "it draws half-blocks, no sixel"
else
	for i in 1 2 3 4 5; do ok 0 "# SKIP no tests/pty-run"; done
fi
# As fzf calls it: stdin not a terminal, the preview window's size in the environment.
FZF_PREVIEW_COLUMNS=30 FZF_PREVIEW_LINES=12 "$CLIPGREP" preview --db "$DB" --query "a dog" "$F" \
	</dev/null >"$T/fzf" 2>"$T/fzf.err"
rc=$?
[ "$rc" -eq 0 ] && grep -q "$(printf '\342\226\200')" "$T/fzf" && grep -q "clip-01.mp4" "$T/fzf"
ok $? "as fzf --preview: half-blocks and the text line (rc $rc: $(cat "$T/fzf.err"))"
w=$(sed 's/\x1b\[[0-9;]*m//g' "$T/fzf" | awk '{ n = gsub(/\342\226\200/, "x"); if (n > m) m = n } END { print m + 0 }')
[ "$w" -ge 10 ] && [ "$w" -le 30 ]; ok $? "the picture fits \$FZF_PREVIEW_COLUMNS ($w of 30 columns)"
l=$(wc -l <"$T/fzf")
[ "$l" -le 12 ]; ok $? "and \$FZF_PREVIEW_LINES ($l of 12 lines)"
run "$CLIPGREP" preview --db "$DB" --images sixel --width 40 "$F"
contains "$out" "$(printf '\033')P" ; ok $? "--images sixel forces sixel into a pipe"
run "$CLIPGREP" preview --db "$DB" --images kitty --width 40 "$F"
contains "$out" "$(printf '\033')_Ga=T,f=24,s=400," ; ok $? "--images kitty: a kitty picture, 40 cells of 10 pixels wide"

# clipgrep similar
run "$CLIPGREP" similar --db "$DB" "$F"
first=$(printf '%s\n' "$out" | awk 'NR == 1 { print $NF }')
[ "$rc" -eq 0 ] && [ "$first" = "$T/a/bc/copy-01.mp4" ]
ok $? "similar ranks the copy of the file's content first (rc $rc: $first)"
diag "$out" "$err"
! contains "$out" "$F"; ok $? "and leaves the file itself out"
[ "$(printf '%s\n' "$out" | wc -l)" -eq 3 ]; ok $? "the three other clips"
run "$CLIPGREP" similar --db "$DB" -n 1 -l "$F"
[ "$out" = "$T/a/bc/copy-01.mp4" ]; ok $? "-n 1 -l: just the nearest path"
run "$CLIPGREP" similar --db "$DB" "$T/a/nope.mp4"
[ "$rc" -eq 2 ] && contains "$err" "'$T/a/nope.mp4'"
ok $? "similar of a file not in the index: exit 2 naming it"

done_testing
