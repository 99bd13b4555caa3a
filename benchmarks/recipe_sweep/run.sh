#!/bin/bash
# Runs the sweep configs concurrently, results to $OUT.
cd "$(dirname "$0")"  # x3.npz: uint8 patches + Set5 from step1_pre.py, made by make_npz.py
i=0
while read -r line; do
  [ -z "$line" ] && continue
  python3 sweep.py "$line" "$OUT/r$i.json" > "$OUT/r$i.log" 2>&1 &
  i=$((i+1))
done < configs.txt
wait
python3 - <<'PY'
import json,glob,os
for f in sorted(glob.glob(os.environ["OUT"]+"/r*.json")):
    r=json.load(open(f)); c=r["curve"]; print(r["cfg"], "epochs", c[-1][0], "t", c[-1][1], "best", max(p for _,_,p in c), "last", c[-1][2], [p for _,_,p in c][::max(1,len(c)//8)])
PY
