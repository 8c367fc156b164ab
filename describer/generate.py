"""Text generators behind one interface: chat prompts in, completions out, batched.

The bundled default is SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF. Transformers can
read GGUF but de-quantising takes ~16 s, so the first load writes a plain safetensors copy
to the user cache (``$LISTINGSMITH_CACHE`` or ``~/.cache/listingsmith``) and later loads
take a fraction of a second. ``hf:`` and ``local:`` sources load any causal LM the Auto
classes know.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from tagger.errors import ModelError
from tagger.registry import ModelSpec, load_once, parse_source, resolve, spec_for

Messages = list[dict[str, str]]

ADAPTER_CONFIG = "adapter_config.json"
"""Marks a folder holding a LoRA adapter for the bundled model rather than a full model."""


def cache_dir() -> Path:
    """Where derived model files live; never inside the package or the repo."""
    root = os.environ.get("LISTINGSMITH_CACHE") or Path.home() / ".cache" / "listingsmith"
    return Path(root)


@dataclass(frozen=True)
class GenerationOptions:
    """Per-call decoding options (never stored on the generator)."""

    max_new_tokens: int = 96
    do_sample: bool = False
    temperature: float = 0.7
    top_p: float = 0.9
    repetition_penalty: float = 1.15
    seed: int = 0


class CausalGenerator:
    """A chat-tuned causal LM from the registry; the model is loaded lazily, once per process."""

    def __init__(self, spec: ModelSpec | None = None, *, allow_network: bool = False):
        self.spec = spec or spec_for("text-generation", None)
        self.allow_network = allow_network

    @property
    def name(self) -> str:
        return self.spec.source

    @property
    def model_and_tokenizer(self):
        return load_once(self.spec, "causal-lm", self._build)

    def _build(self):
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        folder = self._weights_folder()
        if (folder / ADAPTER_CONFIG).is_file():
            return self._with_adapter(folder)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
        return model.eval(), tokenizer

    @staticmethod
    def _with_adapter(folder: Path):
        """A LoRA adapter folder (``listingsmith train describer``): a fresh copy of the bundled
        base model with the adapter merged in (the shared base stays untouched)."""
        from peft import PeftModel

        base, tokenizer = CausalGenerator(spec_for("text-generation", None))._build()
        merged = PeftModel.from_pretrained(base, folder).merge_and_unload()
        return merged.eval(), tokenizer

    def _weights_folder(self) -> Path:
        source = parse_source(self.spec.source)
        folder = resolve(self.spec, allow_network=self.allow_network)
        if source.kind != "bundled":
            return folder
        gguf_name, gguf_sha = next(iter(self.spec.files.items()))
        return _converted_gguf(folder / gguf_name, gguf_sha)

    def preprocess(self, conversations: list[Messages]) -> dict[str, torch.Tensor]:
        _, tokenizer = self.model_and_tokenizer
        texts = [tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True)
                 for m in conversations]
        return tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)

    @torch.inference_mode()
    def forward(self, inputs: dict[str, torch.Tensor], options: GenerationOptions) -> torch.Tensor:
        model, tokenizer = self.model_and_tokenizer
        if options.do_sample:
            torch.manual_seed(options.seed)
        sampling = dict(temperature=options.temperature, top_p=options.top_p) \
            if options.do_sample else {}
        return model.generate(**inputs, max_new_tokens=options.max_new_tokens,
                              do_sample=options.do_sample,
                              repetition_penalty=options.repetition_penalty,
                              pad_token_id=tokenizer.pad_token_id, **sampling)

    def postprocess(self, inputs: dict[str, torch.Tensor], output: torch.Tensor) -> list[str]:
        _, tokenizer = self.model_and_tokenizer
        new_tokens = output[:, inputs["input_ids"].shape[1]:]
        return [text.strip() for text in tokenizer.batch_decode(new_tokens,
                                                                skip_special_tokens=True)]

    def __call__(self, conversations: list[Messages],
                 options: GenerationOptions = GenerationOptions()) -> list[str]:
        if not conversations:
            return []
        inputs = self.preprocess(conversations)
        return self.postprocess(inputs, self.forward(inputs, options))


def _converted_gguf(gguf_path: Path, gguf_sha: str) -> Path:
    """A safetensors copy of a GGUF model in the cache, built on first use."""
    target = cache_dir() / "models" / f"{gguf_path.stem}-{gguf_sha[:12]}"
    marker = target / "listingsmith-source.json"
    if marker.is_file() and json.loads(marker.read_text()).get("gguf_sha256") == gguf_sha:
        return target
    print(f"listingsmith: converting {gguf_path.name} to {target} (once, ~20 s)", file=sys.stderr)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    quantised = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name,
                                                     dtype=torch.float32)
    config = quantised.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = type(quantised)(config)
    plain.load_state_dict(quantised.state_dict())
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        plain.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / marker.name).write_text(json.dumps({"gguf": gguf_path.name,
                                                       "gguf_sha256": gguf_sha}))
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if not marker.is_file():
        raise ModelError(f"converting {gguf_path} left no model in {target}")
    return target
