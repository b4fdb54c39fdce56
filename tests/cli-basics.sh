#!/bin/sh
# cli-basics — the program's front door: --help, --version, usage errors
# and their exit codes (0 ok, 1 usage, 2 error).
. "${top_srcdir:-.}/tests/lib.sh"

run "$CLIPGREP" --help
ok $rc "--help exits 0"
contains "$out" "Usage: clipgrep"; ok $? "--help prints the usage"
contains "$out" "tokenize"; ok $? "--help lists the tokenize command"
contains "$out" "keys: F1"; ok $? "--help names the help key of the interactive search (F1)"

run "$CLIPGREP" --version
ok $rc "--version exits 0"
contains "$out" "clipgrep 0."; ok $? "--version prints the version ($out)"

# A word that is no command is a query (issue 16.5): with no index, the
# message says how to make one.
run env CLIPGREP_DB="${TMPDIR:-/tmp}/clipgrep-no-such-index-$$.db" "$CLIPGREP" no-such-command
[ $rc -eq 2 ]; ok $? "a word that is no command is a query: no index, exit 2"
contains "$err" "no index yet at"; ok $? "and the message gives the next step"

run "$CLIPGREP" --threads zero tokenize
[ $rc -eq 1 ]; ok $? "a bad --threads exits 1"
contains "$err" "--threads: 'zero'"; ok $? "and names the value"

run "$CLIPGREP"
[ $rc -eq 1 ]; ok $? "no command prints the usage and exits 1"

run "$CLIPGREP" tokenize --help
ok $rc "tokenize --help exits 0"
contains "$out" "--bpe FILE"; ok $? "tokenize --help documents --bpe"

done_testing
