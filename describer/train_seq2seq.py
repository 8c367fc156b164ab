"""Train a small T5 from scratch, tokenizer included: the offline seq2seq describer.

    listingsmith train seq2seq --data ../shared/data --steps 2000 --out describer/weights/t5-scratch
    listingsmith train seq2seq ... --resume        (continues from the checkpoint in --out)

No seq2seq weights ship in the package registries, so this one is trained here on the same
(attributes → title / grounded description) pairs as the LoRA adapter (``describer.train``),
with the request text the product renders (``seq2seq_input``) as the encoder input. The
tokenizer is a unigram model trained on those pairs. Every ``--eval-every`` steps the loss on
a fixed slice of the validation split is logged; the checkpoint (model, tokenizer, optimiser,
step, losses) is written every ``--save-every`` steps and at the end. The result loads like
any seq2seq model: ``--generator local:<out>``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import torch

from describer import prompting
from describer.generate import MAX_SOURCE_TOKENS, seq2seq_input
from describer.train import SEED, training_pairs
from tagger.train.data import default_data_dir

ARCHITECTURE = {"d_model": 192, "d_kv": 32, "d_ff": 512, "num_layers": 2,
                "num_decoder_layers": 2, "num_heads": 6, "dropout_rate": 0.1,
                "feed_forward_proj": "gated-gelu", "tie_word_embeddings": True}
"""About 3 M parameters with the vocabulary below: a step of 16 pairs takes about a second
on 2 CPU cores, so a useful model trains in well under an hour."""
VOCAB_SIZE = 4000
MAX_TARGET_TOKENS = 160
SPECIALS = ("<pad>", "</s>", "<unk>")
"""T5's conventions: pad (id 0) also starts the decoder; </s> ends every sequence."""
VAL_PAIRS = 256


