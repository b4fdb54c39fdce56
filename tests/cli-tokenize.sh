#!/bin/sh
# cli-tokenize — `clipgrep tokenize` as a user runs it, on the real CLIP
# vocabulary bundled in assets/ (the one it uses with no --bpe or --model).
. "${top_srcdir:-.}/tests/lib.sh"

bpe="$top_srcdir/assets/bpe_simple_vocab_16e6.txt.gz"
[ -r "$bpe" ] || skip_all "no $bpe"

run "$CLIPGREP" tokenize --bpe "$bpe" "a dog catching a frisbee"
ok $rc "tokenize exits 0"
contains "$out" "49406 320 1929 8617 320 45768 49407"; ok $? "ids of 'a dog catching a frisbee'"
contains "$out" "<|startoftext|> a</w> dog</w> catching</w> a</w> frisbee</w> <|endoftext|>"
ok $? "and its tokens ($out)"

run "$CLIPGREP" tokenize --bpe "$bpe" --ids "a dog" "two dogs"
[ "$out" = "49406 320 1929 49407
49406 1237 3255 49407" ]; ok $? "--ids: one query per line, ids only"

out=$(printf 'a dog\n\nA DOG!\n' | "$CLIPGREP" tokenize --bpe "$bpe" --ids)
[ "$out" = "49406 320 1929 49407
49406 49407
49406 320 1929 256 49407" ]; ok $? "queries from standard input, empty line included ($out)"

run "$CLIPGREP" tokenize --bpe "$bpe" --ids --pad -L 8 "a dog"
[ "$out" = "49406 320 1929 49407 0 0 0 0" ]; ok $? "--pad -L 8 pads with zeros to L"

run "$CLIPGREP" tokenize --bpe "$bpe" --ids -L 4 "a dog catching a frisbee"
[ "$out" = "49406 320 1929 49407" ]; ok $? "-L 4 keeps L-2 word tokens"
contains "$err" "truncated to 2"; ok $? "and says it truncated"

run "$CLIPGREP" tokenize --bpe "$bpe" --json "a \"dog\""
contains "$out" '{"text":"a \"dog\"","length":6,"truncated":false,"ids":[49406,320,257,1929,257,49407],"tokens":["<|startoftext|>","a</w>","\"</w>","dog</w>","\"</w>","<|endoftext|>"]}'
ok $? "--json output ($out)"

run "$CLIPGREP" tokenize --bpe /nonexistent/vocab.txt.gz "a dog"
[ $rc -eq 2 ]; ok $? "a missing vocabulary exits 2"
contains "$err" "/nonexistent/vocab.txt.gz"; ok $? "and names the file ($err)"

run "$CLIPGREP" tokenize --ids "a dog catching a frisbee"
[ $rc -eq 0 ] && [ "$out" = "49406 320 1929 8617 320 45768 49407" ]
ok $? "with no --bpe or --model the bundled vocabulary is used ($out$err)"

run "$CLIPGREP" tokenize --help
contains "$out" "bpe_simple_vocab_16e6.txt.gz)"; ok $? "--help names the bundled vocabulary"

run "$CLIPGREP" tokenize --bpe "$bpe" --model "$bpe" "a dog"
[ $rc -eq 1 ]; ok $? "both --bpe and --model is a usage error"

done_testing
