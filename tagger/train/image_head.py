"""Fine-tune a taxonomy's image head (``tagger.image_head``) on labelled photos.

Called by ``tagger.train.classifier`` (``--image-head``; on by default for the shipped grocery
model); not a command of its own, since a head is only used inside a ``CategoryModel``.

Recipe: the frozen network up to the last block runs once per photo view and its output is
cached (``~/.cache/listingsmith/features/<name>-tail-<views>.npz``); training photos get
``views - 1`` random crops (35–100% of the area, aspect 3:4–4:3, mirrored half the time)
besides the pipeline's centre crop. The last block, head convolution and a new linear layer
then train with AdamW (one-cycle learning rate, label smoothing 0.1, dropout 0.3) for a few
epochs, quick enough on a laptop's CPU.
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from tagger.backbone import INPUT_SIZE, ImageBackbone, resize_center_crop
from tagger.image_head import TunedImageHead
from listingsmith.core.io import ProductImage, load_image
from tagger.train.features import CACHE_DIR

SEED = 0
CROP_AREA = (0.35, 1.0)
CROP_ASPECT = (3 / 4, 4 / 3)
BATCH = 32


def random_view(image: Image.Image, rng: random.Random) -> np.ndarray:
    """A random crop (``CROP_AREA`` of the photo, aspect within ``CROP_ASPECT``), resized to
    the network input and mirrored half the time; the centre square when no crop fits."""
    width, height = image.size
    for _ in range(10):
        area = rng.uniform(*CROP_AREA) * width * height
        aspect = math.exp(rng.uniform(math.log(CROP_ASPECT[0]), math.log(CROP_ASPECT[1])))
        crop_w, crop_h = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
        if 0 < crop_w <= width and 0 < crop_h <= height:
            left, top = rng.randint(0, width - crop_w), rng.randint(0, height - crop_h)
            break
    else:
        crop_w = crop_h = min(width, height)
        left, top = (width - crop_w) // 2, (height - crop_h) // 2
    view = image.crop((left, top, left + crop_w, top + crop_h)).resize(
        (INPUT_SIZE, INPUT_SIZE), Image.BILINEAR)
    return np.asarray(ImageOps.mirror(view) if rng.random() < 0.5 else view)


def photo_views(image: ProductImage, views: int, key: str) -> list[np.ndarray]:
    """The pipeline's centre crop, then ``views - 1`` random views seeded by ``key`` (the
    photo's path), so a rebuilt cache holds the same views."""
    rng = random.Random(f"{SEED}:{key}")
    return [resize_center_crop(image.image)] + [random_view(image.image, rng)
                                                 for _ in range(views - 1)]


def tail_inputs(root: Path, relpaths: list[str], *, views: int, cache_name: str | None,
                backbone: ImageBackbone | None = None, progress: bool = True
                ) -> tuple[np.ndarray, np.ndarray]:
    """``(maps, photo)``: float16 ``(k, 192, 7, 7)`` tail inputs of every view of every photo,
    and the index into ``relpaths`` each view belongs to. A photo that fails to load is
    skipped with a printed line. Cached by ``cache_name`` (None: not cached)."""
    cache = CACHE_DIR / f"{cache_name}-tail-{views}.npz" if cache_name else None
    known: dict[str, np.ndarray] = {}
    if cache is not None and cache.exists():
        with np.load(cache, allow_pickle=False) as table:  # each table[...] reads the file
            offsets, stored = table["offsets"], table["maps"]
            known = {path: stored[offsets[i]:offsets[i + 1]]
                     for i, path in enumerate(table["paths"].tolist())}
    missing = [p for p in dict.fromkeys(relpaths) if p not in known]
    if missing:
        backbone = backbone or ImageBackbone()
        start = time.perf_counter()
        for done, relpath in enumerate(missing, 1):
            try:
                arrays = photo_views(load_image(root / relpath), views, relpath)
            except Exception as error:  # one bad photo must not stop the extraction
                print(f"  skipped {relpath}: {error}")
                known[relpath] = np.zeros((0, 192, 7, 7), dtype=np.float16)
                continue
            pixels = torch.from_numpy(np.stack(arrays).astype(np.float32) / 127.5 - 1.0)
            maps = backbone.tail_input(pixels.permute(0, 3, 1, 2).contiguous())
            known[relpath] = maps.numpy().astype(np.float16)
            if progress and (done % 250 == 0 or done == len(missing)):
                rate = done / (time.perf_counter() - start)
                print(f"  {cache_name or 'photos'}/tail x{views}: {done}/{len(missing)} photos "
                      f"({rate:.1f}/s, {(len(missing) - done) / rate:.0f}s left)", flush=True)
        if cache is not None:
            _save(cache, known)
    maps = [known[p] for p in relpaths]
    photo = np.concatenate([np.full(len(m), i) for i, m in enumerate(maps)]).astype(np.int64) \
        if maps else np.zeros(0, np.int64)
    stacked = np.concatenate(maps) if maps else np.zeros((0, 192, 7, 7), np.float16)
    return stacked, photo


def _save(cache: Path, known: dict[str, np.ndarray]) -> None:
    cache.parent.mkdir(parents=True, exist_ok=True)
    offsets = np.cumsum([0] + [len(m) for m in known.values()])
    partial = cache.with_suffix(".partial.npz")
    np.savez(partial, paths=np.array(list(known)), offsets=offsets,
             maps=np.concatenate(list(known.values())))
    partial.replace(cache)


def train_head(maps: np.ndarray, labels: np.ndarray, n_classes: int, *, epochs: int = 6,
               lr: float = 1e-3, batch_size: int = 64, backbone: ImageBackbone | None = None,
               log=print) -> TunedImageHead:
    """Fine-tune a head from the backbone's pretrained end on ``maps`` (tail inputs) with
    integer ``labels``. The new linear layer learns 3× faster than the pretrained layers."""
    torch.manual_seed(SEED)
    network = (backbone or ImageBackbone()).model
    head = TunedImageHead.from_backbone(network, n_classes)
    pretrained = [p for n, p in head.named_parameters() if not n.startswith("classifier.")]
    optimiser = torch.optim.AdamW([{"params": head.classifier.parameters(), "lr": lr * 3},
                                   {"params": pretrained, "lr": lr}], weight_decay=0.05)
    total_steps = max(3, epochs * math.ceil(len(labels) / batch_size))
    schedule = torch.optim.lr_scheduler.OneCycleLR(  # warm-up needs ≥ 2 steps on tiny data
        optimiser, max_lr=[lr * 3, lr], total_steps=total_steps,
        pct_start=max(0.1, 2 / total_steps))
    x, y = torch.from_numpy(maps), torch.from_numpy(np.asarray(labels, dtype=np.int64))
    head.train()
    for epoch in range(epochs):
        start, total = time.perf_counter(), 0.0
        for rows in torch.randperm(len(y)).split(batch_size):
            loss = F.cross_entropy(head(x[rows].float()), y[rows], label_smoothing=0.1)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item() * len(rows)
        log(f"  image head epoch {epoch + 1}/{epochs}: loss {total / len(y):.3f} "
            f"({time.perf_counter() - start:.0f}s)")
    return head.eval()
