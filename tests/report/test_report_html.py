"""The sweep report: the paper's numbers beside ours, local files only, every image loaded in
headless Chromium; report.md with the same tables and images; 3D pose panels of the attack
examples (and none, without failing, for items stored without poses)."""
import html
import re
import shutil
import sqlite3
import subprocess

import pytest
import torch
from threadpoolctl import threadpool_limits

from dprobe.sweep.spec import parse_spec
from dprobe.sweep.store import EXAMPLE_POSES
from tests.support import run_cli

SPEC = """
name = "report-test"
[studio]
path = "{studio}"
[probes]
models = ["nsd"]
probes = ["zero", "metrics"]
per_camera = 1
metrics_per_camera = 25
[attack]
targets = ["nsd", "cssl"]
generators = ["self"]
subjects = ["S1", "S9"]
cameras = [0]
frames = 2
iterations = 2
threshold_mm = 400.0
"""
HEADINGS = ("Table 1", "Table 2", "Table 3", "Table 4", "Robustness", "Attack examples",
            "Probe numbers", "Probe figures", "Engine benchmark", "How these numbers were produced")
CHECK = ("<script>window.addEventListener('load', () => {const imgs = [...document.images];"
         "document.body.dataset.images = imgs.length; document.body.dataset.broken = imgs.filter("
         "i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src')).join('|');});"
         "</script></body>")


@pytest.fixture(scope="module")
def report(tmp_path_factory, tiny_path):
    """A small sweep's database and its report folder (written by the command line)."""
    folder = tmp_path_factory.mktemp("report")
    spec = folder / "spec.toml"
    spec.write_text(SPEC.format(studio=tiny_path))
    threads = torch.get_num_threads()
    with threadpool_limits(None):
        from dprobe.cli import main

        assert main(["sweep", "run", str(spec), "--db", str(folder / "r.sqlite"), "--quiet"]) == 0
        torch.set_num_threads(threads)
        assert main(["report", "--db", str(folder / "r.sqlite"), "--out",
                     str(folder / "out")]) == 0
    return folder / "out"


def test_report_shows_the_papers_numbers_beside_ours(report):
    page = (report / "index.html").read_text()
    for heading in HEADINGS:
        assert heading in page, heading
    for published in ("179.7", "198.9", "207.5", "0.947", "26.45", "0.88", "22.90"):
        assert f">{published}<" in page, published
    # every row beside a published number carries a computed verdict and our interval
    verdicts = re.findall(r"<td>(agrees|disagrees|cannot tell)</td>", page)
    assert len(verdicts) >= 10
    assert re.search(r"<td>\d+\.\d [\[]\d+\.\d, \d+\.\d[\]]</td>", page)  # MPJPE [low, high]
    assert "The paper&#x27;s orderings" in page or "The paper's orderings" in page
    assert "Run 1: sweep report-test" in page and "name = &quot;report-test&quot;" in page
    assert "<code>dprobe " in page  # the commands
    assert "torch 2." in page  # versions


def test_report_is_self_contained(report):
    page = (report / "index.html").read_text()
    sources = re.findall(r'(?:src|href)="([^"]+)"', page) + re.findall(r"href='([^']+)'", page)
    assert sources and not [s for s in sources if "://" in s or s.startswith("/")]
    assert all((report / s).is_file() for s in sources), sources
    assert len(re.findall(r"<img ", page)) >= 5  # 2 curves, 2 examples, the probe figure


def _markdown_images(md: str) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)


def test_report_markdown_has_the_pages_tables_and_images(report):
    md = (report / "report.md").read_text()
    page = (report / "index.html").read_text()
    for heading in HEADINGS:
        assert re.search(rf"^#+ {heading}", md, re.M), heading
    headers = re.findall(r"<table><tr>(.*?)</tr>", page)
    assert len(headers) == 8  # Tables 1-4, the orderings, the robustness summary, probes (2)
    for row in headers:
        cells = [html.unescape(c) for c in re.findall(r"<th[^>]*>(.*?)</th>", row)]
        assert "| " + " | ".join(cells) + " |" in md, cells
    for published in ("179.7", "198.9", "207.5", "0.947", "26.45", "0.88", "22.90"):
        assert f"| {published} |" in md, published
    images = _markdown_images(md)
    assert not [s for s in images if "://" in s or s.startswith("/")], images
    assert all((report / s).is_file() for s in images), images
    assert images == re.findall(r'<img[^>]* src="([^"]+)"', page)  # the page's, in its order
    examples = [s for s in images if s.startswith("img/example-")]
    poses = [s for s in images if s.startswith("img/poses-")]
    assert len(examples) == 2 and [s.replace("example-", "poses-") for s in examples] == poses


