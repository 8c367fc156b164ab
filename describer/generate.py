"""Text generators behind one interface: chat prompts in, completions out, batched.

The bundled default is SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF. Transformers can
read GGUF but de-quantising is slow, so the first load writes a plain safetensors copy
to the user cache (``$LISTINGSMITH_CACHE`` or ``~/.cache/listingsmith``) and later loads
take a fraction of a second. ``hf:`` and ``local:`` sources load any causal or seq2seq LM
the Auto classes know (``text_generator`` tells them apart by their config).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from listingsmith.core.errors import ModelError
from listingsmith.core.registry import (ModelSpec, cache_dir, get_spec, load_once, parse_source,
                             quiet_transformers, resolve, spec_for)

Messages = list[dict[str, str]]

ADAPTER_CONFIG = "adapter_config.json"
"""Marks a folder holding a LoRA adapter for the bundled model rather than a full model."""
BASE_MODEL = "generator"
"""The registry name of the bundled SmolLM2 that LoRA adapters are trained on."""
DEFAULT_GENERATOR = "describer-t5"
"""What writes listings when nobody chooses: the T5 trained here. Of the generators that need
no training data at run time it has the best mean ROUGE-L on the three test sets and is the
only one within the latency target (``python -m eval.run --task describe``; README)."""


@dataclass(frozen=True)
class GenerationOptions:
    """Per-call decoding options (never stored on the generator)."""

    max_new_tokens: int = 96
    min_new_tokens: int = 0
    do_sample: bool = False
    temperature: float = 0.7
    top_p: float = 0.9
    repetition_penalty: float = 1.15
    no_repeat_ngram_size: int = 4
    """No token 4-gram twice in one output: small models otherwise loop ("alalalal…")."""
    seed: int = 0
    max_time: float | None = None
    """Seconds after which generation stops where it is (a per-request bound for servers)."""


class TextGenerator:
    """A transformers text model from the registry behind one interface: chat conversations
    in, completions out, batched; the model is loaded lazily, once per process.

    Subclasses say how a conversation becomes model input and how output becomes text.
    """

    cache_key = "text-generator"

    def __init__(self, spec: ModelSpec | None = None, *, allow_network: bool = False):
        self.spec = spec or spec_for("text-generation", None)
        self.allow_network = allow_network

    @property
    def name(self) -> str:
        """What listings record as their generator: the source, plus the registry name where
        one package ships several models (``bundled:describer#describer-t5``)."""
        if self.spec.name in (self.spec.source, BASE_MODEL):
            return self.spec.source
        return f"{self.spec.source}#{self.spec.name}"

    @property
    def writes_titles(self) -> bool:
        """The bundled models write no title (see ``describer.generators.ModelGenerator``);
        a model chosen by source (``hf:``/``local:``) does."""
        return parse_source(self.spec.source).kind != "bundled"

    @property
    def model_and_tokenizer(self):
        return load_once(self.spec, self.cache_key, self._build)

    def _build(self):
        raise NotImplementedError

    def _weights_folder(self) -> Path:
        source = parse_source(self.spec.source)
        folder = resolve(self.spec, allow_network=self.allow_network)
        if source.kind != "bundled":
            return folder
        first_file, first_sha = next(iter(self.spec.files.items()))
        if first_file.endswith(".gguf"):
            return _converted_gguf(folder / first_file, first_sha)
        return folder / Path(first_file).parent

    def preprocess(self, requests: list[Messages], leads: list[str]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def postprocess(self, inputs: dict[str, torch.Tensor], output: torch.Tensor,
                    leads: list[str]) -> list[str]:
        raise NotImplementedError

    output_holds_lead = False
    """Whether ``generate`` returns the lead with the new tokens (decoder prefixes do)."""

    def batch_key(self, lead: str) -> object:
        """Rows with equal keys are generated in one batch (all rows, unless a model needs
        its leads to be the same length)."""
        return None

    def _generate_kwargs(self, options: GenerationOptions) -> dict:
        _, tokenizer = self.model_and_tokenizer
        if options.do_sample:
            torch.manual_seed(options.seed)
        sampling = dict(temperature=options.temperature, top_p=options.top_p) \
            if options.do_sample else {}
        return dict(max_new_tokens=options.max_new_tokens, min_new_tokens=options.min_new_tokens,
                    do_sample=options.do_sample,
                    repetition_penalty=options.repetition_penalty,
                    no_repeat_ngram_size=options.no_repeat_ngram_size,
                    pad_token_id=tokenizer.pad_token_id, max_time=options.max_time, **sampling)

    @torch.inference_mode()
    def forward(self, inputs: dict[str, torch.Tensor], options: GenerationOptions) -> torch.Tensor:
        model, _ = self.model_and_tokenizer
        return model.generate(**inputs, **self._generate_kwargs(options))

    def __call__(self, conversations: list[Messages],
                 options: GenerationOptions = GenerationOptions()) -> list[str]:
        if not conversations:
            return []
        requests, leads = zip(*(split_lead(c) for c in conversations))
        groups: dict[object, list[int]] = {}
        for row, lead in enumerate(leads):
            groups.setdefault(self.batch_key(lead), []).append(row)
        texts: list[str] = [""] * len(conversations)
        for rows in groups.values():
            group_leads = [leads[i] for i in rows]
            inputs = self.preprocess([requests[i] for i in rows], group_leads)
            for row, text in zip(rows, self.postprocess(inputs, self.forward(inputs, options),
                                                        group_leads)):
                texts[row] = text
        return texts

    def stream(self, conversation: Messages,
               options: GenerationOptions = GenerationOptions()) -> Iterator[str]:
        """The completion of one conversation, piece by piece as tokens are decoded (for the
        app); joined, the pieces equal ``self([conversation], options)[0]`` up to whitespace."""
        from transformers import TextIteratorStreamer

        model, tokenizer = self.model_and_tokenizer
        request, lead = split_lead(conversation)
        inputs = self.preprocess([request], [lead])
        # where the model's output holds the lead (seq2seq), the streamer decodes it with the
        # continuation, so the seam between them is spaced as in a batched call
        lead_from_model = bool(lead) and self.output_holds_lead
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=not lead_from_model,
                                        skip_special_tokens=True)
        failure: list[BaseException] = []

        def generate() -> None:
            try:
                with torch.inference_mode():
                    model.generate(**inputs, streamer=streamer, **self._generate_kwargs(options))
            except BaseException as exc:  # re-raised in the caller's thread below
                failure.append(exc)
                streamer.end()

        worker = threading.Thread(target=generate, daemon=True)
        worker.start()
        if lead and not lead_from_model:
            yield lead
            first = ""
            for piece in streamer:  # the seam, spaced as join_lead spaces it
                first += piece
                if first.strip():
                    yield join_lead(lead, first)[len(lead):]
                    break
        yield from streamer
        worker.join()
        if failure:
            raise failure[0]


class CausalGenerator(TextGenerator):
    """A chat-tuned causal LM (default: the bundled SmolLM2-135M-Instruct), or the bundled
    model with a LoRA adapter folder from ``listingsmith train describer``."""

    cache_key = "causal-lm"

    def _build(self):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        quiet_transformers()
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

        base, tokenizer = CausalGenerator(get_spec(BASE_MODEL))._build()
        merged = PeftModel.from_pretrained(base, folder).merge_and_unload()
        return merged.eval(), tokenizer

    def preprocess(self, requests: list[Messages], leads: list[str]) -> dict[str, torch.Tensor]:
        """The chat template up to the assistant's turn, then the lead (left-padded batch)."""
        _, tokenizer = self.model_and_tokenizer
        texts = [tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True)
                 + lead for m, lead in zip(requests, leads)]
        return tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)

    def postprocess(self, inputs: dict[str, torch.Tensor], output: torch.Tensor,
                    leads: list[str]) -> list[str]:
        _, tokenizer = self.model_and_tokenizer
        new_tokens = output[:, inputs["input_ids"].shape[1]:]
        return [join_lead(lead, text).strip() for lead, text in
                zip(leads, tokenizer.batch_decode(new_tokens, skip_special_tokens=True))]


