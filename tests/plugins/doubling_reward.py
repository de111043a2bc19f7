#!/usr/bin/python3
# A reward program for tests that breaks the protocol: two reply lines for every sample, the second
# scoring 99. With "ids" it echoes each request's id (the second line too); without, it echoes none.
import json, sys
ids = len(sys.argv) > 1 and sys.argv[1] == "ids"
for line in sys.stdin:
    request = json.loads(line)
    first = {"reward": float(len(request["completion"]))}
    second = {"reward": 99.0}
    if ids:
        first["id"] = second["id"] = request["id"]
    sys.stdout.write(json.dumps(first) + "\n" + json.dumps(second) + "\n")
    sys.stdout.flush()
