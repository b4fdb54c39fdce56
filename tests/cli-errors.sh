#!/bin/sh
# cli-errors.sh — the error-path matrix: every command meets empty,
# space-only, control-byte and 64 KiB arguments, missing/directory/device/
# dangling paths, bad numbers, bad and repeated options, unwritable output
# and a broken environment.  Each case checks the exit code (1 usage, 2
# error, never a signal), that stderr names the argument in quotes, that
# no raw control byte reaches stderr or stdout, and, in a sanitizer build,
# that no sanitizer report appeared.
. "$top_srcdir/tests/lib.sh"

T=$(mktemp -d "${TMPDIR:-/tmp}/clipgrep-cli-errors.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
unset CLIPGREP_DB CLIPGREP_CONFIG
export HOME="$T/home" XDG_CONFIG_HOME="$T/cfg" XDG_DATA_HOME="$T/data" XDG_STATE_HOME="$T/state"
mkdir -p "$HOME" "$T/lib" "$T/dir"
M=$top_srcdir/tests/golden/tiny-tcmgc.safetensors
DEMO=$top_srcdir/assets/demo/demo.safetensors
CLIP=$top_srcdir/assets/demo/clips/clip-01.mp4
cp "$CLIP" "$T/lib/"
DB=$T/index.db
"$CLIPGREP" index -q --db "$DB" --model "$M" "$T/lib" >/dev/null 2>&1
ok $? "fixture: a one-clip index"
ln -s "$T/nowhere" "$T/dangling"
: >"$T/afile"

SAN=no
if LC_ALL=C grep -aq -e __asan_init -e __ubsan_handle "$CLIPGREP"; then SAN=yes; fi
diag "sanitizer build: $SAN"

WS='   '
CTL=$(printf 'a\033]0;t\007b\001')
BIG=$(head -c 65536 /dev/zero | tr '\0' x)
# How each argument shows in a message.
Q_EMPTY="''" Q_WS="'$WS'" Q_CTL="'a\\x1b]0;t\\x07b\\x01'" Q_BIG="'xxxxxxxxxxxxxxxx"

# mx LABEL RC NEEDLE CMD...: run CMD; RC is the exit code wanted (12: 1 or
# 2), NEEDLE (if not empty) must be on stderr.  $redir picks how stdout is
# wired: "" (captured), full (/dev/full) or closed (>&-).
redir=
mx() {
	label=$1 want=$2 needle=$3
	shift 3
	tmp_out=$T/out tmp_err=$T/err
	case $redir in
	full) "$@" >/dev/full 2>"$tmp_err"; rc=$?; : >"$tmp_out" ;;
	closed) "$@" >&- 2>"$tmp_err"; rc=$?; : >"$tmp_out" ;;
	*) "$@" >"$tmp_out" 2>"$tmp_err" </dev/null; rc=$? ;;
	esac
	why=
	case $want in
	12) [ "$rc" -eq 1 ] || [ "$rc" -eq 2 ] || why="exit $rc, wanted 1 or 2" ;;
	*) [ "$rc" -eq "$want" ] || why="exit $rc, wanted $want" ;;
	esac
	if [ -n "$needle" ] && ! LC_ALL=C grep -qF -e "$needle" "$tmp_err"; then
		why="$why; stderr does not name $needle"
	fi
	[ -s "$tmp_err" ] || why="$why; no message"
	for f in "$tmp_out" "$tmp_err"; do
		if LC_ALL=C tr -d '\n\t' <"$f" | LC_ALL=C grep -q "$(printf '[\001-\037\177]')"; then
			why="$why; raw control byte in ${f##*/}"
		fi
	done
	if [ $SAN = yes ] && LC_ALL=C grep -q -e "ERROR: AddressSanitizer" -e "runtime error:" \
		-e "ERROR: LeakSanitizer" "$tmp_err"; then
		why="$why; sanitizer report"
	fi
	ok $([ -z "$why" ] && echo 0 || echo 1) "$label${why:+ ($why)}"
	[ -z "$why" ] || diag "$(LC_ALL=C head -c 600 "$tmp_err" | LC_ALL=C tr -c '[:print:]\n' '?')"
}

