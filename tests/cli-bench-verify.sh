#!/bin/sh
# cli-bench-verify — `clipgrep bench search --verify` at 2,000 synthetic
# videos: every model's fast scan (the TC-MGC bound, EA's bf16 first pass)
# must give the exhaustive fp32 scan's top 10 for every query, and the
# JSON reports how many videos were scored in full.
. "${top_srcdir:-.}/tests/lib.sh"

run "$CLIPGREP" bench search --sizes 2000 --verify --recall-videos 0 --queries 3 --seconds 2 \
    --models tcmgc,tcmgc-free,ea,fused --json
ok $rc "bench search --verify exits 0 ($err)"
n=$(printf '%s' "$out" | grep -o '"mismatches":0' | wc -l)
[ "$n" -eq 4 ]; ok $? "four models verified with 0 mismatches ($out)"
contains "$out" '"mismatches":1'; [ $? -ne 0 ]; ok $? "no query differs"
contains "$out" '"scored_in_full_per_query"'; ok $? "the videos scored in full are reported"
contains "$out" '"scan_kernel":"'; ok $? "the scan kernel is named"

run "$CLIPGREP" bench search --sizes 100000000 --models ea
[ $rc -ne 0 ]; ok $? "a size past the limit is refused"

done_testing
