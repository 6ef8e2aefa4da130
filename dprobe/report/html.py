"""The sweep report: one static ``index.html`` with local images and styles (no server, no
internet), read from a results store.

Sections: the paper's Tables 1-4 with the published numbers beside ours; robustness curves
(success rate vs threshold, final MPJPE vs SSIM) and a per target / generator summary; attack
examples; the probe figures (swap, zero appearance, channels, t-SNE) with their numbers; the
engine benchmark table when benchmark JSON files are given; and how every number was produced
(each run's command, spec, backend and versions). Images go into ``img/``, the style sheet is
``style.css``.
"""
from __future__ import annotations

import html
import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from dprobe.report import sweep_figures
from dprobe.report.paper_tables import TABLE2, TABLE4
from dprobe.report.sweep_tables import (
    SETTING_KEYS,
    image_table,
    main_setting,
    mean,
    metric_table,
    mpjpe_table,
    setting_text,
)

__all__ = ["write_report"]

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

PROBE_ORDER = ("swap", "zero", "channels", "embed", "metrics")


def _e(text: object) -> str:
    return html.escape(str(text))


def _table(header: Sequence[str], body: Sequence[Sequence[object]]) -> str:
    def cls(title: str) -> str:
        return ' class="paper"' if "(paper)" in title else ""

    head = "".join(f"<th{cls(h)}>{_e(h)}</th>" for h in header)
    lines = ["<tr>" + "".join(f"<td{cls(h)}>{_e(v)}</td>" for h, v in zip(header, row)) + "</tr>"
             for row in body]
    return f"<table><tr>{head}</tr>{''.join(lines)}</table>"


