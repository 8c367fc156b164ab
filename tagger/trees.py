"""A fitted gradient-boosting classifier evaluated for all of its trees at once.

scikit-learn's ``HistGradientBoostingClassifier.predict_proba`` walks its trees one Python
call at a time: for the colour head's many iterations × classes that overhead dominates the
colour stage. Here the trees are padded into arrays once and every tree takes its next step
together, so one prediction is a few dozen numpy operations.
The result equals scikit-learn's to float precision (``tests/test_trees.py``).
"""

from __future__ import annotations

import numpy as np


class CompiledBoosting:
    """``predict_proba`` of a fitted multiclass ``HistGradientBoostingClassifier`` without
    categorical splits, from its trees as padded arrays."""

    def __init__(self, model):
        iterations = model._predictors  # [iteration][class] -> TreePredictor
        trees = [tree.nodes for per_class in iterations for tree in per_class]
        if any(nodes["is_categorical"].any() for nodes in trees):
            raise ValueError("model: expected numeric splits only, got categorical ones")
        self.classes_ = model.classes_
        self.n_outputs = len(iterations[0])
        width = max(len(nodes) for nodes in trees)
        shape = (len(trees), width)
        self.feature = np.zeros(shape, np.intp)
        self.threshold = np.zeros(shape)
        self.missing_left = np.zeros(shape, bool)
        self.child = np.zeros((2, *shape), np.intp)  # [0]: left, [1]: right
        self.leaf = np.ones(shape, bool)  # padding is a leaf nobody reaches
        self.value = np.zeros(shape)
        for index, nodes in enumerate(trees):
            size = len(nodes)
            self.feature[index, :size] = nodes["feature_idx"]
            self.threshold[index, :size] = nodes["num_threshold"]
            self.missing_left[index, :size] = nodes["missing_go_to_left"]
            self.child[0, index, :size] = nodes["left"]
            self.child[1, index, :size] = nodes["right"]
            self.leaf[index, :size] = nodes["is_leaf"]
            self.value[index, :size] = nodes["value"]
        self.depth = max(int(nodes["depth"].max()) for nodes in trees)
        self.baseline = np.asarray(model._baseline_prediction, dtype=float).reshape(-1)

    def raw_predictions(self, features: np.ndarray) -> np.ndarray:
        """``(n, classes)`` sums of leaf values plus the baseline (the model's logits)."""
        features = np.asarray(features, dtype=float)
        n_trees = self.feature.shape[0]
        rows = np.arange(len(features))[:, None]
        trees = np.arange(n_trees)[None, :]
        node = np.zeros((len(features), n_trees), np.intp)
        for _ in range(self.depth):
            x = features[rows, self.feature[trees, node]]
            go_left = np.where(np.isnan(x), self.missing_left[trees, node],
                               x <= self.threshold[trees, node])
            step = np.where(go_left, self.child[0][trees, node], self.child[1][trees, node])
            node = np.where(self.leaf[trees, node], node, step)
        leaves = self.value[trees, node].reshape(len(features), -1, self.n_outputs)
        return leaves.sum(axis=1) + self.baseline

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        raw = self.raw_predictions(features)
        raw -= raw.max(axis=1, keepdims=True)
        exp = np.exp(raw)
        return exp / exp.sum(axis=1, keepdims=True)


class CompiledPipeline:
    """A scikit-learn pipeline whose last step is compiled (``CompiledBoosting``); the earlier
    steps (scaling, PCA) run as they are."""

    def __init__(self, pipeline):
        self.prepare = pipeline[:-1]
        self.model = CompiledBoosting(pipeline[-1])
        self.classes_ = self.model.classes_

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(self.prepare.transform(features))


def compiled(model):
    """``model`` made fast where it is a (pipeline ending in a) multiclass
    ``HistGradientBoostingClassifier`` with numeric splits; any other model as it is."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline

    last = model[-1] if isinstance(model, Pipeline) else model
    if not isinstance(last, HistGradientBoostingClassifier) or len(last.classes_) < 3 or any(
            tree.nodes["is_categorical"].any() for per_class in last._predictors
            for tree in per_class):
        return model
    return CompiledPipeline(model) if isinstance(model, Pipeline) else CompiledBoosting(model)
