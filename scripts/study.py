#!/usr/bin/env python3
"""The learning study: does r1's tiny R1 pipeline reproduce the paper's findings, over several seeds?

For each seed it runs recipes/r1-zero-long-tiny.json (R1-Zero) and recipes/r1-long-tiny.json (the R1
pipeline, whose table evaluates that seed's R1-Zero model beside its own stages), both from the same
cached bases, then pools the seeds into one report:

  * every accuracy is pass@1 over the table's k samples per held-out problem, shown per seed and as the
    mean over seeds, with a 95% interval across problems (each problem's pass rate averaged over seeds);
  * the orderings the paper reports, each with its paired difference and whether it is within noise:
    base < R1-Zero <= R1, R1's language consistency >= 0.99 above R1-Zero's, distilled student > RL-only;
  * the per-stage ablation (what each pipeline stage adds or costs, paired against the stage before);
  * R1-Zero's curves: held-out accuracy, response length and reflection rate per step, and response
    length per difficulty, base against final.

Usage:
  scripts/study.py                      # seeds 1 2 3 under runs/study
  scripts/study.py --seeds 1 2 --runs-dir /tmp/study
  scripts/study.py --report-only        # pool what the runs folder holds, run nothing

Writes RUNS_DIR/study.md (Markdown, also printed) and RUNS_DIR/study.json. Not part of CI: on 2 cores a
seed takes about 45 minutes (R1-Zero about 15, the pipeline about 30, after the bases are cached).
Uses only the Python standard library.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# t quantiles for a two-sided 95% interval, by degrees of freedom (larger: the normal 1.96).
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
        12: 2.179, 15: 2.131, 20: 2.086, 25: 2.060, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}


def t975(df):
    if df < 1:
        return float("nan")
    keys = sorted(T975)
    if df >= keys[-1]:
        return 1.96 + (T975[120] - 1.96) * 120 / df if df < 100000 else 1.96
    lower = max(k for k in keys if k <= df)
    upper = min(k for k in keys if k >= df)
    if lower == upper:
        return T975[lower]
    # interpolate in 1/df, which is close to linear for t quantiles
    w = (1 / df - 1 / upper) / (1 / lower - 1 / upper)
    return T975[upper] + w * (T975[lower] - T975[upper])


def mean_ci(values):
    """Mean and the half-width of its 95% interval (Student t across the values)."""
    n = len(values)
    m = sum(values) / n
    if n < 2:
        return m, float("nan")
    var = sum((v - m) ** 2 for v in values) / (n - 1)
    return m, t975(n - 1) * math.sqrt(var / n)


def run(cmd, log):
    print("+ " + " ".join(cmd), flush=True)
    start = time.time()
    with open(log, "a") as out:
        rc = subprocess.call(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    if rc != 0:
        sys.exit(f"study: {' '.join(cmd)} failed (exit {rc}); its output is in {log}")
    return time.time() - start


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as e:
        sys.exit(f"study: {path}: not JSON ({e})")


def read_jsonl(path):
    rows = []
    try:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as e:
                        sys.exit(f"study: {path}:{n}: not JSON ({e})")
    except FileNotFoundError:
        pass
    return rows


def build_bases(runs_dir, r1, log):
    """Pretrains (or finds cached) the bases both recipes share, so the seeds' timings start after them."""
    with open(os.path.join(ROOT, "recipes", "r1-long-tiny.json")) as f:
        recipe = json.load(f)
    recipe["name"] = "bases"
    recipe["stages"] = [s for s in recipe["stages"] if s.get("kind") == "pretrain-synthetic"]
    path = os.path.join(runs_dir, "bases.json")
    with open(path, "w") as f:
        json.dump(recipe, f, indent=2)
    return run([r1, "run", path, "--runs-dir", runs_dir], log)


