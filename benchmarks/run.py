"""Run every benchmark and write ``results/summary.json`` and ``results/summary.md``.

    python benchmarks/run.py            # the full set (about 35 minutes on 2 idle cores)
    python benchmarks/run.py --quick    # a smoke run of every script (< 3 minutes)
    python benchmarks/run.py --only sampling memory
    python benchmarks/run.py --collect  # rebuild the summary from the results/*.json on disk

Each benchmark runs as its own ``python benchmarks/NAME.py`` process (a fresh TensorFlow,
no state carried between them) and writes ``results/NAME.json``; this script collects the
last stdout line of each (its JSON result) into the summary, with the machine stated.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from _common import RESULTS, machine, markdown_table, write_result

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("train_throughput", "options", "sampling", "memory", "time_to_quality")
# Results of other time_to_quality.py runs (--family vae|diffusion, --data emoji): --collect adds each
# one found on disk to the summary; they are not re-run by this script (30-60 minutes each).
OPTIONAL_RESULTS = (
    "time_to_quality_vae",
    "time_to_quality_diffusion",
    "time_to_quality_emoji",
    "time_to_quality_emoji_vae",
    "time_to_quality_emoji_diffusion",
)


def run_one(name: str, quick: bool, out: Path) -> dict:
    command = [sys.executable, str(HERE / f"{name}.py"), "--out", str(out)] + (["--quick"] if quick else [])  # fmt: skip
    start = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, timeout=3 * 3600)
    if completed.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{completed.stderr[-3000:]}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    result["wall_seconds"] = round(time.perf_counter() - start, 1)
    result["command"] = " ".join(["python", f"benchmarks/{name}.py"] + (["--quick"] if quick else []))  # fmt: skip
    return result


def summary_rows(results: dict) -> list[list]:
    rows = []
    if "train_throughput" in results:
        r = results["train_throughput"]
        rows += [
            ["training, imgenlib GAN.fit (tutorial DCGAN, batch 256)", f"{r['imgenlib_img_per_s']} img/s"],
            ["training, bare tutorial tf.function step", f"{r['bare_img_per_s']} img/s"],
            ["training ratio imgenlib / bare (goal ≥ 1.0)", r["ratio"]],
        ]  # fmt: skip
    if "options" in results:
        for name, v in results["options"]["variants"].items():
            rows.append([f"option {name}", f"{v['img_per_s_median']} img/s ({v['ratio_vs_baseline']}× baseline)"])  # fmt: skip
        rows.append(["options recommendation", results["options"]["recommendation"]])
    if "sampling" in results:
        sampling = results["sampling"]
        for precision, peak in sampling["peak_gflops"].items():
            rows.append([f"peak (2048² matmul), {precision}", f"{peak} GFLOP/s"])
        for size, s in sampling["sizes"].items():
            for precision, m in s["precisions"].items():
                label = f"{size}×{size} {precision}"
                rows.append([f"{label} one image p50 / p95", f"{m['one_image_ms']['p50']} / {m['one_image_ms']['p95']} ms"])  # fmt: skip
                rows.append([f"{label} widget frame p50", f"{m['widget_frame_ms']['p50']} ms"])
                for batch, rate in m["batch_img_per_s"].items():
                    rows.append([f"{label} batch {batch}", f"{rate} img/s"])
                rows.append([f"{label} best batch, fraction of peak", m["fraction_of_peak"]])
            for fmt, e in s["exported"].items():
                rows.append([f"{size}×{size} {fmt} one image p50 / batch 256", f"{e['one_image_ms']['p50']} ms / {e['batch_256_img_per_s']} img/s"])  # fmt: skip
        if "28" in sampling["sizes"]:  # the goal asks for one image, by whatever route
            from sampling import GOALS

            size = sampling["sizes"]["28"]
            routes = {f"generate, {p}": m["one_image_ms"]["p50"] for p, m in size["precisions"].items()}  # fmt: skip
            routes |= {f"export {name}": e["one_image_ms"]["p50"] for name, e in size["exported"].items()}  # fmt: skip
            best = min(routes, key=routes.get)
            met = routes[best] <= GOALS["one_image_ms_p50"]
            rows.append([f"28×28 fastest one-image route (goal ≤ {GOALS['one_image_ms_p50']} ms)", f"{best}: {routes[best]} ms ({'met' if met else 'NOT met'})"])  # fmt: skip
        goals = dict(sampling.get("goals_28x28", {}))
        default = goals.pop("precision", "float32")  # results written before auto chose per batch
        for goal, g in goals.items():
            rows.append([f"goal {goal} ({g.get('precision', default)}): {'≥' if goal.startswith('batch') else '≤'} {g['goal']}", f"{g['measured']} ({'met' if g['met'] else 'NOT met'})"])  # fmt: skip
    if "memory" in results:
        for mode, m in results["memory"]["modes"].items():
            rows.append([f"peak RSS, {mode}", f"{m['peak_rss_mb']} MB"])
    from time_to_quality import RECIPES, recipe_names

    for key in [key for key in results if key.startswith("time_to_quality")]:
        r = results[key]
        minutes, n, names = r["minutes_per_recipe"], r["n"], r.get("recipes")
        names = names or recipe_names(r.get("data", "fashion_mnist"), r.get("family", "gan"))
        for recipe in RECIPES:
            final = r[recipe]["curve"][-1]
            rows.append([f"{names[recipe]}: FID (n={n}) after {minutes:g} min · img/s", f"{final['fid']} · {r[recipe]['img_per_s']} img/s"])  # fmt: skip
            raw = r[recipe].get(
                "final_without_ema"
            )  # the DDIM recipe's own weights, beside its EMA's
            if raw:
                rows.append([f"{names[recipe]}, its weights without EMA: FID (n={n}) after {minutes:g} min", raw["fid"]])  # fmt: skip
        label = key.removeprefix("time_to_quality").replace("_", " ").strip()
        rows.append([f"time to quality{f' ({label})' if label else ''}: final FID tutorial / imgenlib", r["final_fid_ratio_tutorial_over_imgenlib"]])  # fmt: skip
    return rows


def machines_line(results: dict) -> str:
    """Which machine each collected result was measured on (they may differ)."""

    def name(m):
        if not m:
            return "not recorded"
        flags = [flag for flag in ("avx512_bf16", "amx") if m.get(flag)]
        return f"{m.get('cpu', '?')} ({', '.join(flags) or 'no bf16 units'})"

    return "; ".join(f"{key} — {name(r.get('machine'))}" for key, r in results.items())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke-run every benchmark")
    parser.add_argument("--only", nargs="*", choices=BENCHMARKS, help="run only these")
    parser.add_argument("--out", help="results directory (default benchmarks/results)")
    parser.add_argument(
        "--collect",
        action="store_true",
        help="run nothing: rebuild the summary from the results/NAME.json already written "
        "(e.g. after running one script alone)",
    )
    args = parser.parse_args(argv)
    out = Path(args.out or RESULTS)
    results = {}
    for name in args.only or BENCHMARKS:
        if args.collect:
            path = out / f"{name}.json"
            if not path.exists():
                parser.error(f"--collect: {path} does not exist; run benchmarks/{name}.py first")
            results[name] = json.loads(path.read_text())
            continue
        print(f"running {name} ...", flush=True)
        results[name] = run_one(name, args.quick, out)
    if args.collect and not args.only:
        for name in OPTIONAL_RESULTS:
            if (out / f"{name}.json").exists():
                results[name] = json.loads((out / f"{name}.json").read_text())
    info = machine()
    summary = {"quick": args.quick, "machine": info, "results": results}
    header = (
        ("Summary written on" if args.collect else "Machine")
        + f": {info['cpu']}, {info['cores']} cores (AVX-512 BF16: {info['avx512_bf16']}); "
        f"TensorFlow {info['tensorflow']}, Keras {info['keras']}, Python {info['python']}; "
        + (
            "collected from the results/*.json files (each records the load average of its own "
            f"run), measured on: {machines_line(results)}."
            if args.collect
            else f"1-min load average at the end {info['load_average_1min']}."
        )
        + (" Quick smoke run: figures are not meaningful." if args.quick else "")
    )
    table = markdown_table(["measurement", "value"], summary_rows(results))
    write_result("summary", summary, f"# Benchmarks\n\n{header}\n\n{table}", out)
    print(header)
    print(table)
    print(json.dumps({"summary": str(out / "summary.json")}))


if __name__ == "__main__":
    main()
