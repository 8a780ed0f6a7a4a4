#!/usr/bin/env python3
"""Runs a command and prints one JSON line: wall seconds and the child's peak RSS.

usage: measure.py LABEL -- COMMAND...
"""
import json
import resource
import subprocess
import sys
import time

label = sys.argv[1]
command = sys.argv[sys.argv.index("--") + 1:]
start = time.monotonic()
done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
wall = time.monotonic() - start
if done.returncode != 0:
    sys.stderr.write(done.stderr.decode(errors="replace"))
    sys.exit(f"{label}: command failed with exit code {done.returncode}")
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"label": label, "seconds": wall, "peak_rss_mib": peak_kib / 1024}))