def run_seed(seed, runs_dir, r1, log, timings):
    zero_name, r1_name = f"zero-s{seed}", f"r1-s{seed}"
    timings.setdefault(str(seed), {})
    timings[str(seed)]["r1_zero_s"] = run(
        [r1, "run", "recipes/r1-zero-long-tiny.json", "--runs-dir", runs_dir, "--name", zero_name,
         "--set", f"inputs.seed={seed}"], log)
    zero_model = os.path.join(runs_dir, zero_name, "zero", "model")
    timings[str(seed)]["pipeline_s"] = run(
        [r1, "run", "recipes/r1-long-tiny.json", "--runs-dir", runs_dir, "--name", r1_name,
         "--set", f"inputs.seed={seed}", "--set", f"inputs.r1_zero={zero_model}"], log)


# The table's rows by role (names as recipes/r1-long-tiny.json's table stage gives them).
ROLES = {
    "base": "base",
    "zero": "R1-Zero (recipes/r1-zero-long-tiny.json)",
    "cold": "1. cold-start SFT",
    "reason": "2. reasoning RL",
    "sft": "3. rejection sampling + SFT",
    "r1": "4. RL for all scenarios (R1)",
    "student": "student base",
    "distilled": "student distilled from R1",
    "student_rl": "student, RL only",
}


def table_rows(runs_dir, seed):
    ev = read_json(os.path.join(runs_dir, f"r1-s{seed}", "table", "eval.json"))
    if ev is None:
        return None
    return {row["name"]: row for row in ev["rows"]}


def pooled(rows_by_seed, name):
    """Per-problem pass rates averaged over seeds, and per-seed accuracies, of one table row."""
    per_seed, problems = [], None
    for seed, rows in rows_by_seed.items():
        row = rows.get(name)
        if row is None:
            return None
        per_seed.append((seed, row["accuracy"], row.get("accuracy_ci95"), row.get("language_consistency")))
        p = row.get("per_problem")
        if p is None:
            sys.exit(f"study: seed {seed}: table row '{name}' has no per_problem (a table from an older r1?)")
        problems = [0.0] * len(p) if problems is None else problems
        if len(p) != len(problems):
            sys.exit(f"study: seed {seed}: '{name}' has {len(p)} problems, other seeds {len(problems)}")
        problems = [a + b / len(rows_by_seed) for a, b in zip(problems, p)]
    return {"per_seed": per_seed, "per_problem": problems}


def fmt(x, digits=3):
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def compare(rows_by_seed, a, b):
    """b - a, paired over problems (pass rates averaged over seeds), with its 95% interval."""
    pa, pb = pooled(rows_by_seed, a), pooled(rows_by_seed, b)
    if pa is None or pb is None:
        return None
    d, ci = mean_ci([y - x for x, y in zip(pa["per_problem"], pb["per_problem"])])
    return {"difference": d, "ci95": ci, "within_noise": abs(d) <= ci}


def r1_zero_curves(runs_dir, seed):
    stage = os.path.join(runs_dir, f"zero-s{seed}", "zero")
    metrics = read_jsonl(os.path.join(stage, "metrics.jsonl"))
    heldout = read_jsonl(os.path.join(stage, "heldout.jsonl"))
    summary = read_json(os.path.join(stage, "summary.json")) or {}
    steps = []
    for m in metrics:
        if "step" not in m or "response_length" not in m:
            continue
        steps.append({"step": m["step"], "format_rate": m.get("format_rate"), "accuracy": m.get("accuracy"),
                      "response_tokens": m["response_length"]["mean"], "reflection_rate": m.get("reflection_rate")})
    return {"steps": steps, "heldout": heldout, "base": summary.get("base"), "final": summary.get("final"),
            "wall_s": summary.get("wall_s")}


