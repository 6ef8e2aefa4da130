"""Tables of the attack's robustness figures that go beyond one target and generator: the
baselines set against the frameworks, the transfer of found colours between models, and
success against the budget.

Each reads a sweep's attack rows (``ResultsStore.attack_samples``); rates carry their Wilson
95 % interval and n. ``BASELINE_CAPTION``, ``TRANSFER_CAPTION`` and ``BUDGET_CAPTION`` say how to
read them (the report and the results page print the same words).
"""
from __future__ import annotations

from collections.abc import Sequence

from dprobe.metrics.intervals import Interval, bootstrap_mean, paired_rates, wilson
from dprobe.models.registry import BASELINES, FRAMEWORK_MODELS
from dprobe.probes.attack import pose_unit, success_within
from dprobe.probes.generator_registry import colour_budget, transfer_name, transfer_source
from dprobe.report.document import Table

__all__ = ["BASELINE_CAPTION", "BUDGET_CAPTION", "MODEL_ORDER", "TRANSFER_CAPTION",
           "baseline_table", "budget_table", "rate_text", "transfer_table"]

#: The order of the shipped models in tables: the paper's, then the baselines.
MODEL_ORDER = ("nsd", "drnet", "cssl", "cssl-da", *BASELINES)

BASELINE_CAPTION = (
    "Baselines (no decoder: the renderer and the nulls): the supervised model and the same "
    "trained with strong colour augmentation; success [95 % Wilson interval]; samples; then the "
    "baseline minus each framework model on the same samples (percentage points, bootstrap 95 % "
    "interval over poses, exact McNemar p).")
TRANSFER_CAPTION = (
    "Transfer: success of the clothing colours the renderer's attack found against the row's "
    "model, worn in front of the column's model with no update [95 % Wilson interval]; samples. "
    "The diagonal is the attack itself.")
BUDGET_CAPTION = (
    "Success against the budget: the renderer with every colour held within a CIE76 \u0394E of "
    "its own (renderer:DE), and attacks with the change bounded, |h - h0| <= eps |h0| [95 % "
    "Wilson interval]; samples; path: the share of the unbounded attack's samples that "
    "succeeded without leaving the budget (what the bounded run reaches at least); \u0394E: the "
    "renderer's mean difference of the most changed colour (2.3: just noticeable).")


def rate_text(rate: Interval) -> str:
    """A success rate as ``62% [51%, 72%]``."""
    return f"{rate.value:.0%} [{rate.low:.0%}, {rate.high:.0%}]"


def _rate(rows: Sequence[dict]) -> Interval:
    return wilson(sum(bool(r["success"]) for r in rows), len(rows))


def transfer_table(rows: Sequence[dict], order: Sequence[str] = ()) -> Table | None:
    """Success of colours found against a source model (rows: the renderer's attack on it)
    worn in front of each target (columns), from the unbounded rows (``eps`` 0). The
    diagonal is the source's own attack (generator ``renderer``). None without transfers."""
    free = [r for r in rows if not r["eps"]]
    moved = [r for r in free if transfer_source(r["generator"]) is not None]
    if not moved:
        return None
    sources = {transfer_source(r["generator"]) for r in moved}
    targets = {r["target"] for r in moved} | sources  # a source's column: its own attack
    sources_list = [n for n in order if n in sources] + sorted(sources - set(order))
    targets_list = [n for n in order if n in targets] + sorted(targets - set(order))
    body = []
    for source in sources_list:
        cells = [source]
        for target in targets_list:
            generator = "renderer" if target == source else transfer_name(source)
            group = [r for r in free if r["target"] == target and r["generator"] == generator]
            mark = " (its attack)" if target == source else ""
            cells.append(f"{rate_text(_rate(group))}{mark}; {len(group)}" if group else "-")
        body.append(cells)
    return Table(["colours found against \\ worn in front of", *targets_list], body)


#: The generators of the budget table, with their columns' names.
BUDGET_GENERATORS = {"renderer": "renderer", "self": "own decoder"}


