"""Shared test setup: the network is blocked, tiny models are built here, fixtures are local."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
SOLIMO_FRONT = FIXTURES / "abo" / "solimo-vitamin-e-front.jpg"
YOGA_BAG = FIXTURES / "abo" / "starter-yoga-bag.jpg"

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"


def free_port() -> int:
    """A loopback port nothing listens on, for a test server."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _is_loopback(address) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, bytes):
        host = host.decode()
    if not isinstance(host, str) or host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _guarded(real):
    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
            raise ConnectionRefusedError(f"network blocked in tests: {address!r}")
        return real(self, address)
    return connect


def pytest_configure(config):
    """Refuse every non-loopback connection for the whole session."""
    socket.socket.connect = _guarded(_real_connect)
    socket.socket.connect_ex = _guarded(_real_connect_ex)


TINY_WORDS = ("system user assistant product title description brand colour weight the a of "
              "and with for in solid cotton shirt blue red green bag bottle pack gram litre "
              "soft durable premium classic everyday natural fresh light").split()


def _tiny_tokenizer():
    """A word-level fast tokenizer over ``TINY_WORDS`` with a minimal chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<pad>", "<s>", "</s>"]
    vocab = {token: i for i, token in enumerate(specials + TINY_WORDS + [".", ",", ":"])}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace()])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
        eos_token="</s>")
    tokenizer.chat_template = ("{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} "
                               "{% endfor %}{% if add_generation_prompt %}assistant :{% endif %}")
    return tokenizer, vocab


@pytest.fixture(scope="session")
def tiny_causal_lm(tmp_path_factory) -> Path:
    """A randomly initialised 2-layer Llama with a word-level tokenizer and a chat template."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer, vocab = _tiny_tokenizer()
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                         max_position_embeddings=512, pad_token_id=vocab["<pad>"],
                         bos_token_id=vocab["<s>"], eos_token_id=vocab["</s>"])
    return _save_random(LlamaForCausalLM, config, tokenizer, tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_t5(tmp_path_factory) -> Path:
    """A randomly initialised 1+1-layer T5 with the same word-level tokenizer."""
    from transformers import T5Config, T5ForConditionalGeneration

    tokenizer, vocab = _tiny_tokenizer()
    config = T5Config(vocab_size=len(vocab), d_model=32, d_kv=8, d_ff=64, num_layers=1,
                      num_decoder_layers=1, num_heads=2, pad_token_id=vocab["<pad>"],
                      eos_token_id=vocab["</s>"], decoder_start_token_id=vocab["<pad>"])
    return _save_random(T5ForConditionalGeneration, config, tokenizer,
                        tmp_path_factory.mktemp("tiny-t5"))


def _save_random(model_class, config, tokenizer, folder: Path) -> Path:
    """A model of ``model_class`` with seeded random weights, saved with its tokenizer."""
    import torch

    torch.manual_seed(0)
    model_class(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def make_image(tmp_path):
    """Write a synthetic image to disk and return its path."""
    from PIL import Image

    def make(name: str = "photo.png", size=(64, 48), colour=(200, 30, 30), mode="RGB", **save):
        image = Image.new(mode, size, colour)
        path = tmp_path / name
        image.save(path, **save)
        return path
    return make


@pytest.fixture
def fixed_text_model():
    """A text model without weights that answers every prompt with one fixed text: what the
    describer does with a model's words, without a model."""
    from describer.generate import TextGenerator

    class FixedTextModel(TextGenerator):
        name = "fake"

        def __init__(self, text: str, writes_titles: bool):
            self.text, self.titles = text, writes_titles

        @property
        def writes_titles(self) -> bool:
            return self.titles

        def __call__(self, prompts, options):
            return [self.text] * len(prompts)

    return FixedTextModel
