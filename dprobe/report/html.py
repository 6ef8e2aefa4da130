"""The sweep report: one static ``index.html`` with local images and styles (no server, no
internet), and the same report as GitHub Markdown, ``report.md``, read from a results store.

Sections: the paper's Tables 1-4 and orderings with the published numbers beside ours, each
row with our 95 % interval, the spread between retrained seeds (when a replicates folder is
given) and a verdict computed from them (``dprobe.report.paper_claims``); robustness curves
(success rate vs threshold, final MPJPE vs SSIM) and a per target / generator summary with the
nulls (generators that change the clothes without an adversary) beside the attacks; attack
examples, each with a 3D panel of its poses (ground truth, prediction on the initial synthesis
and on the attacked image, mm) where the store holds them; the probe figures (swap, zero
appearance, channels, t-SNE) with their numbers; the engine benchmark table when benchmark JSON
files are given; and how every number was produced (each run's command, spec, backend and
versions). The sections are built once as blocks (``dprobe.report.document``) and rendered to
both files; images go into ``img/`` (both files link them by relative path), the style sheet is
``style.css``.
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from dprobe.metrics.intervals import Interval
from dprobe.probes.attack import attack_summary
from dprobe.probes.registry import probe_names
from dprobe.report import sweep_figures
from dprobe.report.attack_figures import plot_poses
from dprobe.report.document import (
    Block,
    Code,
    Figure,
    Heading,
    Preformatted,
    Table,
    note,
    text,
    to_html,
    to_markdown,
)
from dprobe.report.paper_claims import (
    CLAIM_HEADER,
    ORDER_HEADER,
    Replicates,
    dc_iob_claims,
    image_claims,
    mpjpe_claims,
    ordering_claims,
)
from dprobe.report.paper_tables import TABLE2, TABLE4
from dprobe.report.probe_tables import leak_table, linear_probe_table
from dprobe.report.robustness_tables import (
    BASELINE_CAPTION,
    BUDGET_CAPTION,
    MODEL_ORDER,
    TRANSFER_CAPTION,
    baseline_table,
    budget_table,
    transfer_table,
)
from dprobe.report.sweep_tables import SETTING_KEYS, main_setting, setting_rows, setting_text
from dprobe.sweep.store import EXAMPLE_POSES

__all__ = ["report_blocks", "write_report"]

STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.85em; }
th, td { border: 1px solid #bbb; padding: 2px 6px; text-align: right; }
th { background: #eee; } td:first-child, th:first-child { text-align: left; }
td.paper, th.paper { color: #666; background: #f7f7f7; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
figcaption { font-size: 0.8em; max-width: 600px; }
img { max-width: 100%; } img.example { image-rendering: pixelated; width: 384px; }
pre { background: #f4f4f4; padding: 0.6em; font-size: 0.8em; overflow-x: auto; }
p.note { font-size: 0.85em; color: #555; }
"""


def _robustness(rows: list[dict], img: Path) -> list[Block]:
    """The per target / generator / setting summary (``dprobe.probes.attack.attack_summary``)
    and the two robustness figures."""
    groups = defaultdict(list)
    for r in rows:
        groups[(r["target"], r["generator"], *(r[k] for k in SETTING_KEYS))].append(r)
    header = ["target", "generator", *SETTING_KEYS, "samples / poses", "success rate",
              "initial MPJPE mm", "final MPJPE mm", "iterations", "change", "SSIM frame"]
    body = []
    for key, group in sorted(groups.items(), key=lambda kv: str(kv[0])):
        s = attack_summary(group)
        body.append([*key, f"{s['samples']} / {s['poses']}",
                     *(_with_interval(s, k, d) for k, d in (
                         ("success", 2), ("initial_mpjpe_mm", 1), ("final_mpjpe_mm", 1),
                         ("iterations", 1), ("change", 3), ("ssim_frame", 4)))])
    unbounded = [r for r in rows if not r["eps"]]
    sweep_figures.success_rate_curves(unbounded, img / "success_rate.png")
    sweep_figures.final_vs_ssim(unbounded, img / "final_vs_ssim.png")
    against_nulls = ([Figure("img/success_vs_change.png", "Success rate against the size of "
                             "the change of clothes: the renderer's attack (stars) beside the "
                             "nulls (random colours of two sizes, another subject's clothes; "
                             "no adversary), with 95 % Wilson intervals.")]
                     if sweep_figures.success_vs_change(unbounded, img / "success_vs_change.png")
                     else [])
    return [Heading("Robustness"),
            note("Per target, generator and setting, with 95 % intervals (success: Wilson over "
                 "samples; means: bootstrap over poses). The nulls random-colours:SIZE (the "
                 "colours moved by a random direction of relative size SIZE) and other-clothes "
                 "(another subject's colours) change the clothes once, without an adversary: "
                 "their rows are how far predictions move when nobody chose the change; change: "
                 "the relative size |h - h0| / |h0| of the change (an attack's budget eps is in "
                 "the same unit)."),
            Table(header, body),
            Figure("img/success_rate.png", "Success rate against the threshold: the share of "
                   "samples whose attacked image moves the prediction further than it."),
            Figure("img/final_vs_ssim.png", "Final MPJPE against the SSIM of the attacked vs "
                   "the initial synthesised image, one point per sample (attacks without a "
                   "budget)."), *against_nulls, *_baselines_transfer_budget(rows, img)]