def train_tokenizer(texts: list[str], folder: Path):
    """A unigram tokenizer on the training texts, saved as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from tokenizers.trainers import UnigramTrainer
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.Unigram())
    backend.normalizer = normalizers.NFKC()
    backend.pre_tokenizer = pre_tokenizers.Metaspace()
    backend.decoder = decoders.Metaspace()
    backend.train_from_iterator(texts, UnigramTrainer(vocab_size=VOCAB_SIZE,
                                                      special_tokens=list(SPECIALS),
                                                      unk_token="<unk>"))
    backend.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", backend.token_to_id("</s>"))])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>",
                                        eos_token="</s>", unk_token="<unk>",
                                        model_max_length=MAX_SOURCE_TOKENS)
    tokenizer.save_pretrained(folder)
    return tokenizer


def new_model(tokenizer):
    from transformers import T5Config, T5ForConditionalGeneration

    config = T5Config(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                      eos_token_id=tokenizer.eos_token_id,
                      decoder_start_token_id=tokenizer.pad_token_id, **ARCHITECTURE)
    return T5ForConditionalGeneration(config)


def encode(tokenizer, pairs: list[tuple[list[dict], str]]) -> list[tuple[list[int], list[int]]]:
    sources = tokenizer([seq2seq_input(m) for m, _ in pairs], truncation=True,
                        max_length=MAX_SOURCE_TOKENS)["input_ids"]
    targets = tokenizer([a for _, a in pairs], truncation=True,
                        max_length=MAX_TARGET_TOKENS)["input_ids"]
    return list(zip(sources, targets))


def collate(encoded: list[tuple[list[int], list[int]]], pad: int) -> dict[str, torch.Tensor]:
    source_width = max(len(s) for s, _ in encoded)
    target_width = max(len(t) for _, t in encoded)
    return {"input_ids": torch.tensor([s + [pad] * (source_width - len(s)) for s, _ in encoded]),
            "attention_mask": torch.tensor([[1] * len(s) + [0] * (source_width - len(s))
                                            for s, _ in encoded]),
            "labels": torch.tensor([t + [-100] * (target_width - len(t)) for _, t in encoded])}


def learning_rate(step: int, steps: int, peak: float, warmup: int) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.45 * (1 + math.cos(math.pi * min(1.0, progress))))


@torch.no_grad()
def validation_loss(model, batches: list[dict[str, torch.Tensor]]) -> float:
    if not batches:
        return float("nan")
    model.eval()
    losses = [model(**batch).loss.item() for batch in batches]
    model.train()
    return sum(losses) / len(losses)


def train(data: Path, out: Path, steps: int, batch_size: int, lr: float, save_every: int,
          eval_every: int, resume: bool, limit_per_source: int | None) -> dict:
    from transformers import AutoTokenizer, T5ForConditionalGeneration

    torch.manual_seed(SEED)
    pairs = training_pairs(data, "train", limit_per_source)
    val_pairs = training_pairs(data, "val", limit_per_source)[:VAL_PAIRS]
    print(f"{len(pairs)} training pairs, {len(val_pairs)} validation pairs", flush=True)
    state_file = out / "trainer_state.json"
    if resume and state_file.exists():
        tokenizer = AutoTokenizer.from_pretrained(out)
        model = T5ForConditionalGeneration.from_pretrained(out)
        state = json.loads(state_file.read_text())
        if state["template"] != prompting.template_id():  # the pairs below use today's prompts
            state.setdefault("earlier_templates", []).append([state["step"], state["template"]])
            state["template"] = prompting.template_id()
    else:
        out.mkdir(parents=True, exist_ok=True)
        texts = [seq2seq_input(m) for m, _ in pairs] + [a for _, a in pairs]
        tokenizer = train_tokenizer(random.Random(SEED).sample(texts, min(len(texts), 60000)),
                                    out)
        model = new_model(tokenizer)
        state = {"step": 0, "losses": [], "val_losses": [], "template": prompting.template_id(),
                 "architecture": ARCHITECTURE}
    print(f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters, "
          f"vocabulary {len(tokenizer)}", flush=True)
    encoded = encode(tokenizer, pairs)
    val_batches = [collate(chunk, tokenizer.pad_token_id) for chunk in
                   _chunks(encode(tokenizer, val_pairs), batch_size)]
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    if resume and (out / "optimizer.pt").exists():
        optimiser.load_state_dict(torch.load(out / "optimizer.pt", weights_only=True))
    model.train()
    order = random.Random(SEED + state["step"])  # a resumed run draws new batches
    start = time.perf_counter()
    for step in range(state["step"], steps):
        batch = collate([encoded[order.randrange(len(encoded))] for _ in range(batch_size)],
                        tokenizer.pad_token_id)
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(step, steps, lr, warmup=min(200, steps // 10 + 1))
        loss = model(**batch).loss
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        state["losses"].append(round(loss.item(), 4))
        state["step"] = step + 1
        if state["step"] % eval_every == 0 or state["step"] == steps:
            recent = state["losses"][-eval_every:]
            val = validation_loss(model, val_batches)
            state["val_losses"].append([state["step"], round(val, 4)])
            print(f"step {state['step']}/{steps} loss {sum(recent) / len(recent):.3f} "
                  f"val {val:.3f} ({time.perf_counter() - start:.0f}s)", flush=True)
        if state["step"] % save_every == 0 or state["step"] == steps:
            save(model, tokenizer, optimiser, state, out)
    return state


def _chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def save(model, tokenizer, optimiser, state: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    torch.save(optimiser.state_dict(), out / "optimizer.pt")
    (out / "trainer_state.json").write_text(json.dumps(state) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="listingsmith train seq2seq",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("describer/weights/t5-scratch"))
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--save-every", type=int, default=250)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--limit-per-source", type=int, default=None,
                        help="examples per source and split (development)")
    parser.add_argument("--resume", action="store_true", help="continue from --out")
    args = parser.parse_args(argv)
    state = train(args.data or default_data_dir(), args.out, args.steps, args.batch_size,
                  args.lr, args.save_every, args.eval_every, args.resume, args.limit_per_source)
    print(f"done: step {state['step']}, last validation loss "
          f"{state['val_losses'][-1][1] if state['val_losses'] else '-'}", file=sys.stderr)
