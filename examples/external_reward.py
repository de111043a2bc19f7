#!/usr/bin/python3
"""An example external reward for r1: any program that reads one JSON sample per line on stdin and
writes one JSON reply per line on stdout can be a reward.

Config: [{"kind": "external", "name": "concise", "command": ["/usr/bin/python3",
          "examples/external_reward.py"], "time_budget_ms": 1000}]

In:  {"id": ..., "prompt": ..., "completion": ..., "target_language": ..., "reference": {...}, "completion_tokens": ...}
Out: {"id": <the request's>, "reward": <number>, "reason": "<optional text>"}, one line per request

This one rewards concise completions: 1.0 up to reference["max_words"] words (default 200), then
falling linearly to 0 at twice that. The process is started once and kept running; flush each reply.
"""
import json
import sys

for line in sys.stdin:
    sample = json.loads(line)
    limit = int(sample.get("reference", {}).get("max_words", 200))
    words = len(sample.get("completion", "").split())
    if words <= limit:
        reply = {"reward": 1.0}
    else:
        reply = {"reward": max(0.0, 1.0 - (words - limit) / limit), "reason": f"{words} words (limit {limit})"}
    reply["id"] = sample.get("id")
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()