def budget_table(rows: Sequence[dict], order: Sequence[str] = ()) -> Table | None:
    """Per target (a row): the renderer's success with each colour held within a CIE76 Delta E
    (``renderer:DE``, beside the unbounded renderer's share whose path stayed within it); then
    per generator (``renderer``, ``self``: a group of columns each)
    success at each budget ``eps`` of the bounded attacks, beside the share of the unbounded
    attack's samples whose path stayed inside that budget (``success_within``) and the
    renderer's mean CIE76 Delta E at that budget, and the unbounded attack's success. None
    without bounded rows."""
    bounded = [r for r in rows if r["eps"] and r["generator"] in BUDGET_GENERATORS]
    coloured = [r for r in rows if not r["eps"] and colour_budget(r["generator"])]
    if not bounded and not coloured:
        return None
    budgets = sorted({r["eps"] for r in bounded})
    generators = [g for g in BUDGET_GENERATORS if any(r["generator"] == g for r in bounded)]
    limits = sorted({colour_budget(r["generator"]) for r in coloured})
    targets = {r["target"] for r in (*bounded, *coloured)}
    targets_list = [n for n in order if n in targets] + sorted(targets - set(order))
    body = []
    for target in targets_list:
        cells = [target]
        free = [r for r in rows if not r["eps"] and r["target"] == target
                and r["generator"] == "renderer"]
        within = success_within(free, "delta_e_path", limits)
        for i, limit in enumerate(limits):
            group = [r for r in coloured if r["target"] == target
                     and colour_budget(r["generator"]) == limit]
            cells.append(_budget_cell(group, within[i] if within else None))
        for generator in generators:
            free = [r for r in rows if not r["eps"] and r["target"] == target
                    and r["generator"] == generator]
            within = success_within(free, "change_path", budgets)
            for i, eps in enumerate(budgets):
                group = [r for r in bounded if r["target"] == target
                         and r["generator"] == generator and r["eps"] == eps]
                cells.append(_budget_cell(group, within[i] if within else None))
            cells.append(f"{rate_text(_rate(free))}; {len(free)}" if free else "-")
        body.append(cells)
    header = (["target"] + [f"renderer, \u0394E <= {limit:g}" for limit in limits]
              + [f"{BUDGET_GENERATORS[g]}, {f'eps {e:g}' if e else 'no budget'}"
                 for g in generators for e in (*budgets, 0.0)])
    return Table(header, body)


def _budget_cell(group: Sequence[dict], within: Interval | None) -> str:
    """A bounded attack's success [interval]; samples (path: the unbounded share within the
    budget [interval]; the mean Delta E of colours [bootstrap interval over poses]); ``-``
    without samples."""
    if not group:
        return "-"
    text = f"{rate_text(_rate(group))}; {len(group)}"
    if within is not None:
        text += f" (path {rate_text(within)})"
    coloured = [r for r in group if r.get("delta_e") is not None]
    if not coloured:
        return text
    delta_e = bootstrap_mean([r["delta_e"] for r in coloured], [pose_unit(r) for r in coloured])
    return f"{text}, \u0394E {delta_e.text(1)}"


#: The generators a baseline is compared on: the attack, then the nulls (the larger of the
#: standard sweep's two random changes).
BASELINE_GENERATORS = ("renderer", "other-clothes", "random-colours:0.3")


def _sample(row: dict) -> tuple:
    """What makes two targets' rows the same sample: its pose and camera."""
    return (*pose_unit(row), row["camera"])


def baseline_table(rows: Sequence[dict], baselines: Sequence[str] = BASELINES,
                   frameworks: Sequence[str] = FRAMEWORK_MODELS) -> Table | None:
    """Each baseline's success through the renderer and the nulls (unbounded rows), and its
    difference from each framework model paired on the same samples (percentage points, cluster
    bootstrap 95 % interval over poses, exact McNemar p). None without baseline rows."""
    free = [r for r in rows if not r["eps"]]
    present = [b for b in baselines if any(r["target"] == b for r in free)]
    if not present:
        return None
    others = [f for f in frameworks if any(r["target"] == f for r in free)]
    body = []
    for baseline in present:
        for generator in BASELINE_GENERATORS:
            mine = [r for r in free if r["target"] == baseline and r["generator"] == generator]
            if not mine:
                continue
            cells = [baseline, generator, f"{rate_text(_rate(mine))}; {len(mine)}"]
            for framework in others:
                theirs = {_sample(r): r for r in free
                          if r["target"] == framework and r["generator"] == generator}
                pairs = [(r, theirs[_sample(r)]) for r in mine if _sample(r) in theirs]
                if len(pairs) < 2:
                    cells.append("-")
                    continue
                c = paired_rates([a["success"] for a, _ in pairs],
                                 [b["success"] for _, b in pairs], [pose_unit(a) for a, _ in pairs])
                d = c.difference
                cells.append(f"{100 * d.value:+.0f} [{100 * d.low:+.0f}, {100 * d.high:+.0f}], "
                             f"p {c.p_value:.2g}")
            body.append(cells)
    return Table(["baseline", "generator", "success", *[f"- {f} (points)" for f in others]],
                 body)