def _baselines_transfer_budget(rows: list[dict], img: Path) -> list[Block]:
    """The baselines, transfer and budget tables and the budget figure, where the rows hold
    them."""
    out: list[Block] = []
    baselines = baseline_table(rows)
    if baselines is not None:
        out += [Heading("Baselines: models trained to read pose from labels"),
                note(BASELINE_CAPTION), baselines]
    transfer = transfer_table(rows, MODEL_ORDER)
    if transfer is not None:
        out += [Heading("Transfer: colours found against one model, worn in front of another"),
                note(TRANSFER_CAPTION), transfer]
    budget = budget_table(rows, MODEL_ORDER)
    drawn = sweep_figures.budget_curves(rows, img / "budget.png")
    if budget is not None or drawn:
        out += [Heading("Success against the budget"), note(BUDGET_CAPTION)]
        out += [budget] if budget is not None else []
        out += [Figure("img/budget.png", "Success against the budget: bounded attacks "
                       "(markers) and the unbounded attacks' paths (lines); right, the "
                       "renderer's attack against the perceived colour change, squares "
                       "renderer:DE, the nulls at their mean ΔE.")] if drawn else []
    return out


def _example(store, item: dict, first: dict, img: Path) -> list[Block]:
    """One attack example: its image strip and, where the store holds its poses, their 3D
    panel (``dprobe.report.attack_figures.plot_poses``, mm)."""
    s, key = item["settings"], item["key"]
    name = f"example-{key}.png"
    (img / name).write_bytes(store.artifact(key, "example.png"))
    what = (f"{s['target']} attacked through {s['generator']} ({s['engine']}): "
            f"{first['subject']} {first['action']}, camera {first['camera']}")
    out = [Figure(f"img/{name}", f"{what}; MPJPE {first['initial_mpjpe_mm']:.0f} -> "
                  f"{first['final_mpjpe_mm']:.0f} mm in {first['iterations']} iterations, "
                  f"SSIM {first['ssim']:.3f}", "example")]
    poses = store.artifact(key, EXAMPLE_POSES)
    if poses is not None:
        plot_poses(json.loads(poses), img / f"poses-{key}.png")
        out.append(Figure(f"img/poses-{key}.png", f"{what}: 3D poses (mm, root-relative, "
                          "camera frame): ground truth, prediction on the initial synthesis, "
                          "prediction on the attacked image."))
    return out


def _examples(rows: list[dict], store, img: Path) -> list[Block]:
    """The first sample of the first item of each target / generator."""
    out: list[Block] = [
        Heading("Attack examples"),
        note("Each strip: the target's crop of the frame, the generator's initial synthesis, "
             "the attacked image (first sample of the item); beside it, the sample's poses in "
             "3D (items computed by a dprobe that did not store poses have none).")]
    shown = set()
    for item in store.items("attack"):
        s = item["settings"]
        if (s["target"], s["generator"]) in shown:
            continue
        first = next((r for r in rows if r["item_key"] == item["key"] and r["sample"] == 0), None)
        if first is None or store.artifact(item["key"], "example.png") is None:
            continue
        shown.add((s["target"], s["generator"]))
        out += _example(store, item, first, img)
    return out


def _with_interval(summary: dict, key: str, digits: int) -> str:
    """A summary's figure as ``value [low, high]`` (``-`` when it has none)."""
    interval = summary.get("intervals", {}).get(key)
    if interval is None or interval.get("value") is None:
        return "-"
    return Interval.from_dict(interval).text(digits)


#: What every claim table's verdict means.
VERDICTS = ("Verdict: agrees when the paper's number lies in our 95 % interval, disagrees when "
            "outside, cannot tell when we have no interval; '-' where the paper has no number "
            "or its number is not on our scale (the reason is in its column). Between seeds: "
            "mean \u00b1 standard deviation over the replicates retrained with other seeds "
            "under the shorter common recipe (experiments/replicates.sh).")


