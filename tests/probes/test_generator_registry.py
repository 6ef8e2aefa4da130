"""Generators by name: kinds, the models a name runs, one-line refusals of bad arguments."""
import pytest

from dprobe.errors import DprobeError
from dprobe.probes.generator_registry import (
    KINDS,
    check_generator,
    colour_budget,
    generator_models,
    is_generator_kind,
    is_null,
    is_rendered,
    null_size,
    transfer_name,
    transfer_source,
)


def test_names_are_kinds_with_arguments_or_models():
    assert set(KINDS) == {"self", "renderer", "random-colours", "other-clothes", "transfer"}
    assert is_generator_kind("random-colours:0.3") and is_generator_kind("transfer:nsd")
    assert not is_generator_kind("nsd") and not is_generator_kind("runs/mine")
    assert generator_models("nsd") == ("nsd",) and generator_models("transfer:runs/x") == ("runs/x",)
    assert generator_models("self") == () and generator_models("renderer") == ()
    assert is_null("other-clothes") and is_null("transfer:nsd") and not is_null("renderer")
    assert is_rendered("transfer:nsd") and not is_rendered("self") and not is_rendered("nsd")
    assert null_size("random-colours") == 0.25 and null_size("random-colours:0.1") == 0.1
    assert colour_budget("renderer:25") == 25.0 and colour_budget("renderer") is None
    assert colour_budget("random-colours:0.3") is None and not is_null("renderer:25")
    assert transfer_source(transfer_name("runs/x.py:build")) == "runs/x.py:build"
    assert transfer_source("renderer") is None and transfer_source("transfer") is None


@pytest.mark.parametrize("name, match", [
    ("transfer", "needs its argument"), ("self:2", "takes no argument"),
    ("random-colours:0", "needs a positive size"), ("random-colours:x", "needs a positive size"),
    ("renderer:-3", "renderer:DE needs a positive CIE76 Delta E"),
    ("renderer:nan", "renderer:DE needs a positive CIE76 Delta E"),
])
def test_bad_arguments_are_refused_in_one_line(name, match):
    with pytest.raises(DprobeError, match=match):
        check_generator(name)
