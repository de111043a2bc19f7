#!/usr/bin/python3
# A misbehaving external reward for tests: its reply depends on the completion.
import json, os, sys, time
for line in sys.stdin:
    c = json.loads(line)["completion"]
    if c == "crash":
        os._exit(3)
    if c == "sleep":
        time.sleep(5)
    if c == "garbage":
        sys.stdout.write("this is not json\n")
    elif c == "huge":
        sys.stdout.write(json.dumps({"reward": 1e308}) + "\n")
    elif c == "no-reward":
        sys.stdout.write(json.dumps({"score": 1}) + "\n")
    else:
        sys.stdout.write(json.dumps({"reward": float(len(c)), "reason": "pid %d" % os.getpid()}) + "\n")
    sys.stdout.flush()
