"""Fixtures of the framework tests (data: ``tests/support.py``)."""
import pytest

from tests.support import batch_of, make_model, one_thread

__all__ = ["batch_of", "make_model", "one_thread"]


@pytest.fixture(autouse=True)
def _single_thread(one_thread):
    """Every framework test runs on one torch thread."""
