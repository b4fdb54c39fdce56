#!/bin/sh
# cli-bench-signal.sh — a benchmark stopped by SIGINT or SIGTERM removes its
# random ViT-B/32 model file (353 MB in $TMPDIR) before it dies, whether
# the signal comes while the file is being written or after.
. "$top_srcdir/tests/lib.sh"

T=$(mktemp -d "${TMPDIR:-/tmp}/clipgrep-cli-bench-signal.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT

# A background job of a shell without job control starts with SIGINT
# ignored (and a signal ignored at exec stays ignored: nohup's contract,
# which the benchmark keeps); env puts it back to its default.
if env --default-signal=INT true 2>/dev/null; then
	DEFAULT_INT="env --default-signal=INT"
else
	DEFAULT_INT=
fi

models() { # the benchmark's model files in $T (clipgrep-bench-XXXXXX)
	ls "$T" | grep -c '^clipgrep-bench-......$'
}

for case in "INT 130 0" "TERM 143 0" "INT 130 2"; do
	set -- $case
	if [ "$1" = INT ] && [ -z "$DEFAULT_INT" ]; then
		tap_n=$((tap_n + 1))
		echo "ok $tap_n - # SKIP SIGINT ${3}s after: this env cannot reset SIGINT"
		continue
	fi
	TMPDIR=$T $DEFAULT_INT "$CLIPGREP" bench cli --videos 1000 --runs 1 >/dev/null 2>"$T/err" &
	pid=$!
	n=0
	while [ "$(models)" -eq 0 ] && [ $n -lt 600 ] && kill -0 $pid 2>/dev/null; do
		sleep 0.05
		n=$((n + 1))
	done
	seen=$(models)
	sleep "$3"
	kill -"$1" $pid
	wait $pid
	rc=$?
	[ "$seen" -eq 1 ] && [ "$rc" -eq "$2" ] && [ "$(models)" -eq 0 ]
	ok $? "SIG$1 ${3}s after the model file appeared: exit $rc (want $2), $(models) model file left ($(cat "$T/err" | tail -n 1))"
done
done_testing