class Seq2SeqGenerator(TextGenerator):
    """An encoder–decoder model (T5, BART, …) through ``AutoModelForSeq2SeqLM``.

    Seq2seq models are not chat-tuned: the input is the request alone (``seq2seq_input``),
    which still carries the product data, tone and length, exactly as in training.
    """

    cache_key = "seq2seq-lm"

    def _build(self):
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        quiet_transformers()
        folder = self._weights_folder()
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForSeq2SeqLM.from_pretrained(folder, dtype=torch.float32)
        return model.eval(), tokenizer

    def preprocess(self, requests: list[Messages], leads: list[str]) -> dict[str, torch.Tensor]:
        """Encoder inputs; a lead becomes the decoder's first tokens (``decoder_input_ids``),
        which ``generate`` returns with the continuation."""
        model, tokenizer = self.model_and_tokenizer
        inputs = tokenizer([seq2seq_input(m) for m in requests], return_tensors="pt",
                           padding=True, truncation=True, max_length=MAX_SOURCE_TOKENS)
        if any(leads):
            start = model.config.decoder_start_token_id
            inputs["decoder_input_ids"] = torch.tensor([[start, *self._lead_ids(lead)]
                                                        for lead in leads])
        return inputs

    def postprocess(self, inputs: dict[str, torch.Tensor], output: torch.Tensor,
                    leads: list[str]) -> list[str]:
        _, tokenizer = self.model_and_tokenizer
        return [text.strip() for text in tokenizer.batch_decode(output, skip_special_tokens=True)]

    output_holds_lead = True

    def batch_key(self, lead: str) -> object:
        """Decoder prefixes in one batch must be equally long (no padding inside them)."""
        return len(self._lead_ids(lead))

    def _lead_ids(self, lead: str) -> list[int]:
        _, tokenizer = self.model_and_tokenizer
        return tokenizer(lead, add_special_tokens=False)["input_ids"] if lead else []


