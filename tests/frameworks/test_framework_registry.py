"""A new framework is one module (a ``Framework`` subclass) and one entry in ``FRAMEWORKS``:
`dprobe train` offers it and trains with it."""
import pytest

from dprobe.frameworks import CSSL, FRAMEWORKS, self_supervised
from tests.support import run_cli


class Toy(CSSL):
    """A toy objective: CSSL under another name."""

    name = "toy"


@pytest.fixture
def registered():
    FRAMEWORKS[Toy.name] = Toy
    yield Toy
    del FRAMEWORKS[Toy.name]


def test_the_self_supervised_frameworks():
    assert self_supervised() == ("nsd", "cssl", "drnet")


def test_a_registered_framework_is_offered_and_trains(registered, tiny_path, tmp_path, capsys):
    assert "toy" in self_supervised()
    status, out, _ = run_cli(capsys, "train", "--help")
    assert "toy" in out
    status, out, err = run_cli(capsys, "train", "--framework", "toy", "--studio", tiny_path,
                               "--out", tmp_path / "run", "--steps", "2", "--batch-size", "2",
                               "--width", "4", "--quiet")
    assert status == 0, err
    assert (tmp_path / "run" / "config.json").is_file()