def _attack_sections(rows: list[dict], store, img: Path,
                     replicates: Replicates | None) -> list[Block]:
    if not rows:
        return [Heading("Attack"), text("This database holds no attack samples.")]
    setting = main_setting(rows)
    where = (f"generator: the target's own decoder; setting {setting_text(setting)}"
             if setting else "no sample used the target's own decoder as the generator")
    main = setting_rows(rows, setting)
    source = note("These attack figures were computed "
                  f"{capture_description([i['settings']['studio'] for i in store.items('attack')])}.")
    out = [Heading("Table 1: MPJPE before and after the appearance-only attack"), source,
           note("Mean over samples (mm) of the error between the prediction on the original "
                "frame and on the initial synthesis (initial) and on the attacked image "
                f"(final); {where}. Each attack stops once the error passes the threshold, so "
                "our final errors sit just above it. The paper's CSSL average final is printed "
                "as 207.5 though its subjects average 187.8. " + VERDICTS),
           Table(CLAIM_HEADER, mpjpe_claims(main, replicates)),
           Heading("Table 2: attacked vs initial synthesised images"),
           note(f"Means over the samples the attack changed (iterations > 0); {where}. On the "
                "target's crop, and on the full frame (the generator's crop pasted back into "
                "the frame), the paper's scale."),
           Table(CLAIM_HEADER, image_claims(main, TABLE2, replicates)),
           Heading("Table 4: CSSL without and with data augmentation"),
           Table(CLAIM_HEADER, image_claims(main, TABLE4, replicates))]
    return out + _robustness(rows, img) + _examples(rows, store, img)


def _probe_sections(store, img: Path, replicates: Replicates | None) -> list[Block]:
    items = store.items("probe")
    values = store.probe_values()
    models = ["nsd", "drnet", "cssl", "cssl-da"]  # the paper's, always shown
    models += sorted(m for m in values if m not in models)
    out: list[Block] = [Heading("Table 3: disentanglement metrics")]
    if items:
        out.append(note("These probe figures were computed "
                        f"{capture_description([i['settings']['studio'] for i in items])}."))
    if any(k.startswith("metrics.") for v in values.values() for k in v):
        out += [note("Distance correlation of the appearance and pose codes (V-statistic, "
                     "intervals by a grouped jackknife over poses): over batches of 400 that mix "
                     "the test subjects (the paper's mini-batches), over batches of one subject, "
                     "over the whole set, and with the pose codes shuffled (the level that "
                     "independent codes of these sizes reach); information over bias (IOB, "
                     "interval over its held-out images; absent where the sweep trained no IOB "
                     "decoders). " + VERDICTS),
                Table(CLAIM_HEADER, dc_iob_claims(values, models, replicates))]
    else:
        out.append(text("This database holds no metrics probe results."))
    out += [Heading("The paper's orderings"),
            note("Does our data put the models in the paper's order? Ours: the difference A - B "
                 "with its 95 % interval and p (attack figures paired on the same samples, "
                 "a sign-flip permutation over poses; probe figures from the two intervals "
                 "taken as independent, which is conservative); agrees / disagrees when the "
                 "interval lies wholly on the paper's / the other side of 0, cannot tell when "
                 "it holds 0. Over the seeds: the same difference in each retrained replicate "
                 "and the verdict of its t interval: whether the ordering survives reseeding."),
            Table(ORDER_HEADER, ordering_claims(store.attack_samples(), values, replicates))]
    shown = [m for m in models if m in values]
    if shown:
        out += [Heading("Probe numbers"),
                note("Leak (paper Fig. 2): 0 = the swapped image shows the appearance subject's "
                     "clothes, 1 = it kept the pose subject's. Retention (Fig. 3): the share of "
                     "the between-subject appearance variance that the pose code alone keeps. "
                     "K (Fig. 6): the number of pose-code channels swapped before the image "
                     "shows the other subject's appearance or pose."),
                Table(*leak_table(values, shown)),
                note("Held-out linear probes (Fig. 4, 9): accuracy of action and subject from "
                     "each code, R\u00b2 of appearance attributes from each code."),
                Table(*linear_probe_table(values, shown))]
    out.append(Heading("Probe figures"))
    if not items:
        out.append(text("This database holds no probe results."))
    by_model = defaultdict(dict)
    for item in items:
        s = item["settings"]
        by_model[s["model"]][s["probe"]] = item
    for model, probes in sorted(by_model.items()):
        out.append(Heading(model, 3))
        for probe in probe_names():
            item = probes.get(probe)
            if item is None:
                continue
            for name in store.artifact_names(item["key"]):
                if not name.endswith(".png"):
                    continue
                file = f"probe-{item['key']}-{name}"
                (img / file).write_bytes(store.artifact(item["key"], name))
                out.append(Figure(f"img/{file}", f"{model}: {probe} probe ({name[:-4]})"))
    return out


