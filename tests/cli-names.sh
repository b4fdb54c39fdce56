#!/bin/sh
# cli-names.sh — a message that names a file or an argument shows it in
# '...' quotes with its control bytes escaped: an empty name is visible as ''
# and a name with ESC/BEL in it cannot retitle or reprogram the terminal.
. "$top_srcdir/tests/lib.sh"

T=$(mktemp -d "${TMPDIR:-/tmp}/clipgrep-cli-names.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
M1=$top_srcdir/tests/golden/tiny-tcmgc.safetensors
unset CLIPGREP_DB CLIPGREP_CONFIG
export XDG_CONFIG_HOME=$T/cfg XDG_DATA_HOME=$T/data
mkdir -p "$T/empty"
: >"$T/file"
DB=$T/index.db
"$CLIPGREP" index -q --db "$DB" --model "$M1" "$T/empty" >/dev/null 2>&1
ok $? "an empty index to name files against"

# A name with an OSC title sequence, BEL, ESC, a carriage return, a tab, DEL.
EVIL=$(printf 'x\033]0;owned\007\001\r\t\177.mkv')

# check NAME-SHOWN WANT-EMPTY CMD...: fails with a message, and stderr holds
# no raw control byte (newlines end lines; nothing else may pass).
check() {
	label=$1 want_empty=$2
	shift 2
	run "$@"
	ok $([ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] && echo 0 || echo 1) "$label: fails cleanly (exit $rc)"
	printf '%s' "$err" | LC_ALL=C tr -d '\n' | LC_ALL=C grep -q "$(printf '[\001-\037\177]')"
	ok $([ $? -ne 0 ] && echo 0 || echo 1) "$label: no raw control byte on stderr"
	if [ "$want_empty" = yes ]; then
		contains "$err" "''"; ok $? "$label: the empty name shows as ''"
	else
		ok $(contains "$err" "x\\x1b]0;owned\\x07\\x01\\x0d\\x09\\x7f.mkv'" && echo 0 || echo 1) \
			"$label: the name shows quoted and escaped"
	fi
	diag "$(printf '%s' "$err" | LC_ALL=C od -c | head -4)"
}

for kind in evil empty; do
	# A file the command would create lives in a folder that does not exist.
	if [ $kind = evil ]; then N=$EVIL C=$T/file/$EVIL e=no; else N= C= e=yes; fi
	check "frames $kind" $e "$CLIPGREP" frames "$N"
	check "index $kind" $e "$CLIPGREP" index -q --db "$DB" --model "$M1" "$N"
	check "index --db $kind" $e "$CLIPGREP" index -q --db "$C" --model "$M1" "$T/empty"
	check "index --model $kind" $e "$CLIPGREP" index -q --db "$DB" --model "$N" "$T/empty"
	check "search --db $kind" $e "$CLIPGREP" search red --db "$C" --model "$M1"
	check "search --model $kind" $e "$CLIPGREP" search red --db "$DB" --model "$N"
	check "search --mode $kind" $e "$CLIPGREP" search red --db "$DB" --model "$M1" --mode "$N"
	check "explain FILE $kind" $e "$CLIPGREP" explain red "$N" --db "$DB" --model "$M1"
	check "embed --model $kind" $e "$CLIPGREP" embed --model "$N" --text red
	check "embed --video $kind" $e "$CLIPGREP" embed --model "$M1" --video "$N"
	check "embed --format $kind" $e "$CLIPGREP" embed --model "$M1" --format "$N" --text red
	check "export --db $kind" $e "$CLIPGREP" export --db "$C" --model "$M1" --format npy --out "$T/x"
	check "export --model $kind" $e "$CLIPGREP" export --db "$DB" --model "$N" --format npy --out "$T/x"
	check "info --db $kind" $e "$CLIPGREP" info --db "$C"
	check "merge $kind" $e "$CLIPGREP" merge "$T/merged.db" "$C"
	check "tokenize --bpe $kind" $e "$CLIPGREP" tokenize --bpe "$N" red
	check "tokenize -L $kind" $e "$CLIPGREP" tokenize -L "$N" red
	check "--threads $kind" $e "$CLIPGREP" --threads "$N" tokenize red
	# A bare word is a query now (issue 16.5): a path-like one names itself.
	if [ $kind = evil ]; then check "bare ./$kind" $e "$CLIPGREP" "./$N"
	else check "bare $kind" $e "$CLIPGREP" "$N"; fi
done

done_testing
