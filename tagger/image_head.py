"""A taxonomy's tuned image head: the backbone's last block and head convolution, fine-tuned
on that taxonomy's photos, with a linear layer over its classes.

The frozen EfficientNet-Lite0 feature tells an apple from a carton, but not a Granny Smith
from a Golden Delicious; fine-tuning the network's end does (``python -m eval.run --task
category`` measures by how much). The head starts from the backbone's ``tail_input`` (the
192×7×7 map entering the last block, kept in every ``BackboneOutput``), so the pipeline pays
for two layers a photo, not a second network. Its weights (float16) live inside the
``CategoryModel`` bundle;
``tagger.train.image_head`` trains it.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from tagger.backbone import TAIL_BLOCK


class TunedImageHead(nn.Module):
    """``tail_input`` maps ``(n, 192, 7, 7)`` → class logits ``(n, n_classes)``."""

    def __init__(self, n_classes: int, dropout: float = 0.3):
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        network = EfficientNet.from_name("efficientnet-lite0", num_classes=1000)
        self.block = copy.deepcopy(network._blocks[TAIL_BLOCK])
        self.conv = copy.deepcopy(network._conv_head)
        self.norm = copy.deepcopy(network._bn1)
        self.activation = network._swish
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(network._conv_head.out_channels, n_classes)

    @classmethod
    def from_backbone(cls, backbone_network: nn.Module, n_classes: int) -> TunedImageHead:
        """A head starting from the pretrained backbone's own last block and convolution."""
        head = cls(n_classes)
        head.block.load_state_dict(backbone_network._blocks[TAIL_BLOCK].state_dict())
        head.conv.load_state_dict(backbone_network._conv_head.state_dict())
        head.norm.load_state_dict(backbone_network._bn1.state_dict())
        return head

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> TunedImageHead:
        """A head from ``to_arrays`` (as stored in a ``CategoryModel``), ready for inference."""
        head = cls(int(arrays["classifier.weight"].shape[0]))
        head.load_state_dict({name: torch.from_numpy(np.asarray(value, dtype=np.float32)
                                                      if value.dtype == np.float16 else value)
                              for name, value in arrays.items()})
        return head.eval()

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Weights as float16 numpy arrays (running statistics as they are): half the bytes,
        and joblib-friendly."""
        return {name: value.detach().numpy().astype(np.float16)
                if value.is_floating_point() else value.detach().numpy()
                for name, value in self.state_dict().items()}

    def features(self, tail_inputs: torch.Tensor) -> torch.Tensor:
        x = self.block(tail_inputs)
        return self.activation(self.norm(self.conv(x))).mean(dim=(2, 3))

    def forward(self, tail_inputs: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.features(tail_inputs)))

    @torch.inference_mode()
    def log_probabilities(self, tail_inputs: np.ndarray) -> np.ndarray:
        """``(n, n_classes)`` log-softmax of the logits, in eval mode."""
        self.eval()
        logits = self(torch.from_numpy(np.asarray(tail_inputs, dtype=np.float32)))
        return torch.log_softmax(logits, dim=-1).numpy()