MAX_SOURCE_TOKENS = 384
"""Encoder input cap for seq2seq models; product data blocks are far shorter."""


def seq2seq_input(conversation: Messages) -> str:
    """The last user turn: the request with its product data (system text and the worked
    example are for chat models).

    >>> seq2seq_input([{"role": "system", "content": "s"}, {"role": "user", "content": "q"}])
    'q'
    """
    users = [m["content"] for m in conversation if m["role"] == "user"]
    if not users:
        raise ValueError("conversation: expected at least one user message, got none")
    return users[-1]


def split_lead(conversation: Messages) -> tuple[Messages, str]:
    """The request and its lead: a conversation that ends with an assistant turn asks for an
    answer starting with that text (``prompting.with_lead``).

    >>> split_lead([{"role": "user", "content": "q"}, {"role": "assistant", "content": "Red"}])
    ([{'role': 'user', 'content': 'q'}], 'Red')
    """
    if conversation and conversation[-1]["role"] == "assistant":
        return conversation[:-1], conversation[-1]["content"]
    return conversation, ""


def join_lead(lead: str, continuation: str) -> str:
    """``lead`` then ``continuation``, with a space between words where the tokenizer's
    decoding dropped it (byte-level BPE keeps it; word-level and SentencePiece decoders
    strip a leading space).

    >>> join_lead("Blue shirt", "has a collar"), join_lead("Blue shirt", ", has a collar")
    ('Blue shirt has a collar', 'Blue shirt, has a collar')
    """
    if lead and continuation[:1].isalnum() and lead[-1:].isalnum():
        return f"{lead} {continuation}"
    return lead + continuation


def text_generator(choice: str | None = None, *, allow_network: bool = False) -> TextGenerator:
    """The generator a user's choice names (registered name, ``hf:``/``local:`` source, or None
    for ``DEFAULT_GENERATOR``), seq2seq or causal by what the model is."""
    spec = spec_for("text-generation", choice or DEFAULT_GENERATOR)
    if spec.task == "text2text-generation" or _is_encoder_decoder(spec, allow_network):
        return Seq2SeqGenerator(spec, allow_network=allow_network)
    return CausalGenerator(spec, allow_network=allow_network)


def _is_encoder_decoder(spec: ModelSpec, allow_network: bool) -> bool:
    if parse_source(spec.source).kind == "bundled":
        return False
    config = resolve(spec, allow_network=allow_network) / "config.json"
    if not config.is_file():
        return False
    return bool(json.loads(config.read_text()).get("is_encoder_decoder", False))


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