# Odd strings where a command takes a name or a value.
for k in EMPTY WS CTL BIG; do
	eval "A=\$$k Q=\$Q_$k"
	# A name the index would create lives under a file, so it cannot be made.
	D=$T/afile/$A QD=${Q#?}
	[ $k = EMPTY ] && D= QD=$Q
	mx "tokenize --bpe $k" 2 "$Q" "$CLIPGREP" tokenize --bpe "$A" red
	mx "tokenize -L $k" 1 "$Q" "$CLIPGREP" tokenize --model "$M" -L "$A" red
	mx "frames FILE $k" 2 "$Q" "$CLIPGREP" frames "$A"
	mx "frames -F $k" 1 "$Q" "$CLIPGREP" frames -F "$A" "$CLIP"
	mx "index DIR $k" 2 "$Q" "$CLIPGREP" index -q --db "$DB" --model "$M" "$A"
	mx "index --db $k" 2 "$QD" "$CLIPGREP" index -q --db "$D" --model "$M" "$T/lib"
	mx "index --jobs $k" 1 "$Q" "$CLIPGREP" index -q --db "$DB" --model "$M" --jobs "$A" "$T/lib"
	mx "search --db $k" 2 "$Q" "$CLIPGREP" search --db "$A" --model "$M" red
	mx "search --model $k" 2 "$Q" "$CLIPGREP" search --db "$DB" --model "$A" red
	mx "search -n $k" 1 "$Q" "$CLIPGREP" search --db "$DB" --model "$M" -n "$A" red
	mx "explain FILE $k" 2 "$Q" "$CLIPGREP" explain --db "$DB" --model "$M" red "$A"
	mx "info --db $k" 2 "$Q" "$CLIPGREP" info --db "$A"
	mx "merge SHARD $k" 2 "$Q" "$CLIPGREP" merge "$T/merged.db" "$A"
	mx "embed --model $k" 2 "$Q" "$CLIPGREP" embed --model "$A" --text red
	mx "embed --video $k" 2 "$Q" "$CLIPGREP" embed --model "$M" --video "$A"
	mx "export --db $k" 2 "$Q" "$CLIPGREP" export --db "$A" --model "$M" --format npy --out "$T/x"
	mx "demo --print -n $k" 1 "$Q" "$CLIPGREP" demo --print -n "$A"
	mx "--threads $k" 1 "$Q" "$CLIPGREP" --threads "$A" tokenize red
	# A bare word is a query (issue 16.5); a blank one is refused by name,
	# a missing path-like one is "no such folder".
	case $k in
	EMPTY | WS) mx "bare $k" 1 "$Q" "$CLIPGREP" "$A" ;;
	*) mx "bare ./$k" 2 "no such folder './" "$CLIPGREP" "./$A" ;;
	esac
done

# Paths that are not the file a command reads.
for k in missing dir null zero dangling; do
	case $k in
	missing) P=$T/missing ;; dir) P=$T/dir ;; null) P=/dev/null ;;
	zero) P=/dev/zero ;; dangling) P=$T/dangling ;;
	esac
	Q="'$P'"
	mx "tokenize --bpe $k" 2 "$Q" "$CLIPGREP" tokenize --bpe "$P" red
	mx "frames FILE $k" 2 "$Q" "$CLIPGREP" frames "$P"
	mx "search --model $k" 2 "$Q" "$CLIPGREP" search --db "$DB" --model "$P" red
	mx "search --db $k" 2 "$Q" "$CLIPGREP" search --db "$P" --model "$M" red
	mx "info --db $k" 2 "$Q" "$CLIPGREP" info --db "$P"
	mx "merge SHARD $k" 2 "$Q" "$CLIPGREP" merge "$T/merged.db" "$P"
	mx "embed --model $k" 2 "$Q" "$CLIPGREP" embed --model "$P" --text red
	mx "embed --video $k" 2 "$Q" "$CLIPGREP" embed --model "$M" --video "$P"
	mx "export --model $k" 2 "$Q" "$CLIPGREP" export --db "$DB" --model "$P" --format npy --out "$T/x"
done

