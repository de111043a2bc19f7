#!/usr/bin/python3
"""An external tool for tests/test_tool_custom.cpp that misbehaves on demand: arguments {"mode": ...}.

  echo       content = arguments["text"]
  whoami     content = "<pid> <trajectory>"
  fail       content = "bad input", error true
  garbage    a line that is not JSON
  nocontent  {"id", "result": ...}: JSON without "content"
  hang       sleeps 60 s (past any timeout)
  crash      exits with status 3 before replying
  huge       content = arguments["size"] bytes: the head "HEAD", "a"s, the tail "TAIL"
  noid       replies without an "id"
"""
import json
import os
import sys
import time

for line in sys.stdin:
    call = json.loads(line)
    args = call.get("arguments", {})
    mode = args.get("mode", "echo")
    reply = {"id": call.get("id"), "error": False}
    if mode == "echo":
        reply["content"] = args.get("text", "")
    elif mode == "whoami":
        reply["content"] = "%d %s" % (os.getpid(), call.get("trajectory", ""))
    elif mode == "fail":
        reply.update(content="bad input", error=True)
    elif mode == "garbage":
        sys.stdout.write("this is not json\n")
        sys.stdout.flush()
        continue
    elif mode == "nocontent":
        reply["result"] = "42"
    elif mode == "hang":
        time.sleep(60)
        reply["content"] = "late"
    elif mode == "crash":
        os._exit(3)
    elif mode == "huge":
        size = int(args.get("size", 100000))
        reply["content"] = "HEAD" + "a" * (size - 8) + "TAIL"
    elif mode == "noid":
        reply = {"content": "no id here"}
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()
