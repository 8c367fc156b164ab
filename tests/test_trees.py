"""Compiled gradient boosting: the same probabilities as scikit-learn, from arrays."""

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tagger.colours import colour_head
from tagger.trees import CompiledBoosting, CompiledPipeline, compiled


def _data(seed=0, classes=4, rows=400):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 6))
    y = np.digitize(x[:, 0] + 0.5 * x[:, 1], np.linspace(-1, 1, classes - 1))
    x[rng.random(x.shape) < 0.1] = np.nan  # missing values: each split learns a side for them
    return x, y


def test_compiled_boosting_matches_scikit_learn_with_missing_values():
    x, y = _data()
    model = HistGradientBoostingClassifier(max_iter=30, max_leaf_nodes=9, random_state=0).fit(x, y)
    fast = compiled(model)
    assert isinstance(fast, CompiledBoosting)
    test, _ = _data(seed=1, rows=100)
    np.testing.assert_allclose(fast.predict_proba(test), model.predict_proba(test), atol=1e-12)
    assert list(fast.classes_) == list(model.classes_)


def test_a_pipeline_keeps_its_earlier_steps_and_other_models_are_left_alone():
    x, y = _data(classes=3)
    pipeline = make_pipeline(StandardScaler(), HistGradientBoostingClassifier(max_iter=10)).fit(
        np.nan_to_num(x), y)
    fast = compiled(pipeline)
    assert isinstance(fast, CompiledPipeline)
    np.testing.assert_allclose(fast.predict_proba(np.nan_to_num(x[:20])),
                               pipeline.predict_proba(np.nan_to_num(x[:20])), atol=1e-12)
    binary = HistGradientBoostingClassifier(max_iter=5).fit(np.nan_to_num(x), y > 0)
    assert compiled(binary) is binary  # one logit, a sigmoid: not what this compiles
    scaler = StandardScaler().fit(x)
    assert compiled(scaler) is scaler


def test_the_shipped_colour_head_is_compiled_and_agrees():
    head = colour_head()
    features = np.random.default_rng(0).normal(size=(8, 1347)).astype(np.float32)
    np.testing.assert_allclose(head["fast_model"].predict_proba(features),
                               head["model"].predict_proba(features), atol=1e-9)
