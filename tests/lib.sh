# lib.sh — TAP helpers for clipgrep's shell tests.  Source it; the harness
# exports CLIPGREP (the program), top_srcdir and CLIPGREP_SHARED_DATA.
tap_n=0
tap_failed=0

ok() { # ok CONDITION-STATUS NAME
	tap_n=$((tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $tap_n - $2"
	else
		echo "not ok $tap_n - $2"
		tap_failed=$((tap_failed + 1))
	fi
}

diag() { printf '%s\n' "$@" | sed 's/^/# /'; }

skip_all() { echo "1..0 # SKIP $1"; exit 77; }

done_testing() {
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
}

# run CMD...: capture stdout, stderr and the exit status in $out, $err, $rc.
run() {
	tmp_out=$(mktemp) tmp_err=$(mktemp)
	"$@" >"$tmp_out" 2>"$tmp_err"
	rc=$?
	out=$(cat "$tmp_out") err=$(cat "$tmp_err")
	rm -f "$tmp_out" "$tmp_err"
}

# contains HAYSTACK NEEDLE: status 0 when NEEDLE occurs in HAYSTACK.
contains() { case $1 in *"$2"*) return 0 ;; *) return 1 ;; esac; }

: "${CLIPGREP:?run this test through make check}"
