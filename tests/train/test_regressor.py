"""The pose regressor's training with subject offsets (dprobe.train.regressor)."""
from dataclasses import replace

import pytest
import torch
from torch.utils.data import Dataset

from dprobe.data.batches import collate_indices, evenly_spaced
from dprobe.data.datasets import LabelledFrames
from dprobe.errors import DprobeError
from dprobe.metrics.pose import mpjpe
from dprobe.models.reference import ReferenceModel
from dprobe.train.regressor import RegressorSettings, SubjectMeans, subject_means, train_regressor
from tests.support import SMALL_NET

POSE_FEATURES, APPEARANCE_FEATURES = 10, 4
STEPS = 1000
SUBJECTS = 48


class CodedFrames(Dataset):
    """Frames whose "crop" is their pose code itself (read back by ``_code_encoder``): 10
    features of a pose latent, then 4 appearance features (the subject's colours, plus how its
    clothes' pattern moves with the pose: a subject's own linear map of the latent, so they carry
    pose for one subject and mislead for the next), then zeros; poses ``(17, 3)`` mm are a fixed
    linear map of the pose latent."""

    def __init__(self, subjects: list[int], per_subject: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        fixed = torch.Generator().manual_seed(99)
        colours = torch.randn(SUBJECTS, APPEARANCE_FEATURES, generator=fixed)
        pattern = torch.randn(SUBJECTS, POSE_FEATURES, APPEARANCE_FEATURES, generator=fixed)
        to_pose = 50 * torch.randn(POSE_FEATURES, 51, generator=fixed)
        self.subject = torch.tensor(subjects).repeat_interleave(per_subject)
        latent = torch.randn(len(self.subject), POSE_FEATURES, generator=g)
        self.code = torch.zeros(len(self.subject), SMALL_NET.dim_pose)
        self.code[:, :POSE_FEATURES] = latent + 0.5 * torch.randn(latent.shape, generator=g)
        self.code[:, POSE_FEATURES: POSE_FEATURES + APPEARANCE_FEATURES] = (
            colours[self.subject] + torch.einsum("np,npa->na", latent, pattern[self.subject]))
        self.pose = (latent @ to_pose).view(-1, 17, 3)

    def __len__(self) -> int:
        return len(self.subject)

    def __getitem__(self, k: int) -> dict:
        return {"crop": self.code[k], "pose": self.pose[k], "subject": self.subject[k]}

    def means(self) -> SubjectMeans:
        subjects = self.subject.unique()
        return SubjectMeans(subjects, torch.stack([self.code[self.subject == s].mean(0)
                                                   for s in subjects]))


def _code_encoder(model):
    model.encode = lambda crop: (None, crop.flatten(1))
    return model


def _trained(make_model, offsets: float, means: SubjectMeans | None) -> torch.nn.Module:
    model = _code_encoder(make_model(decoder=False))
    settings = RegressorSettings(steps=STEPS, batch_size=64, hidden=64, dropout=0.0, warmup=20,
                                 augmented_copies=0, subject_offsets=offsets)
    train_regressor(model, CodedFrames([0], 300, seed=1), settings, means=means, progress=False)
    return model


def test_subject_offsets_make_phi_read_pose_past_other_subjects_appearance(make_model):
    """Labels from subject 0 only, the means of subjects 0-39 (no labels); tested on subjects
    40-47, whom neither saw. Without offsets phi reads subject 0's pattern as pose and does worse
    than the mean pose there; with them its error is well below both."""
    means = CodedFrames(list(range(40)), 30, seed=2).means()
    unseen = CodedFrames(list(range(40, SUBJECTS)), 30, seed=3)

    def error(model):
        with torch.no_grad():
            return float(mpjpe(model.regress(unseen.code), unseen.pose).mean())

    plain, offset = _trained(make_model, 0.0, None), _trained(make_model, 1.0, means)
    mean_pose = float(mpjpe(offset.regressor.pose_mean.expand_as(unseen.pose), unseen.pose).mean())
    assert error(offset) < 0.7 * min(error(plain), mean_pose)
    assert offset.meta["regressor"]["subject_offsets"] == 1.0


def test_subject_offsets_refuse_missing_means(make_model):
    frames = CodedFrames([0], 20, seed=1)
    with pytest.raises(DprobeError, match="mean codes"):
        _trained(make_model, 1.0, None)
    without_subject_0 = CodedFrames([1, 2], 20, seed=2).means()
    with pytest.raises(DprobeError, match=r"subjects \[0\] have none"):
        train_regressor(_code_encoder(make_model(decoder=False)), frames,
                        RegressorSettings(steps=1, augmented_copies=0, subject_offsets=1.0),
                        means=without_subject_0, progress=False)
    with pytest.raises(DprobeError, match="subject_offsets >= 0"):
        RegressorSettings(subject_offsets=-0.5)


def test_subject_means_average_the_pose_codes_of_each_subject(tiny):
    torch.manual_seed(0)
    model = ReferenceModel(replace(SMALL_NET, crop_size=tiny.crop_size), decoder=False)
    means = subject_means(model, tiny, ["S5", "S1"], frames_per_subject=6, batch_size=4)
    assert means.subjects.tolist() == [tiny.subject_names.index("S5"), tiny.subject_names.index("S1")]
    frames = LabelledFrames(tiny, subjects=("S1",))
    with torch.no_grad():
        crops = collate_indices(frames, evenly_spaced(len(frames), 6))["crop"]
        expected = model.encode(crops)[1].mean(0)
    torch.testing.assert_close(means.codes[1], expected, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(means.codes[0], means.codes[1])
