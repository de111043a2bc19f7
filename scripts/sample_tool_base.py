#!/usr/bin/python3
"""Samples a tool-task base (recipes/r1-zero-tool-tiny.json's base stage) on held-out problems with r1 generate;
usage: sample_tool_base.py R1 MODEL_DIR HELDOUT_JSONL [QUESTIONS_PER_OP] [SAMPLES] [OPS]. Reports the tool-call rate (exact
format) and the accuracy of answers given without the tool, per op."""
import json, re, subprocess, sys, collections

r1, model, heldout = sys.argv[1], sys.argv[2], sys.argv[3]
n_questions = int(sys.argv[4]) if len(sys.argv) > 4 else 20
n = int(sys.argv[5]) if len(sys.argv) > 5 else 10
ops_wanted = sys.argv[6].split(",") if len(sys.argv) > 6 else ["mulm"]

def prompt(q):
    return ("A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
            "The assistant first thinks about the reasoning process in the mind and then provides the user with the "
            "answer. The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, "
            "respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>. User: " + q + ". Assistant:")

rows = [json.loads(l) for l in open(heldout)]
call_re = re.compile(r"^ <think> (?:[A-Z][a-z ]+\. )?<tool_call> (.*) $", re.S)
code_re = re.compile(r"^print\((\d+) ([-+*]) (\d+)\)$")
stats = collections.defaultdict(collections.Counter)
examples = []
for op in ops_wanted:
    picked = [r for r in rows if r["op"] == op][:n_questions]
    for i, row in enumerate(picked):
        out = subprocess.run([r1, "-q", "--threads", "2", "generate", "--model", model, "--prompt", prompt(row["prompt"]),
                              "--n", str(n), "--temperature", "0.7", "--max-new-tokens", "128", "--seed", str(100 + i),
                              "--stop", "</tool_call>"], capture_output=True, text=True, check=True).stdout
        samples = re.split(r"^--- sample \d+ \((\w+), \d+ tokens\) ---\n", out, flags=re.M)[1:]
        for reason, text in zip(samples[0::2], samples[1::2]):
            text = text[:-1] if text.endswith("\n") else text
            s = stats[op]
            s["samples"] += 1
            if "<tool_call>" in text:
                s["mentions_tool_call"] += 1
                m = call_re.match(text)
                ok = False
                if m and reason == "stop":
                    try:
                        j = json.loads(m.group(1))
                        c = code_re.match(j["arguments"]["code"]) if j.get("name") == "python" else None
                        ok = c is not None and set(j) == {"name", "arguments"}
                        if ok:
                            s["call_exact_format"] += 1
                            a, sym, b = int(c.group(1)), c.group(2), int(c.group(3))
                            v = a + b if sym == "+" else a - b if sym == "-" else a * b
                            s["call_computes_answer"] += str(v) == row["answer"]
                    except (ValueError, KeyError, TypeError, AttributeError):
                        pass
                if not ok:
                    s["call_malformed"] += 1
                if len(examples) < 6: examples.append(text)
                continue
            s["no_tool"] += 1
            m = re.search(r"<answer> (\S+) </answer>", text) or re.search(r"The answer is (\d+)\.", text)
            if m:
                s["no_tool_answered"] += 1
                s["no_tool_correct"] += m.group(1) == row["answer"]
            if "<think> " + row["prompt"].split(" ", 1)[1].replace("out ", "") in text or re.search(r"<think> \d+ \* \d+:", text):
                s["no_tool_worked"] += 1
for op, s in stats.items():
    N = s["samples"]
    print(f"{op}: {N} samples ({n_questions} held-out questions x {n}); tool call in exact format {s['call_exact_format']} "
          f"({s['call_exact_format']/N:.1%}), malformed calls {s['call_malformed']}, calls whose code computes the answer "
          f"{s['call_computes_answer']}; without the tool: {s['no_tool']} samples, {s['no_tool_answered']} answered, "
          f"{s['no_tool_correct']} right ({s['no_tool_correct']/max(1,s['no_tool']):.1%} of no-tool samples, "
          f"{s['no_tool_correct']/N:.1%} of all), worked attempts {s['no_tool_worked']}")
print(json.dumps({op: dict(s) for op, s in stats.items()}))
for e in examples: print("example call:", e)
