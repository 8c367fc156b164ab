"""The identity's confidence as a probability that its node is right (the truth or an ancestor).

The fused score of ``tagger.identify`` orders answers well but is no probability: noisy-or
over agreeing votes runs high for deep wrong leaves and low for a lone right image vote. An
isotonic map, fitted on labelled photos that no benchmark figure uses
(``python -m tagger.train.identity_calibration``), turns it into one; sure and unsure
identities get a map each, since a flagged answer is right less often at the same score. The
maps are data (``vocab/identity_calibration.json``); without the file the score passes as is.
"""

from __future__ import annotations

import json
from dataclasses import replace
from functools import lru_cache
from importlib import resources

import numpy as np

from listingsmith.core.types import Identity

CALIBRATION_FILE = "vocab/identity_calibration.json"
GROUPS = ("sure", "unsure")


@lru_cache(maxsize=1)
def maps() -> dict:
    path = resources.files("tagger").joinpath(CALIBRATION_FILE)
    return json.loads(path.read_text("utf-8")) if path.is_file() else {}


def group(identity: Identity) -> str:
    return "unsure" if identity.uncertain else "sure"


def calibrated(identity: Identity) -> Identity:
    """``identity`` with its confidence mapped through its group's isotonic map."""
    curve = maps().get("groups", {}).get(group(identity))
    if identity.taxonomy_id is None or not curve:
        return identity
    value = float(np.interp(identity.confidence, curve["x"], curve["y"]))
    return replace(identity, confidence=round(min(1.0, max(0.0, value)), 4))


def fit(scores: list[float], right: list[bool], unsure: list[bool]) -> dict:
    """Isotonic maps (score → share right), one per group, as knots for ``np.interp``."""
    from sklearn.isotonic import IsotonicRegression

    scores_a, right_a, unsure_a = (np.asarray(v, dtype=float) for v in (scores, right, unsure))
    groups = {}
    for name, mask in (("sure", unsure_a == 0), ("unsure", unsure_a == 1)):
        if mask.sum() < 10:
            continue
        model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        model.fit(scores_a[mask], right_a[mask])
        groups[name] = {"x": [round(float(x), 4) for x in model.X_thresholds_],
                        "y": [round(float(y), 4) for y in model.y_thresholds_],
                        "photos": int(mask.sum())}
    return groups
