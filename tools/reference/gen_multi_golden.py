#!/usr/bin/python3
"""gen_multi_golden.py — tests/golden/tiny-multi.safetensors, the multi-head
test model: the tiny TC-MGC and EA models of gen_tiny_model.py joined by
tools/train/multihead.py (they share one image tower), plus a third head
"meanp" (the EA file's text tower, run as EA meanP without a block), so the
tests can check that every head of the joined file computes exactly what
its single file does.  Only numpy; rerun after gen_tiny_model.py.

    /usr/bin/python3 tools/reference/gen_multi_golden.py [--out DIR]
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "train"))
import multihead  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "tests", "golden"))
args = ap.parse_args()
g = args.out
multihead.main(["-o", os.path.join(g, "tiny-multi.safetensors"),
                "tcmgc=" + os.path.join(g, "tiny-tcmgc.safetensors"),
                "ea=" + os.path.join(g, "tiny-ea.safetensors"),
                "meanp=" + os.path.join(g, "tiny-ea.safetensors"),
                "--set", "meanp:clipgrep.ea.se_type=none",
                "--set", "meanp:clipgrep.name=tiny meanP head (gen_multi_golden.py)"])
