#!/bin/sh
# cli-crash.sh — kill -9 the indexer at random moments, over and over: the
# index must stay consistent after every kill (integrity check, no video
# stored half), and a final rerun must reach exactly the state of an
# uninterrupted run.
. "$top_srcdir/tests/lib.sh"

[ -n "$FFMPEG" ] && [ -x "$FFMPEG" ] || skip_all "no ffmpeg program (\$FFMPEG)"

T=$(mktemp -d "${TMPDIR:-/tmp}/clipgrep-cli-crash.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
LIB=$T/lib
mkdir -p "$LIB/a" "$LIB/b"
HELPER=$top_builddir/tests/test-engine
M="--model $top_srcdir/tests/golden/tiny-tcmgc.safetensors --model $top_srcdir/tests/golden/tiny-ea.safetensors"
KILLS=${CLIPGREP_CRASH_KILLS:-24}

for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
	case $((i % 3)) in 0) src=testsrc2 ;; 1) src=testsrc ;; *) src=smptebars ;; esac
	dir=a
	[ $i -gt 6 ] && dir=b
	"$FFMPEG" -nostdin -v error -y -f lavfi -i "$src=size=320x240:rate=25:duration=4" \
		-vf "hue=h=$((i * 29))" -c:v libx264 -preset ultrafast -pix_fmt yuv420p \
		"$LIB/$dir/clip-$i.mp4" || skip_all "ffmpeg cannot make clips"
done
echo "garbage" >"$LIB/a/bad.mp4"
cp "$LIB/a/clip-1.mp4" "$LIB/b/copy-of-1.mp4"

# The reference: one uninterrupted run.
# shellcheck disable=SC2086
"$CLIPGREP" index -q --jobs 1 --db "$T/ref.db" $M "$LIB"
ok $? "an uninterrupted run"

# dump DB FILE: what the final state is compared on.
dump() {
	for mode in tcmgc ea fused; do
		# shellcheck disable=SC2086
		"$CLIPGREP" search --db "$1" $M --mode $mode --json -n 100 red test pattern
	done >"$2"
	"$CLIPGREP" info --db "$1" --json | sed 's/"db":"[^"]*",//; s/"db_bytes":[0-9]*,"wal_bytes":[0-9]*,//; s/"added_at[^,]*,//g; s/,"search_caches":\[[^]]*\]//' >>"$2"
}
dump "$T/ref.db" "$T/ref.txt"

# consistent DB: the integrity check passes and every indexed video has
# its tensors for both models (none stored half).
consistent() {
	if ! info=$("$CLIPGREP" info --db "$1" --json 2>&1); then
		# Killed before the schema's first commit: nothing was stored.
		case $info in *"is not a clipgrep index: it is empty"*) info='"videos":0'; return 0 ;; esac
		return 1
	fi
	case $info in *'"integrity":"ok"'*) ;; *) return 1 ;; esac
	indexed=$(printf '%s' "$info" | sed 's/.*"ok":\([0-9]*\),"partial":\([0-9]*\),.*/\1 \2/' | awk '{print $1 + $2}')
	for v in $(printf '%s' "$info" | sed 's/.*"models":\[//' | grep -o '"videos":[0-9]*' | cut -d: -f2); do
		[ "$v" -eq "$indexed" ] || return 1
	done
	return 0
}

# Kill at random moments.  Every third round some clips leave the library
# and come back the round after, so there is always work in flight: new
# files to decode, rows to delete, and a resumed run to finish.
mkdir -p "$T/out"
bad=0 live=0 i=0 counts=
# Rounds where the indexer finishes before the kill (little work left, a
# fast machine) do not count; allow enough of them on any machine.
while [ $live -lt "$KILLS" ] && [ $i -lt $((KILLS * 10)) ]; do
	i=$((i + 1))
	case $((i % 3)) in
	0) for k in $(awk -v s="$i" 'BEGIN { srand(s); for (n = 0; n < 5; n++) print 1 + int(rand() * 12) }' | sort -u); do
		for f in "$LIB"/*/clip-$k.mp4; do [ -f "$f" ] && mv "$f" "$T/out/${f#"$LIB"/}" 2>/dev/null; done
	   done ;;
	1) for d in a b; do
		[ -d "$T/out/$d" ] && for f in "$T/out/$d"/*; do [ -f "$f" ] && mv "$f" "$LIB/$d/"; done
	   done ;;
	esac
	mkdir -p "$T/out/a" "$T/out/b"
	# shellcheck disable=SC2086
	"$CLIPGREP" index -q --jobs $((i % 2 + 1)) --db "$T/crash.db" $M "$LIB" 2>/dev/null &
	pid=$!
	sleep "$(awk -v s="$i" 'BEGIN { srand(s * 7919); printf "%.3f", 0.02 + rand() * 0.2 }')"
	kill -9 $pid 2>/dev/null && live=$((live + 1))
	wait $pid 2>/dev/null
	[ -e "$T/crash.db" ] || continue # killed before the database was created
	consistent "$T/crash.db" || { bad=$((bad + 1)); diag "inconsistent after kill $i: $("$CLIPGREP" info --db "$T/crash.db" 2>&1)"; }
	counts="$counts $(printf '%s' "$info" | grep -o '"videos":[0-9]*' | head -1 | cut -d: -f2)"
done
diag "videos after each kill:$counts"
for d in a b; do
	for f in "$T/out/$d"/*; do [ -f "$f" ] && mv "$f" "$LIB/$d/"; done
done
ok $([ $bad -eq 0 ] && [ $live -ge "$KILLS" ] && echo 0 || echo 1) \
	"$live kills -9 of a running indexer ($i rounds): consistent after each"

# shellcheck disable=SC2086
"$CLIPGREP" index -q --db "$T/crash.db" $M "$LIB"
ok $? "a rerun finishes the job"
consistent "$T/crash.db"
ok $? "integrity ok after the rerun"
dump "$T/crash.db" "$T/crash.txt"
"$HELPER" --compare "$T/ref.txt" "$T/crash.txt"
ok $? "the state equals an uninterrupted run's (search results in every mode, counts)"
"$CLIPGREP" index -q --db "$T/crash.db" $M "$LIB" && dump "$T/crash.db" "$T/again.txt" &&
	cmp -s "$T/crash.txt" "$T/again.txt"
ok $? "one more run changes nothing"

# Ctrl-C: stop cleanly after the video in flight, say so, exit 2.
# shellcheck disable=SC2086
"$CLIPGREP" index --jobs 1 --db "$T/int.db" $M "$LIB" 2>"$T/int.err" &
pid=$!
sleep 0.15
kill -INT $pid 2>/dev/null
wait $pid
rc=$?
if [ $rc -eq 0 ]; then
	diag "the run finished before SIGINT arrived"
	ok 0 "SIGINT (too late to matter)"
else
	ok $([ $rc -eq 2 ] && grep -q "interrupted:" "$T/int.err" && consistent "$T/int.db" &&
		echo 0 || echo 1) "SIGINT stops cleanly: exit 2, 'interrupted', index consistent"
fi
# shellcheck disable=SC2086
"$CLIPGREP" index -q --db "$T/int.db" $M "$LIB" && dump "$T/int.db" "$T/int.txt" &&
	"$HELPER" --compare "$T/ref.txt" "$T/int.txt"
ok $? "after Ctrl-C a rerun reaches the uninterrupted state"

done_testing