def test_a_store_without_poses_gives_a_report_without_pose_panels(report, tmp_path, capsys):
    db = tmp_path / "old.sqlite"
    with sqlite3.connect(report.parent / "r.sqlite") as source, sqlite3.connect(db) as copy:
        source.backup(copy)
        copy.execute("DELETE FROM artifacts WHERE name = ?", (EXAMPLE_POSES,))
    status, _, err = run_cli(capsys, "report", "--db", db, "--out", tmp_path / "out")
    assert status == 0, err
    images = _markdown_images((tmp_path / "out" / "report.md").read_text())
    assert len([s for s in images if s.startswith("img/example-")]) == 2
    assert not [s for s in images if "poses-" in s]


def test_report_renders_in_chromium_with_every_image_loaded(report, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser is not None, ("chromium is not installed; `make test` installs it "
                                 "(apt-get install chromium)")
    checked = report / "check.html"
    checked.write_text((report / "index.html").read_text().replace("</body>", CHECK))
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                          f"--user-data-dir={tmp_path}", "--virtual-time-budget=20000",
                          "--dump-dom", checked.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    body = re.search(r"<body[^>]*>", dom)
    assert body, dom[:500]
    images = re.search(r'data-images="(\d+)"', body.group(0))
    broken = re.search(r'data-broken="([^"]*)"', body.group(0))
    assert images and int(images.group(1)) >= 5, body.group(0)
    assert broken and broken.group(1) == "", f"images that did not load: {broken.group(1)}"
    checked.unlink()


def test_report_refuses_a_missing_database(tmp_path, capsys):
    status, _, err = run_cli(capsys, "report", "--db", tmp_path / "none.sqlite", "--out",
                             tmp_path / "out")
    assert status == 2 and "does not exist" in err and not (tmp_path / "out").exists()


def test_spec_text_is_valid():
    assert parse_spec(SPEC.format(studio="x.h5")).probes.probes == ("zero", "metrics")


def test_report_includes_an_engine_benchmark(report, tmp_path, capsys):
    bench = tmp_path / "bench.json"
    bench.write_text('{"meta": {"model": "nsd"}, "rows": [{"engine": "onnxruntime", "batch": 8, '
                     '"images_per_s": 1234.5678, "max_diff_mm": 0.001}]}')
    db = report.parent / "r.sqlite"
    status, printed, err = run_cli(capsys, "report", "--db", db, "--out", tmp_path / "out",
                               "--bench", bench)
    assert status == 0 and "report written; open" in printed, err
    page = (tmp_path / "out" / "index.html").read_text()
    assert "<th>images_per_s</th>" in page and "<td>1235</td>" in page and "onnxruntime" in page
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| engine | batch | images_per_s | max_diff_mm |" in md and "| 1235 |" in md


def test_the_report_says_where_its_results_came_from():
    from dprobe.report.html import capture_description

    assert capture_description([{"preset": "tiny"}]) == "on the dprobe studio"
    assert "real frames of a Human3.6M capture" in capture_description([{"preset": "h36m"}])
    assert "mix the two" in capture_description([{"preset": "h36m"}, {"preset": "standard"}])


def test_report_sets_the_spread_between_seeds_beside_ours(report, tmp_path, capsys):
    """With --replicates, the rows of the paper's tables show mean +- sd over the seeds; a run
    that lacks an output is named on the terminal, not fatal."""
    import json

    for seed, dc in ((0, 0.7), (1, 0.9)):
        run = tmp_path / "replicates" / f"nsd-s{seed}"
        (run / "probes" / run.name).mkdir(parents=True)
        (run / "probes" / run.name / "metrics.json").write_text(json.dumps(
            {"probe": "metrics", "dc_mixed_batched": {"mean": dc}}))
    status, printed, err = run_cli(capsys, "report", "--db", report.parent / "r.sqlite", "--out",
                                   tmp_path / "out", "--replicates", tmp_path / "replicates")
    assert status == 0, err
    assert "nsd-s0: no figures.json" in printed
    page = (tmp_path / "out" / "index.html").read_text()
    assert "<td>0.80 \u00b1 0.14 (2 seeds)</td>" in page
