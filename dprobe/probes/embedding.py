"""Embedding probes (paper Fig. 4, 9): t-SNE of appearance codes and held-out linear probes.

- t-SNE (scikit-learn, exact gradient: a few hundred codes) of one subject's ``h_a``, coloured by
  action: clusters by action mean the appearance code holds pose.
- Linear probes, cross-validated (stratified k-fold), on standardised codes of the studio crops
  of the given subjects:
  - action from ``h_a`` (pose leaking into appearance; chance = 1 / actions),
  - subject identity from ``h_p`` (appearance leaking into pose; chance = 1 / subjects; note the
    subjects also differ in height and way of moving, which a pose code may legitimately hold).
- R^2 (cross-validated ridge regression) of appearance attributes from ``h_p`` on counterfactual
  renders: the same rows wearing *random* appearances (``sample_appearances``, independent of the
  pose by construction; height and build stay the pose subject's), so a pose code free of
  appearance scores R^2 ~ 0 on shirt, trousers and skin colour. The same from ``h_a`` is the
  reference of what is decodable at all. Build, which belongs to the body (it is kept with the
  pose), is regressed on the stored crops of all subjects.

The folds are grouped by pose: the camera views of one pose (one moment of one subject) fall
in the same fold, so a probe is never tested on a view of a pose it was trained on.
Intervals (``intervals``): accuracy and R^2 of the pooled out-of-fold predictions by a cluster
bootstrap over poses (accuracy: the mean of per-crop correctness; R^2 recomputed on each of
1000 resamples).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from dprobe.data import appearance as A
from dprobe.data.subjects import NAMED_SUBJECTS
from dprobe.metrics.intervals import Interval, bootstrap_mean, bootstrap_statistic
from dprobe.models.protocol import PoseAppearanceModel
from dprobe.probes.base import INTERVALS, UNDEFINED, Probe, ProbeResult, ProbeSettings
from dprobe.probes.counterfactual import Scene, encode_all

__all__ = ["PROBE", "EmbeddingResult", "embedding_probe", "linear_classifier_score",
           "linear_regression_score"]

#: Attributes regressed from the codes, and their entries in the appearance vector.
ATTRIBUTES = {"shirt": A.SHIRT, "trousers": A.TROUSERS, "skin": A.SKIN}


def _standardise(x: np.ndarray) -> np.ndarray:
    return (x - x.mean(0)) / np.maximum(x.std(0), 1e-8)


def _folds(y: np.ndarray, groups: list | None, folds: int, seed: int, stratified: bool):
    """The cross-validation splitter: grouped by ``groups`` (views of one pose together) when
    given, stratified by ``y`` for classification."""
    from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

    if groups is None:
        return (StratifiedKFold if stratified else KFold)(folds, shuffle=True, random_state=seed)
    if stratified:
        return StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
    return GroupKFold(folds)


def _group_ids(groups: list | None) -> np.ndarray | None:
    if groups is None:
        return None
    ids: dict = {}
    return np.array([ids.setdefault(g, len(ids)) for g in groups])


def linear_classifier_score(codes: Tensor, labels: Tensor, folds: int = 5, seed: int = 0,
                            groups: list | None = None) -> tuple[dict, Interval]:
    """Cross-validated accuracy of a logistic-regression probe of ``labels (N,)`` from
    ``codes (N, D)`` (out-of-fold predictions pooled; folds grouped by ``groups``, e.g. pose
    units, when given), with the chance (1 / classes) and majority-class levels; and the
    accuracy's interval (cluster bootstrap over ``groups``, or over crops)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = labels.numpy()
    classes, counts = np.unique(y, return_counts=True)
    folds = int(min(folds, counts.min()))
    if len(classes) < 2 or folds < 2:
        raise ValueError("a linear probe needs at least 2 classes with 2 samples each")
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=300))
    pred = cross_val_predict(probe, codes.numpy().astype(np.float64), y,
                             groups=_group_ids(groups),
                             cv=_folds(y, groups, folds, seed, stratified=True))
    correct = (pred == y).astype(np.float64)
    interval = bootstrap_mean(correct, range(len(y)) if groups is None else groups, seed,
                              unit="crop" if groups is None else "pose")
    return ({"accuracy": float(correct.mean()), "chance": 1.0 / len(classes),
             "majority": float(counts.max() / counts.sum()), "classes": len(classes),
             "samples": len(y), "folds": folds}, interval)


def linear_regression_score(codes: Tensor, targets: Tensor, folds: int = 5, seed: int = 0,
                            groups: list | None = None) -> Interval:
    """Cross-validated R^2 (mean over target columns, on the pooled out-of-fold predictions) of
    a ridge probe (penalty chosen inside each fold) of ``targets (N, T)`` from ``codes (N, D)``
    (folds grouped by ``groups`` when given), with its interval (module doc)."""
    from sklearn.linear_model import RidgeCV
    from sklearn.metrics import r2_score
    from sklearn.model_selection import cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = targets.reshape(len(targets), -1).numpy().astype(np.float64)
    probe = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 4, 7)))
    pred = cross_val_predict(probe, codes.numpy().astype(np.float64), y,
                             groups=_group_ids(groups),
                             cv=_folds(y, groups, folds, seed, stratified=False))
    return bootstrap_statistic(
        lambda rows: float(r2_score(y[rows], pred[rows], multioutput="uniform_average")),
        range(len(y)) if groups is None else groups, seed, resamples=1000,
        unit="crop" if groups is None else "pose")


