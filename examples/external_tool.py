#!/usr/bin/python3
"""An example external tool for r1: any program that reads one JSON call per line on stdin and writes
one JSON reply per line on stdout can be a tool the model calls (docs/tools.md, "Custom tools").

Config (a stage's "tools" object):
  {"kind": "external", "name": "constant", "command": ["/usr/bin/python3", "examples/external_tool.py"],
   "description": "Look up a physical or mathematical constant by name",
   "parameters": {"type": "object", "properties": {"name": {"type": "string", "description": "e.g. speed of light"}},
                  "required": ["name"]},
   "timeout_s": 10, "max_output_bytes": 4096}

In:  {"id": 7, "name": "constant", "arguments": {"name": "speed of light"}, "trajectory": "<id>"}
Out: {"id": 7, "content": "299792458 m/s", "error": false}, one line per request; flush each one.

The process is started on the tool's first call and kept running; r1 restarts it if it dies, hangs past
timeout_s or writes something that is not a JSON line. The "trajectory" id lets a tool keep state per
trajectory; this one counts each trajectory's lookups.
"""
import json
import sys

CONSTANTS = {
    "speed of light": "299792458 m/s",
    "planck constant": "6.62607015e-34 J s",
    "avogadro constant": "6.02214076e23 1/mol",
    "gravitational constant": "6.67430e-11 m^3 kg^-1 s^-2",
    "pi": "3.14159265358979323846",
    "e": "2.71828182845904523536",
}
lookups = {}  # trajectory id -> lookups so far

for line in sys.stdin:
    call = json.loads(line)
    key = str(call.get("arguments", {}).get("name", "")).strip().lower()
    trajectory = call.get("trajectory", "")
    lookups[trajectory] = lookups.get(trajectory, 0) + 1
    if key in CONSTANTS:
        reply = {"content": CONSTANTS[key], "error": False}
    else:
        reply = {"content": "unknown constant %r; known: %s" % (key, ", ".join(sorted(CONSTANTS))), "error": True}
    reply["id"] = call.get("id")
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()
