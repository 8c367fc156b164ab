"""The identity's confidence is mapped to the share of identities that are right, per group
(sure / unsure), through isotonic maps fitted on labelled photos."""

import numpy as np

import tagger.identity_calibration as calibration
from listingsmith.core.types import Identity


def test_fit_learns_a_monotone_map_per_group_from_scores_and_outcomes():
    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 1, 400)
    right = rng.uniform(0, 1, 400) < scores ** 2  # a score of 0.5 is right a quarter of the time
    unsure = np.arange(400) % 4 == 0
    groups = calibration.fit(list(scores), list(right), list(unsure))
    assert set(groups) == {"sure", "unsure"} and groups["sure"]["photos"] == 300
    curve = groups["sure"]
    assert all(a <= b for a, b in zip(curve["y"], curve["y"][1:]))
    assert abs(np.interp(0.5, curve["x"], curve["y"]) - 0.25) < 0.15


def test_calibrated_maps_the_confidence_of_its_group_only(monkeypatch):
    curve = {"x": [0.0, 1.0], "y": [0.0, 0.5]}
    monkeypatch.setattr(calibration, "maps", lambda: {"groups": {"unsure": curve}})
    unsure = Identity(525, "Health & Beauty", "vitamin", 0.8, True, "weak evidence", [])
    sure = Identity(525, "Health & Beauty", "vitamin", 0.8, False, "", [])
    assert calibration.calibrated(unsure).confidence == 0.4
    assert calibration.calibrated(sure).confidence == 0.8
    nothing = Identity(None, "", "", 0.0, True, "no evidence", [])
    assert calibration.calibrated(nothing) == nothing