@dataclass
class EmbeddingResult(ProbeResult):
    """Linear-probe scores and the t-SNE points of one subject's appearance codes."""

    numbers_: dict
    tsne: np.ndarray
    tsne_actions: np.ndarray
    action_names: list[str] = field(default_factory=list)

    def numbers(self) -> dict:
        """The JSON-able figures."""
        return self.numbers_


@torch.no_grad()
def embedding_probe(model: PoseAppearanceModel, scene: Scene,
                    subjects: tuple[str, ...] = NAMED_SUBJECTS, tsne_subject: str = "S7",
                    per_camera: int = 24, batch_size: int = 128, seed: int = 0,
                    progress: bool = False) -> EmbeddingResult:
    """t-SNE and linear probes (see the module doc) on ``per_camera`` crops per camera and
    subject."""
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    studio = scene.studio
    rows = torch.cat([scene.rows(s, per_camera) for s in subjects])
    h_a, h_p = encode_all(model, scene.frames(rows), batch_size, progress, "embed: crops")
    actions, subject_ids = studio.action[rows], studio.subject[rows]
    gen = torch.Generator().manual_seed(seed)
    random_apps = A.sample_appearances(len(rows), gen)
    if scene.can_render:
        h_a_cf, h_p_cf = encode_all(model, scene.render(rows, random_apps), batch_size,
                                    progress, "embed: renders in random clothes")
    else:  # a real capture: no counterfactuals, no appearance vectors
        h_a_cf = h_p_cf = None
    mine = subject_ids == studio.subject_id(tsne_subject)
    codes = _standardise(h_a[mine].numpy().astype(np.float64))
    with threadpool_limits(torch.get_num_threads()):  # sklearn's BLAS threads beside torch's
        numbers = _linear_probes(h_a, h_p, h_a_cf, h_p_cf, random_apps, studio, rows, seed)
        tsne = (TSNE(2, perplexity=min(30.0, max(2.0, (len(codes) - 1) / 3)), random_state=seed,
                     init="pca", method="exact").fit_transform(codes)
                if np.ptp(codes, axis=0).any() else np.zeros((len(codes), 2)))  # one point
    numbers["settings"] = {"subjects": list(subjects), "crops": len(rows),
                           "tsne_subject": tsne_subject, "folds": 5, "seed": seed}
    return EmbeddingResult(numbers, tsne, actions[mine].numpy(), list(studio.action_names))


#: Why the appearance regressions are undefined on a real capture.
NO_RENDERS = ("a real capture has no renderer and no appearance vectors: the attributes cannot "
              "be varied independently of the pose, nor read")


def _linear_probes(h_a: Tensor, h_p: Tensor, h_a_cf: Tensor, h_p_cf: Tensor, random_apps: Tensor,
                   studio, rows: Tensor, seed: int) -> dict:
    """The classifier and regression probes of ``embedding_probe`` (see the module doc)."""
    actions, subject_ids = studio.action[rows], studio.subject[rows]
    units = studio.pose_units(rows)
    intervals: dict[str, Interval] = {}
    numbers: dict = {UNDEFINED: {}}
    for key, code, labels in (("action_from_h_a", h_a, actions),
                              ("subject_from_h_p", h_p, subject_ids),
                              ("action_from_h_p", h_p, actions),
                              ("subject_from_h_a", h_a, subject_ids)):
        numbers[key], intervals[f"{key}.accuracy"] = linear_classifier_score(
            code, labels, seed=seed, groups=units)
    for code, h, h_cf in (("h_p", h_p, h_p_cf), ("h_a", h_a, h_a_cf)):
        key = f"r2_from_{code}"
        if h_cf is None:
            numbers[key] = dict.fromkeys((*ATTRIBUTES, "build"))
            numbers[UNDEFINED][key] = NO_RENDERS
            continue
        for name, sl in ATTRIBUTES.items():
            intervals[f"{key}.{name}"] = linear_regression_score(h_cf, random_apps[:, sl],
                                                                 seed=seed, groups=units)
        build = studio.appearance[rows][:, A.BUILD: A.BUILD + 1]
        intervals[f"{key}.build"] = linear_regression_score(h, build, seed=seed, groups=units)
        numbers[key] = {name: intervals[f"{key}.{name}"].value for name in (*ATTRIBUTES, "build")}
    numbers[INTERVALS] = {k: i.to_dict() for k, i in intervals.items() if i.value is not None}
    return numbers


def _run(model: PoseAppearanceModel, scene: Scene, settings: ProbeSettings,
         progress: bool) -> EmbeddingResult:
    return embedding_probe(model, scene, tsne_subject=settings.pair[0],
                           per_camera=settings.embed_per_camera, seed=settings.seed,
                           progress=progress)


#: 1.1 CPU seconds per frame per camera (one thread, the reference machine).
PROBE = Probe(name="embed", title="t-SNE and held-out linear probes of the codes "
                                  "(paper Fig. 4, 9)",
              run=_run, result_type=EmbeddingResult,
              headline=("action_from_h_a.accuracy", "subject_from_h_p.accuracy",
                        *(f"r2_from_h_p.{k}" for k in (*ATTRIBUTES, "build"))),
              estimate_seconds=lambda s: 1.1 * s.embed_per_camera)