def _bench_section(bench: Sequence[Path]) -> list[Block]:
    out: list[Block] = [Heading("Engine benchmark")]
    if not bench:
        return out + [text("No benchmark given (", Code("dprobe report --bench FILE.json"),
                           ", the JSON of ", Code("python -m dprobe.bench"), ").")]
    for path in bench:
        data = json.loads(Path(path).read_text())
        rows = data.get("rows", data.get("results")) if isinstance(data, dict) else data
        out.append(Heading(Path(path).name, 3))
        if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
            header = list(dict.fromkeys(k for r in rows for k in r))
            out.append(Table(header, [[_cell(r.get(k)) for k in header] for r in rows]))
        else:
            out.append(Preformatted(json.dumps(data, indent=1)))
    return out


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return value if isinstance(value, str) else json.dumps(value)


def _provenance(store, command: str) -> list[Block]:
    out: list[Block] = [Heading("How these numbers were produced"),
                        text("Report: ", Code(command or "(not recorded)"), " from ",
                             Code(str(store.path)), ".")]
    for run in store.runs():
        v = run["versions"]
        out += [Heading(f"Run {run['id']}: sweep {run['spec_name']}", 3),
                text(Code(run["command"] or "(from Python)")),
                text(f"backend {run['backend']}, {run['workers']} workers, {run['items_done']} "
                     f"items computed; {', '.join(f'{k} {x}' for k, x in v.items())}"),
                Preformatted(run["spec_text"])]
    return out


#: The studio preset of a capture prepared from real Human3.6M frames (``dprobe data
#: h36m-prepare``).
REAL_CAPTURE = "h36m"


def capture_description(studios: Sequence[dict]) -> str:
    """Where the results came from, by the studio identities of the items (``preset``): the
    synthetic studio, real Human3.6M frames, or both (then each table's rows are from either)."""
    presets = {s.get("preset") for s in studios}
    real = REAL_CAPTURE in presets
    if real and presets != {REAL_CAPTURE}:
        return ("on both the dprobe studio and real frames of a Human3.6M capture (dprobe data "
                "h36m-prepare; its masks are estimates): the results mix the two")
    if real:
        return ("on real frames of a Human3.6M capture (dprobe data h36m-prepare; its masks are "
                "estimates, and the probes that need counterfactual renders do not run on it)")
    return "on the dprobe studio"


def report_blocks(store, img: Path, command: str = "", bench: Sequence[Path] = (),
                  replicates: Replicates | None = None) -> list[Block]:
    """The report of the results in ``store`` (a ``ResultsStore``) as blocks, with the
    between-seed spread of ``replicates`` (``dprobe.report.replicates``) where given; its
    images are written into the folder ``img`` (linked as ``img/<name>``)."""
    rows = store.attack_samples()
    blocks: list[Block] = [
        Heading(f"dprobe report: {len(rows)} attack samples, "
                f"{len(store.items('probe'))} probe runs", 1),
        note("Pose/appearance disentanglement probes and appearance-only attacks (Nakka & "
             "Salzmann), "
             f"{capture_description([i['settings']['studio'] for i in store.items()])}. "
             "Columns marked (paper) are the published "
             "numbers, measured on Human3.6M with the authors' networks: they are a reference, "
             "not a target.")]
    blocks += _attack_sections(rows, store, img, replicates)
    blocks += _probe_sections(store, img, replicates)
    blocks += _bench_section(bench)
    return blocks + _provenance(store, command)


def write_report(store, out: Path, command: str = "", bench: Sequence[Path] = (),
                 replicates: Replicates | None = None) -> Path:
    """Write ``index.html``, ``report.md``, ``style.css`` and ``img/`` for the results in
    ``store`` (a ``ResultsStore``) into the folder ``out`` (which must exist), with the
    between-seed spread of ``replicates`` where given; returns the page's path."""
    img = out / "img"
    img.mkdir(exist_ok=True)
    blocks = report_blocks(store, img, command, bench, replicates)
    (out / "style.css").write_text(STYLE.lstrip())
    page = ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<title>dprobe report</title><link rel='stylesheet' href='style.css'></head>"
            "<body>\n" + to_html(blocks) + "\n</body></html>\n")
    (out / "index.html").write_text(page)
    (out / "report.md").write_text(to_markdown(blocks))
    return out / "index.html"
