"""Fine-tune the bundled SmolLM2-135M-Instruct with a LoRA adapter: attributes → title and
attributes → description, in the prompt format the product uses (``describer.prompting``).

    listingsmith train describer --data ../shared/data --steps 300 --out describer/weights/smollm2-lora
    listingsmith train describer ... --resume        (continues from the last checkpoint in --out)

Pairs come from the train split of ``describer.data`` (Myntra, BigBasket, fashion titles).
Reference descriptions pass the grounding guard first: a sentence stating a quantity, brand or
colour the seller fields don't is dropped, so the model is not taught to invent. Loss is on
the answer tokens only. Every ``--save-every`` steps the adapter, the optimiser state and the
step are written to ``--out`` (resumable); the adapter is small (about 2 MB).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import torch

from describer import prompting
from describer.data import SOURCES, example_attributes, examples
from describer.generate import CausalGenerator
from describer.guard import Guard
from tagger.train.data import default_data_dir

LORA = {"r": 8, "lora_alpha": 16, "lora_dropout": 0.05,
        "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}
"""Adapter shape: rank 8 on the attention projections of every layer."""
MAX_TOKENS = 320
"""Prompt + answer tokens per pair; longer pairs are left-truncated in the prompt."""
SEED = 0


def training_pairs(data: Path, split: str,
                   limit_per_source: int | None) -> list[tuple[list[dict], str]]:
    """(chat messages, answer) pairs of one split: one title pair per example, one description
    pair where the grounded reference description keeps at least one sentence."""
    guard = Guard()
    pairs = []
    for source in SOURCES:
        for example in examples(data, source, split, limit_per_source):
            attributes = example_attributes(example)
            product = prompting.product_context(attributes)
            if example.title:
                pairs.append((prompting.title_messages(product, "neutral"), example.title))
            if example.description:
                grounded, _ = guard.ground(example.description, attributes)
                if grounded:
                    pairs.append((prompting.description_messages(product, "neutral", "medium"),
                                  grounded))
    random.Random(SEED).shuffle(pairs)
    return pairs


def encode(tokenizer, messages: list[dict], answer: str) -> tuple[list[int], list[int]]:
    """Token ids and labels (-100 on the prompt) for one pair."""
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    answer_ids = answer_ids[:MAX_TOKENS // 2]
    prompt_ids = prompt_ids[-(MAX_TOKENS - len(answer_ids)):]
    return prompt_ids + answer_ids, [-100] * len(prompt_ids) + answer_ids


def batches(tokenizer, pairs, batch_size: int, start: int):
    """Right-padded batches, cycling over the pairs from example ``start``."""
    index = start
    while True:
        chunk = [pairs[(index + i) % len(pairs)] for i in range(batch_size)]
        index += batch_size
        encoded = [encode(tokenizer, m, a) for m, a in chunk]
        width = max(len(ids) for ids, _ in encoded)
        pad = tokenizer.pad_token_id
        yield {"input_ids": torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in encoded]),
               "attention_mask": torch.tensor([[1] * len(ids) + [0] * (width - len(ids))
                                               for ids, _ in encoded]),
               "labels": torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in encoded])}


def train(data: Path, out: Path, steps: int, batch_size: int, lr: float, save_every: int,
          resume: bool, limit_per_source: int | None, generator: CausalGenerator | None = None) -> dict:
    from peft import LoraConfig, PeftModel, get_peft_model

    torch.manual_seed(SEED)
    generator = generator or CausalGenerator()
    base, tokenizer = generator.model_and_tokenizer
    tokenizer.padding_side = "right"
    pairs = training_pairs(data, "train", limit_per_source)
    print(f"{len(pairs)} training pairs from {', '.join(SOURCES)}", flush=True)
    state_file = out / "trainer_state.json"
    if resume and state_file.exists():
        model = PeftModel.from_pretrained(base, out, is_trainable=True)
        state = json.loads(state_file.read_text())
    else:
        model = get_peft_model(base, LoraConfig(task_type="CAUSAL_LM", **LORA))
        state = {"step": 0, "losses": []}
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    if resume and (out / "optimizer.pt").exists():
        optimiser.load_state_dict(torch.load(out / "optimizer.pt", weights_only=True))
    model.train()
    stream = batches(tokenizer, pairs, batch_size, state["step"] * batch_size)
    start = time.perf_counter()
    try:
        for step in range(state["step"], steps):
            loss = model(**next(stream)).loss
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            state["losses"].append(round(loss.item(), 4))
            state["step"] = step + 1
            if state["step"] % 10 == 0:
                recent = state["losses"][-10:]
                print(f"step {state['step']}/{steps} loss {sum(recent) / len(recent):.3f} "
                      f"({time.perf_counter() - start:.0f}s)", flush=True)
            if state["step"] % save_every == 0 or state["step"] == steps:
                save(model, optimiser, state, out)
    finally:
        model.eval()
        tokenizer.padding_side = "left"
    return state


def save(model, optimiser, state: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    torch.save(optimiser.state_dict(), out / "optimizer.pt")
    (out / "trainer_state.json").write_text(json.dumps(state) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="listingsmith train describer",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("describer/weights/smollm2-lora"))
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--save-every", type=int, default=25)
    parser.add_argument("--limit-per-source", type=int, default=None,
                        help="training examples per source (development)")
    parser.add_argument("--resume", action="store_true", help="continue from --out")
    args = parser.parse_args(argv)
    state = train(args.data or default_data_dir(), args.out, args.steps, args.batch_size, args.lr,
                  args.save_every, args.resume, args.limit_per_source)
    print(f"done: step {state['step']}, last loss {state['losses'][-1] if state['losses'] else '-'}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
