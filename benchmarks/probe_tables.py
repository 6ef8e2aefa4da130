"""Markdown tables of `dprobe probe all` outputs beside the paper's numbers (issue 9 Results).

    python benchmarks/probe_tables.py benchmarks/results/probes

reads ``<dir>/<model>/{swap,zero,channels,embed,metrics}.json`` for every model folder and prints
the tables that RESULTS.md shows.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

#: Table 3 of Nakka & Salzmann (DC(A, P), IOB(I, A), IOB(I, P)); CSSL (DA) DC from section 7.
PAPER = {"nsd": (0.88, 0.79, 1.15), "drnet": (0.59, 0.90, 1.08), "cssl": (0.77, 0.95, 1.29),
         "cssl-da": (0.62, None, None)}


def _f(v, fmt: str = "{:.2f}") -> str:
    return "n/a" if v is None else fmt.format(v)


def tables(root: Path) -> str:
    """The Results tables for the model folders under ``root``."""
    models = {p.name: {j.stem: json.loads(j.read_text()) for j in p.glob("*.json")}
              for p in sorted(root.iterdir()) if p.is_dir()}
    order = [m for m in ("nsd", "drnet", "cssl", "cssl-da") if m in models]
    order += [m for m in models if m not in order]
    lines = ["| model | DC(A,P) batches of 400 | DC whole set | DC shuffled (400) | IOB(I,A) | "
             "IOB(I,P) | paper DC | paper IOB(I,A) | paper IOB(I,P) |", "|" + "---|" * 9]
    for m in order:
        r = models[m].get("metrics", {})
        p = PAPER.get(m, (None, None, None))
        lines.append(f"| {m} | {_f(r.get('dc_batched', {}).get('mean'))} | {_f(r.get('dc'))} | "
                     f"{_f(r.get('dc_shuffled_batched', {}).get('mean'))} | "
                     f"{_f(r.get('iob_a', {}).get('iob'))} | {_f(r.get('iob_p', {}).get('iob'))} | "
                     f"{_f(p[0])} | {_f(p[1])} | {_f(p[2])} |")
    lines += ["", "| model | leak S7->S8 | leak S7->S8 (raw renders) | mean leak, 42 pairs | "
              "retention h_a=0 | retention mean h_a | K: appearance flips (highest first) | "
              "K: pose flips (lowest first, projection / regressor) |", "|" + "---|" * 8]
    for m in order:
        s = models[m].get("swap", {}).get("featured", {})
        z = models[m].get("zero", {})
        f = models[m].get("channels", {}).get("flips", {})
        lines.append(f"| {m} | {_f(s.get('leak'))} | {_f(s.get('leak_raw'))} | "
                     f"{_f(s.get('mean_leak_all_pairs'))} | {_f(z.get('retention_zero'))} | "
                     f"{_f(z.get('retention_mean'))} | "
                     f"{f.get('highest_first_appearance_flip_k')} | "
                     f"{f.get('lowest_first_pose_flip_k')} / "
                     f"{f.get('lowest_first_pose_flip_k_regressor')} |")
    lines += ["", "| model | action from h_a (chance 0.11) | subject from h_p (chance 0.14) | "
              "action from h_p | subject from h_a | R2 shirt / trousers / skin from h_p | "
              "same from h_a | R2 build from h_p |", "|" + "---|" * 8]
    for m in order:
        e = models[m].get("embed")
        if not e:
            continue
        rp, ra = e["r2_from_h_p"], e["r2_from_h_a"]
        lines.append(
            f"| {m} | {_f(e['action_from_h_a']['accuracy'])} | "
            f"{_f(e['subject_from_h_p']['accuracy'])} | {_f(e['action_from_h_p']['accuracy'])} | "
            f"{_f(e['subject_from_h_a']['accuracy'])} | "
            f"{_f(rp['shirt'])} / {_f(rp['trousers'])} / {_f(rp['skin'])} | "
            f"{_f(ra['shirt'])} / {_f(ra['trousers'])} / {_f(ra['skin'])} | {_f(rp['build'])} |")
    lines += ["", "| model | " + " | ".join(models[order[0]]) + " | total s |",
              "|" + "---|" * (len(models[order[0]]) + 2)]
    for m in order:
        secs = {k: v.get("seconds", 0.0) for k, v in models[m].items()}
        iob = models[m].get("metrics", {}).get("iob_seconds", 0.0)
        cells = [_f(secs.get(k), "{:.0f}") for k in models[order[0]]]
        lines.append(f"| {m} | " + " | ".join(cells) + f" | {sum(secs.values()):.0f} "
                     f"(IOB {iob:.0f}) |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(tables(Path(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/probes")), end="")
