"""Fixtures of the training tests (data: ``tests/support.py``)."""
import pytest

from tests.support import make_model, one_thread

__all__ = ["make_model", "one_thread"]


@pytest.fixture(autouse=True)
def _single_thread(one_thread):
    """Every training test runs on one torch thread."""