def by_difficulty_table(base, final):
    lines = ["| difficulty (steps) | problems | base pass@1 | base tokens | final pass@1 | final tokens | final reflection |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    b, f = (base or {}).get("by_difficulty", {}), (final or {}).get("by_difficulty", {})
    for key in sorted(set(b) | set(f), key=lambda k: float(k)):
        x, y = b.get(key, {}), f.get(key, {})
        lines.append(f"| {key} | {y.get('problems', x.get('problems', '—'))} | {fmt(x.get('accuracy'))} | "
                     f"{fmt(x.get('mean_response_tokens'), 1)} | {fmt(y.get('accuracy'))} | "
                     f"{fmt(y.get('mean_response_tokens'), 1)} | {fmt(y.get('reflection_rate'))} |")
    return lines


def pearson(xs, ys):
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sx = math.sqrt(sum((x - mx) ** 2 for x in xs))
    sy = math.sqrt(sum((y - my) ** 2 for y in ys))
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / (sx * sy) if sx > 0 and sy > 0 else float("nan")


def report(runs_dir, seeds, timings):
    rows_by_seed = {s: r for s in seeds if (r := table_rows(runs_dir, s)) is not None}
    if not rows_by_seed:
        sys.exit(f"study: no finished pipeline table under {runs_dir} for seeds {seeds}")
    done = sorted(rows_by_seed)
    out = {"seeds": done, "timings": timings, "rows": {}, "orderings": {}, "ablation": [], "r1_zero": {}}
    md = [f"# r1 learning study: seeds {', '.join(map(str, done))}", "",
          "pass@1 over each table's k samples per held-out problem; the interval is 95% across problems "
          "(each problem's pass rate averaged over seeds).", ""]
    md += ["| model | " + " | ".join(f"seed {s}" for s in done) + " | mean ± 95% | language |",
           "| --- | " + " | ".join("---" for _ in done) + " | --- | --- |"]
    for role, name in ROLES.items():
        p = pooled(rows_by_seed, name)
        if p is None:
            continue
        m, ci = mean_ci(p["per_problem"])
        langs = [x[3] for x in p["per_seed"] if x[3] is not None]
        lang = sum(langs) / len(langs) if langs else None
        out["rows"][role] = {"name": name, "per_seed": {str(s): a for s, a, _, _ in p["per_seed"]}, "mean": m, "ci95": ci,
                             "language_consistency": lang}
        md.append(f"| {name} | " + " | ".join(fmt(a) for _, a, _, _ in p["per_seed"]) + f" | {fmt(m)} ± {fmt(ci)} | {fmt(lang)} |")

    def order(key, what, a, b, strict):
        c = compare(rows_by_seed, ROLES[a], ROLES[b])
        if c is None:
            return
        holds = c["difference"] > 0 if strict else c["difference"] >= 0
        label = "holds" if holds else "fails"
        if c["within_noise"]:
            label += " (within noise)"
        out["orderings"][key] = dict(c, holds=holds)
        md.append(f"| {what} | {c['difference']:+.3f} ± {c['ci95']:.3f} | {label} |")

    md += ["", "## Orderings (paired over problems, pooled over seeds)", "",
           "| ordering | difference | verdict |", "| --- | --- | --- |"]
    order("base<zero", "base < R1-Zero", "base", "zero", True)
    order("zero<=r1", "R1-Zero ≤ R1", "zero", "r1", False)
    order("rl<distilled", "student RL only < distilled", "student_rl", "distilled", True)
    zl, rl = out["rows"].get("zero", {}).get("language_consistency"), out["rows"].get("r1", {}).get("language_consistency")
    if zl is not None and rl is not None:
        holds = rl >= 0.99 and zl < rl
        out["orderings"]["language"] = {"r1": rl, "zero": zl, "holds": holds}
        md.append(f"| R1 language ≥ 0.99 > R1-Zero's | R1 {rl:.3f}, R1-Zero {zl:.3f} | {'holds' if holds else 'fails'} |")

    md += ["", "## What each pipeline stage adds (paired against the stage it starts from)", "",
           "| stage | from | difference | verdict |", "| --- | --- | --- | --- |"]
    for stage, start in [("cold", "base"), ("reason", "cold"), ("sft", "reason"), ("r1", "sft"), ("sft", "base")]:
        c = compare(rows_by_seed, ROLES[start], ROLES[stage])
        if c is None:
            continue
        verdict = "within noise" if c["within_noise"] else ("gains" if c["difference"] > 0 else "costs")
        out["ablation"].append(dict(c, stage=stage, start=start))
        md.append(f"| {ROLES[stage]} | {ROLES[start]} | {c['difference']:+.3f} ± {c['ci95']:.3f} | {verdict} |")

    md += ["", "## R1-Zero's curves", ""]
    zero_seeds = [s for s in seeds if os.path.exists(os.path.join(runs_dir, f"zero-s{s}", "zero", "metrics.jsonl"))]
    for s in zero_seeds:
        cur = r1_zero_curves(runs_dir, s)
        out["r1_zero"][str(s)] = cur
        md += [f"### seed {s}" + (f" ({cur['wall_s'] / 60:.1f} min)" if cur.get("wall_s") else ""), ""]
        if cur["heldout"]:
            md += ["| step | held-out pass@1 | ± 95% | response tokens | reflection |", "| --- | --- | --- | --- | --- |"]
            for h in cur["heldout"]:
                md.append(f"| {h.get('step')} | {fmt(h.get('accuracy'))} | {fmt(h.get('accuracy_ci95'))} | "
                          f"{fmt(h.get('mean_response_tokens'), 1)} | {fmt(h.get('reflection_rate'))} |")
            md.append("")
        st = cur["steps"]
        if st:
            # Means over bins of steps: one step's 128 samples are too few to read a trend from.
            width = max(1, math.ceil(len(st) / 6))
            md += ["| steps | train accuracy | format | response tokens | reflection |", "| --- | --- | --- | --- | --- |"]
            for at in range(0, len(st), width):
                b = st[at:at + width]

                def avg(key):
                    v = [m[key] for m in b if m[key] is not None]
                    return sum(v) / len(v) if v else None
                md.append(f"| {b[0]['step']}–{b[-1]['step']} | {fmt(avg('accuracy'))} | {fmt(avg('format_rate'))} | "
                          f"{fmt(avg('response_tokens'), 1)} | {fmt(avg('reflection_rate'), 4)} |")
            md.append("")
        if cur["final"] and cur["final"].get("by_difficulty"):
            md += by_difficulty_table(cur["base"], cur["final"])
            bd = cur["final"]["by_difficulty"]
            keys = sorted(bd, key=float)
            r = pearson([float(k) for k in keys], [bd[k]["mean_response_tokens"] for k in keys])
            md += ["", f"Correlation of difficulty with final response length across buckets: {r:.3f}.", ""]
    if timings:
        md += ["## Time (2 cores, after the cached bases)", "", "| seed | R1-Zero | pipeline |", "| --- | --- | --- |"]
        for s, t in sorted(timings.items()):
            if not isinstance(t, dict):
                continue
            md.append(f"| {s} | {t.get('r1_zero_s', 0) / 60:.1f} min | {t.get('pipeline_s', 0) / 60:.1f} min |")
    text = "\n".join(md) + "\n"
    with open(os.path.join(runs_dir, "study.md"), "w") as f:
        f.write(text)
    with open(os.path.join(runs_dir, "study.json"), "w") as f:
        json.dump(out, f, indent=2)
    print(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="RL/SFT seeds (the bases are shared)")
    ap.add_argument("--runs-dir", default="runs/study", help="where the runs, the stage cache and the report go")
    ap.add_argument("--report-only", action="store_true", help="pool the finished runs; run nothing")
    ap.add_argument("--r1", default=os.path.join(ROOT, "build", "cli", "r1"), help="the r1 binary")
    args = ap.parse_args()
    runs_dir = os.path.abspath(args.runs_dir)
    os.makedirs(runs_dir, exist_ok=True)
    timings_path = os.path.join(runs_dir, "timings.json")
    timings = read_json(timings_path) or {}
    if not args.report_only:
        if subprocess.call([os.path.join(ROOT, "scripts", "build.sh")], cwd=ROOT) != 0:
            sys.exit("study: the build failed")
        log = os.path.join(runs_dir, "study.log")
        timings["bases_s"] = build_bases(runs_dir, args.r1, log)
        for seed in args.seeds:
            run_seed(seed, runs_dir, args.r1, log, timings)
            with open(timings_path, "w") as f:
                json.dump(timings, f, indent=2)
    report(runs_dir, args.seeds, timings)


if __name__ == "__main__":
    main()