# Numbers out of range or malformed.
for n in 0 -1 99999999999999999999 1x ' 3' 0x10; do
	Q="'$n'"
	mx "tokenize -L '$n'" 1 "$Q" "$CLIPGREP" tokenize --model "$M" -L "$n" red
	mx "frames -F '$n'" 1 "$Q" "$CLIPGREP" frames -F "$n" "$CLIP"
	mx "index --jobs '$n'" 1 "$Q" "$CLIPGREP" index -q --db "$DB" --model "$M" --jobs "$n" "$T/lib"
	mx "search -n '$n'" 1 "$Q" "$CLIPGREP" search --db "$DB" --model "$M" -n "$n" red
	mx "--threads '$n'" 1 "$Q" "$CLIPGREP" --threads "$n" tokenize red
done

# Unknown options (one with an escape sequence in it), missing values, repeats.
EVILOPT="--$(printf '\033]0;x\007')"
Q_EVILOPT="'--\\x1b]0;x\\x07'"
for cmd in tokenize frames index search explain info merge embed export demo; do
	mx "$cmd unknown option" 1 "$Q_EVILOPT" "$CLIPGREP" $cmd "$EVILOPT"
	mx "$cmd unknown short option" 1 "'-Z'" "$CLIPGREP" $cmd -Z
done
mx "bare unknown option" 1 "$Q_EVILOPT" "$CLIPGREP" "$EVILOPT"
mx "bench decode unknown option" 1 "$Q_EVILOPT" "$CLIPGREP" bench decode "$EVILOPT"
mx "bench bad name" 1 "$Q_CTL" "$CLIPGREP" bench "$CTL" --help
mx "search --db needs a value" 1 "'--db'" "$CLIPGREP" search red --db
mx "search -n needs a value" 1 "'-n'" "$CLIPGREP" search red -n
mx "index --quiet=1 takes no value" 1 "'--quiet'" "$CLIPGREP" index --quiet=1 "$T/lib"
mx "--threads needs a value" 1 "'--threads'" "$CLIPGREP" --threads
mx "search repeated --db, last one wins" 2 "'$T/missing'" \
	"$CLIPGREP" search --db "$DB" --db "$T/missing" --model "$M" red
mx "info repeated --db, last one wins" 2 "'$T/missing'" "$CLIPGREP" info --db "$DB" --db "$T/missing"

# Output that cannot be written.
for redir in full closed; do
	mx "tokenize >$redir" 2 "" "$CLIPGREP" tokenize --model "$M" red
	mx "search >$redir" 2 "" "$CLIPGREP" search --db "$DB" --model "$M" red
	mx "explain >$redir" 2 "" "$CLIPGREP" explain --db "$DB" --model "$M" red "$T/lib/clip-01.mp4"
	mx "info >$redir" 2 "" "$CLIPGREP" info --db "$DB"
	mx "frames >$redir" 2 "" "$CLIPGREP" frames -F 2 "$CLIP"
	mx "embed >$redir" 2 "" "$CLIPGREP" embed --model "$M" --text red
	mx "--help >$redir" 2 "" "$CLIPGREP" --help
	mx "--version >$redir" 2 "" "$CLIPGREP" --version
	mx "search --help >$redir" 2 "" "$CLIPGREP" search --help
	mx "bench decode --help >$redir" 2 "" "$CLIPGREP" bench decode --help
done
redir=

# A broken environment: where a default path comes from is not a folder.
mx "HOME unset" 12 "" env -u HOME -u XDG_DATA_HOME -u XDG_CONFIG_HOME -u XDG_STATE_HOME \
	"$CLIPGREP" search red --model "$M"
mx "HOME a file" 12 "'$T/afile" env -u XDG_DATA_HOME -u XDG_CONFIG_HOME -u XDG_STATE_HOME \
	HOME="$T/afile" "$CLIPGREP" search red --model "$M"
mx "XDG_DATA_HOME a file" 12 "'$T/afile" env XDG_DATA_HOME="$T/afile" "$CLIPGREP" search red --model "$M"
mx "XDG_DATA_HOME a file, index" 2 "'$T/afile" env XDG_DATA_HOME="$T/afile" \
	"$CLIPGREP" index -q --model "$M" "$T/lib"
mx "XDG_CONFIG_HOME a file" 12 "'$T/afile" env XDG_CONFIG_HOME="$T/afile" "$CLIPGREP" search red --db "$DB"
mx "XDG_STATE_HOME a file" 12 "" env XDG_STATE_HOME="$T/afile" "$CLIPGREP" search red --db "$DB" --model "$T/missing"

done_testing
