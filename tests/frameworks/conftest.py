"""Fixtures of the framework and training tests (data: ``synthetic.py``)."""
import pytest
import torch
from synthetic import SMALL_NET, Synthetic

from dprobe.models.reference import ReferenceModel
from dprobe.models.regressor import RegressorConfig


@pytest.fixture
def make_model():
    def make(decoder=True, regressor=False):
        torch.manual_seed(0)
        reg = RegressorConfig(SMALL_NET.dim_pose, hidden=32) if regressor else None
        return ReferenceModel(SMALL_NET, decoder=decoder, regressor=reg)
    return make


@pytest.fixture
def batch_of():
    def make(kind: str, n: int = 8):
        ds = Synthetic(kind, n)
        return torch.utils.data.default_collate([ds[i] for i in range(n)])
    return make


@pytest.fixture(autouse=True)
def one_thread():
    """Small networks run fastest on one thread (and do not stall on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
