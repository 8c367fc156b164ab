"""``--engine ray``: the batch stages as a Ray Data pipeline, for many cores or a cluster.

A dataset row is one chunk of products, cut at the same input positions as the local
engine's chunks, so both engines write each generation batch alike. ``map_batches`` hands
the chunks to a pool of actors that each hold one ``ListingProcessor`` (models load once per
actor); the driver records each result in the job state as it arrives, so a killed run
resumes as with the local engine.

Without an ``address`` Ray starts on this machine and listens on loopback only. With one it
joins that cluster (``ray start --head`` on one machine, ``ray start --address=HEAD:6379`` on
the others): every node needs listingsmith installed and the photos at the same paths (a
shared file system), ``--workers`` actors are spread over the nodes, and each uses up to
one CPU.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict

import numpy as np

from listingsmith.batch_input import Product
from listingsmith.batch_worker import ProductResult, worker_processor
from listingsmith.core import vocab
from listingsmith.core.errors import ListingsmithError
from listingsmith.pipeline import PipelineSettings

LOOPBACK = "127.0.0.1"

READER_CPUS = vocab.load("listingsmith.core", "vocab/batch.toml")["ray"]["reader_cpus"]
"""CPU kept free of model actors for Ray's own tasks and the driver (``core/vocab/batch.toml``
says why)."""


class ChunkProcessor:
    """A Ray actor: one processor for its lifetime, one chunk of products per row."""

    def __init__(self, settings: PipelineSettings, threads: int):
        self.processor = worker_processor(settings, threads)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = [json.dumps([asdict(result) for result in self.processor(_products(text))])
                   for text in batch["chunk"]]
        return {"results": np.array(results, dtype=object)}


def ray_results(settings: PipelineSettings, chunks: list[list[Product]], workers: int,
                address: str | None) -> Iterator[list[ProductResult]]:
    """The results of each finished chunk, from ``workers`` actors on a private local Ray (or
    on the cluster at ``address``)."""
    ray = _start(address)
    try:
        import ray.data

        ray.data.DataContext.get_current().enable_progress_bars = False  # ours is on stderr
        logging.getLogger("ray.data").setLevel(logging.ERROR)  # failures raise, here
        cpus = ray.cluster_resources().get("CPU", 1.0)
        dataset = ray.data.from_items(
            [{"chunk": json.dumps([asdict(product) for product in chunk])} for chunk in chunks],
            override_num_blocks=len(chunks))
        threads = max(1, int(cpus // workers))
        processed = dataset.map_batches(
            ChunkProcessor, fn_constructor_kwargs={"settings": settings, "threads": threads},
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=max(0.1, min(1.0, (cpus - READER_CPUS) / workers)))
        for batch in processed.iter_batches(batch_size=None, batch_format="numpy"):
            yield [ProductResult(**fields) for text in batch["results"]
                   for fields in json.loads(text)]
    except ray.exceptions.RayError as exc:
        raise ListingsmithError(f"the Ray pipeline failed ({' '.join(str(exc).split())[:300]}); "
                                "finished products are saved: run the same command again") \
            from exc
    finally:
        ray.shutdown()


def _start(address: str | None):
    """Ray, connected to ``address`` or started here on loopback; refused if it would not be."""
    if address is None:
        # read when ray is imported: a one-machine Ray, whose node address is loopback
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # offline: never report usage
    try:
        import ray
    except ImportError as exc:
        raise ListingsmithError("--engine ray needs Ray: pip install 'listingsmith[ray]'") from exc
    if address is not None:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        return ray
    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False,
             _node_ip_address=LOOPBACK, log_to_driver=False, logging_level=logging.WARNING)
    node = ray.util.get_node_ip_address()
    if not ipaddress.ip_address(node).is_loopback:
        ray.shutdown()
        raise ListingsmithError(f"Ray would listen on {node}, not loopback (Ray was imported "
                                "before listingsmith set it up); pass --address to use a "
                                "cluster on purpose")
    return ray


def _products(text: str) -> list[Product]:
    return [Product(**{**fields, "image_paths": tuple(fields["image_paths"])})
            for fields in json.loads(text)]
