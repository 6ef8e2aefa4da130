"""Attack batches across items: a sweep attacking up to 32 samples per call of the attack loop
stores the rows of the sweep attacking each item alone (batch size 1), sample for sample, and
the same artifacts; samples that stop early stop at the same iteration."""
import json

import pytest
import torch

from dprobe.sweep.items import plan_batches
from dprobe.sweep.run import run_sweep
from dprobe.sweep.spec import parse_spec, plan_items
from dprobe.sweep.store import EXAMPLE_POSES, ResultsStore

#: 8 items of 2 samples in 2 batch groups (one per target); at 200 mm and lr 0.2 some samples
#: stop at once and others go on (per-sample stopping is exercised).
SPEC = """
name = "batches"
[studio]
path = "{studio}"
[attack]
targets = ["nsd", "drnet"]
generators = ["self"]
subjects = ["S1", "S7"]
cameras = [0, 1]
frames = 2
iterations = 6
lr = 0.2
threshold_mm = 200.0
"""

FLOATS = ("initial_mpjpe_mm", "final_mpjpe_mm", "ssim", "psnr_db", "mse",
          "q_vs_truth_mpjpe_mm", "ssim_frame", "psnr_frame_db", "mse_frame", "change",
          "change_path", "delta_e", "delta_e_path")


def test_batches_pack_items_that_share_their_settings():
    spec = parse_spec(SPEC.format(studio="x.h5").replace('frames = 2', 'frames = 3')
                      + '\n[probes]\nmodels = ["nsd"]\nprobes = ["zero"]\n')
    items = plan_items(spec, {"preset": "tiny"})
    units = plan_batches(items, 7)
    assert [[i.kind for i in u] for u in units[:1]] == [["probe"]]
    attack = units[1:]
    # 4 items of 3 samples per target: 2 + 2 items (6 samples each; a third would make 9 > 7)
    assert [len(u) for u in attack] == [2, 2, 2, 2]
    for unit in attack:
        assert len({i.settings["target"] for i in unit}) == 1
    assert [i for u in attack for i in u] == [i for i in items if i.kind == "attack"]
    assert [len(u) for u in plan_batches(items, 1)] == [1] * len(items)  # never split an item


def test_batched_rows_equal_item_by_item_rows(tmp_path, tiny_path, keep_threads):
    spec = parse_spec(SPEC.format(studio=tiny_path))
    tables = {}
    for size in (1, 32):
        db = tmp_path / f"b{size}.sqlite"
        run_sweep(spec, db, tiny_path, batch_size=size, progress=False)
        with ResultsStore.open(db) as store:
            items = store.items("attack")
            tables[size] = (store.attack_samples(),
                            [json.loads(store.artifact(i["key"], EXAMPLE_POSES)) for i in items],
                            [store.artifact_names(i["key"]) for i in items])
    (alone, alone_poses, alone_names), (batched, batched_poses, batched_names) = (
        tables[1], tables[32])
    assert len(alone) == 16 and alone_names == batched_names
    assert len({r["iterations"] for r in alone}) > 1, "the test should exercise stopping"
    for a, b in zip(alone, batched):
        # Convolutions round differently at batch 2 and batch 8 (tests/probes/test_attack.py):
        # every other column is equal, the floats agree to rounding.
        assert {k: v for k, v in a.items() if k not in FLOATS} == \
            {k: v for k, v in b.items() if k not in FLOATS}
        for name in FLOATS:
            if a[name] is None:  # Delta E of a latent code
                assert b[name] is None, name
                continue
            assert b[name] == pytest.approx(a[name], rel=1e-4, abs=1e-2), name
    for a, b in zip(alone_poses, batched_poses):  # joints agree to 0.1 mm (means to 0.01 mm)
        assert a.keys() == b.keys()
        for k in a:
            torch.testing.assert_close(torch.tensor(b[k]), torch.tensor(a[k]), rtol=1e-4,
                                       atol=0.1)


def test_local_workers_map_the_drivers_shared_studio(tiny_path):
    """A setup holding the studio in shared memory hands it to a spawned worker by handle: the
    worker's crops are shared memory with the driver's values, and no file is read."""
    import multiprocessing

    from dprobe.data.studio import Studio
    from dprobe.sweep.items import WorkerSetup

    studio = Studio.open(tiny_path).share_memory()
    assert studio.crops.is_shared() and studio.cameras["R"].is_shared()
    setup = WorkerSetup("/nonexistent/studio.h5", shared=studio)
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=_report_studio, args=(setup, theirs))
    process.start()
    shared, total = ours.recv()
    process.join()
    assert shared and total == int(studio.crops.sum())



def test_a_studio_as_arrays_is_the_same_studio_without_a_copy(tiny_path):
    """What a Ray object store holds: the arrays, read back as the same studio, sharing memory
    (read-only arrays stay read-only)."""
    import numpy as np

    from dprobe.data.studio import Studio

    studio = Studio.open(tiny_path)
    arrays = studio.to_arrays()
    for a in (arrays["crops"], arrays["cameras"]["K"]):
        a.flags.writeable = False
    back = Studio.from_arrays(arrays)
    assert np.shares_memory(back.crops.numpy(), studio.crops.numpy())
    assert back.subject_names == studio.subject_names and back.fps == studio.fps
    assert torch.equal(back.image(torch.arange(3)), studio.image(torch.arange(3)))
    assert torch.equal(back.cameras["K"], studio.cameras["K"])


def _report_studio(setup, connection) -> None:
    from dprobe.sweep.items import Worker

    worker = Worker(setup)
    connection.send((worker.studio.crops.is_shared(), int(worker.studio.crops.sum())))