def _figure(src: str, caption: str, cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return (f'<figure><img{c} src="{_e(src)}" alt="{_e(caption)}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def _attack_sections(rows: list[dict], store, img: Path) -> list[str]:
    if not rows:
        return ["<h2>Attack</h2><p>This database holds no attack samples.</p>"]
    setting = main_setting(rows)
    where = (f"generator: the target's own decoder; setting {setting_text(setting)}"
             if setting else "no sample used the target's own decoder as the generator")
    out = ["<h2>Table 1: MPJPE before and after the appearance-only attack</h2>",
           f"<p class='note'>Mean over samples (mm) of the error between the prediction on the "
           f"original frame and on the initial synthesis (initial) and on the attacked image "
           f"(final); {_e(where)}. Each attack stops once the error passes the threshold, so "
           f"our final errors sit just above it. Paper columns in grey (its CSSL average final "
           f"is printed as 207.5 though its subjects average 187.8).</p>",
           _table(*mpjpe_table(rows)),
           "<h2>Table 2: attacked vs initial synthesised images</h2>",
           f"<p class='note'>Mean over the samples the attack changed (iterations > 0); "
           f"{_e(where)}.</p>",
           _table(*image_table(rows, ("nsd", "drnet", "cssl"), TABLE2)),
           "<h2>Table 4: CSSL without and with data augmentation</h2>",
           _table(*image_table(rows, ("cssl", "cssl-da"), TABLE4))]
    groups = defaultdict(list)
    for r in rows:
        groups[(r["target"], r["generator"], *(r[k] for k in SETTING_KEYS))].append(r)
    header = ["target", "generator", *SETTING_KEYS, "samples", "success rate",
              "initial MPJPE mm", "final MPJPE mm", "iterations", "SSIM", "PSNR dB"]
    body = []
    for key, group in sorted(groups.items(), key=lambda kv: str(kv[0])):
        body.append([*key, len(group), f"{mean(r['success'] for r in group):.2f}",
                     f"{mean(r['initial_mpjpe_mm'] for r in group):.1f}",
                     f"{mean(r['final_mpjpe_mm'] for r in group):.1f}",
                     f"{mean(r['iterations'] for r in group):.1f}",
                     f"{mean(r['ssim'] for r in group):.3f}",
                     f"{(mean(r['psnr_db'] for r in group) or float('nan')):.2f}"])
    sweep_figures.success_rate_curves(rows, img / "success_rate.png")
    sweep_figures.final_vs_ssim(rows, img / "final_vs_ssim.png")
    out += ["<h2>Robustness</h2>", _table(header, body),
            _figure("img/success_rate.png", "Success rate against the threshold: the share of "
                    "samples whose attacked image moves the prediction further than it."),
            _figure("img/final_vs_ssim.png", "Final MPJPE against the SSIM of the attacked vs "
                    "the initial synthesised image, one point per sample.")]
    out.append("<h2>Attack examples</h2><p class='note'>Each strip: the target's crop of the "
               "frame, the generator's initial synthesis, the attacked image (first sample of "
               "the item).</p>")
    shown = set()
    for item in store.items("attack"):
        s = item["settings"]
        if (s["target"], s["generator"]) in shown:
            continue
        data = store.artifact(item["key"], "example.png")
        first = next((r for r in rows if r["item_key"] == item["key"] and r["sample"] == 0), None)
        if data is None or first is None:
            continue
        shown.add((s["target"], s["generator"]))
        name = f"example-{item['key']}.png"
        (img / name).write_bytes(data)
        out.append(_figure(f"img/{name}", f"{s['target']} attacked through {s['generator']}: "
                           f"{first['subject']} {first['action']}, camera {first['camera']}; "
                           f"MPJPE {first['initial_mpjpe_mm']:.0f} -> "
                           f"{first['final_mpjpe_mm']:.0f} mm in {first['iterations']} "
                           f"iterations, SSIM {first['ssim']:.3f}", "example"))
    return out


def _probe_sections(store, img: Path) -> list[str]:
    items = store.items("probe")
    values: dict[str, dict[str, float]] = defaultdict(dict)
    for r in store.query("SELECT model, name, value FROM probe_values WHERE probe = 'metrics'"):
        values[r["model"]][r["name"]] = r["value"]
    models = ["nsd", "drnet", "cssl", "cssl-da"]  # the paper's, always shown
    models += sorted(m for m in values if m not in models)
    out = ["<h2>Table 3: disentanglement metrics</h2>"]
    if values:
        out += ["<p class='note'>Distance correlation of the appearance and pose codes, and "
                "information over bias (IOB, '-' where the sweep trained no IOB decoders).</p>",
                _table(*metric_table(values, models))]
    else:
        out.append("<p>This database holds no metrics probe results.</p>")
    out.append("<h2>Probe figures</h2>")
    if not items:
        out.append("<p>This database holds no probe results.</p>")
    by_model = defaultdict(dict)
    for item in items:
        s = item["settings"]
        by_model[s["model"]][s["probe"]] = item
    for model, probes in sorted(by_model.items()):
        out.append(f"<h3>{_e(model)}</h3>")
        for probe in PROBE_ORDER:
            item = probes.get(probe)
            if item is None:
                continue
            for name in store.artifact_names(item["key"]):
                if not name.endswith(".png"):
                    continue
                file = f"probe-{item['key']}-{name}"
                (img / file).write_bytes(store.artifact(item["key"], name))
                out.append(_figure(f"img/{file}", f"{model}: {probe} probe ({name[:-4]})"))
    return out


def _bench_section(bench: Sequence[Path]) -> list[str]:
    out = ["<h2>Engine benchmark</h2>"]
    if not bench:
        return out + ["<p>No benchmark given (<code>dprobe report --bench FILE.json</code>, the "
                      "JSON of <code>python -m dprobe.bench</code>).</p>"]
    for path in bench:
        data = json.loads(Path(path).read_text())
        rows = data.get("rows", data.get("results")) if isinstance(data, dict) else data
        out.append(f"<h3>{_e(Path(path).name)}</h3>")
        if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
            header = list(dict.fromkeys(k for r in rows for k in r))
            body = [[_cell(r.get(k)) for k in header] for r in rows]
            out.append(_table(header, body))
        else:
            out.append(f"<pre>{_e(json.dumps(data, indent=1))}</pre>")
    return out


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return value if isinstance(value, str) else json.dumps(value)


def _provenance(store, command: str) -> list[str]:
    out = ["<h2>How these numbers were produced</h2>",
           f"<p>Report: <code>{_e(command)}</code> from <code>{_e(store.path)}</code>.</p>"]
    for run in store.runs():
        v = run["versions"]
        out.append(f"<h3>Run {run['id']}: sweep {_e(run['spec_name'])}</h3>"
                   f"<p><code>{_e(run['command'] or '(from Python)')}</code><br>backend "
                   f"{_e(run['backend'])}, {run['workers']} workers, {run['items_done']} items "
                   f"computed; {_e(', '.join(f'{k} {x}' for k, x in v.items()))}</p>"
                   f"<pre>{_e(run['spec_text'])}</pre>")
    return out


def write_report(store, out: Path, command: str = "", bench: Sequence[Path] = ()) -> Path:
    """Write ``index.html``, ``style.css`` and ``img/`` for the results in ``store`` (a
    ``ResultsStore``) into the folder ``out`` (which must exist); returns the page's path."""
    img = out / "img"
    img.mkdir(exist_ok=True)
    rows = store.attack_samples()
    body = [f"<h1>dprobe report: {len(rows)} attack samples, "
            f"{len(store.items('probe'))} probe runs</h1>",
            "<p class='note'>Pose/appearance disentanglement probes and appearance-only "
            "attacks (Nakka &amp; Salzmann), on the dprobe studio. Columns marked (paper) are "
            "the published numbers, measured on Human3.6M with the authors' networks: they "
            "are a reference, not a target.</p>"]
    body += _attack_sections(rows, store, img)
    body += _probe_sections(store, img)
    body += _bench_section(bench)
    body += _provenance(store, command)
    (out / "style.css").write_text(STYLE.lstrip())
    page = ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<title>dprobe report</title><link rel='stylesheet' href='style.css'></head>"
            "<body>\n" + "\n".join(body) + "\n</body></html>\n")
    (out / "index.html").write_text(page)
    return out / "index.html"
