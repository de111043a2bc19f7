#!/usr/bin/python3
# A reward program for tests that starts a child which ignores SIGTERM and would live forever; it
# writes the child's pid to the file named by its argument. Stopping the reward must stop the child.
import json, os, signal, sys, time
pid = os.fork()
if pid == 0:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.close(0)
    os.close(1)
    while True:
        time.sleep(60)
with open(sys.argv[1], "w") as f:
    f.write(str(pid))
for line in sys.stdin:
    sys.stdout.write(json.dumps({"reward": 1.0, "id": json.loads(line)["id"]}) + "\n")
    sys.stdout.flush()
