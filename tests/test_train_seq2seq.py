"""The from-scratch seq2seq describer trains end to end on a tiny corpus and loads as a
generator; checkpoints resume."""

import json

from describer.generate import GenerationOptions, Seq2SeqGenerator, text_generator
from describer.train_seq2seq import main
from tests.test_describer_data import (BIGBASKET_COLUMNS, FASHION_COLUMNS, MYNTRA_COLUMNS,
                                       write_csv)

COLOURS = ["Blue", "Red", "Black", "White", "Green"]
TYPES = ["Shirt", "Kurta", "Jeans", "Dress", "Shoes"]


def tiny_corpus(folder):
    myntra, bigbasket, fashion = [], [], []
    for i in range(40):
        colour, kind = COLOURS[i % 5], TYPES[(i // 5) % 5]
        myntra.append({"Product_ID": str(i), "Product_Name": f"Acme Men {colour} {kind}",
                       "Product_Brand": "Acme", "Gender": "Men", "Price": "500",
                       "Description": f"A {colour.lower()} {kind.lower()} for everyday wear.",
                       "Primary_Color": colour})
        bigbasket.append({"index": str(i), "product": f"Fresh {kind} Soap", "brand": "Clean",
                          "category": "Beauty", "sub_category": "Bath", "sale_price": "30",
                          "type": "Soap", "description": "A gentle soap for daily use."})
        fashion.append({"id": str(i), "gender": "Women", "masterCategory": "Apparel",
                        "subCategory": "Topwear", "articleType": kind, "baseColour": colour,
                        "season": "Summer", "usage": "Casual",
                        "productDisplayName": f"Zed Women {colour} {kind}", "image": "",
                        "split": "text-only"})
    write_csv(folder / "text" / "myntra.csv", MYNTRA_COLUMNS, myntra)
    write_csv(folder / "text" / "bigbasket.csv", BIGBASKET_COLUMNS, bigbasket)
    write_csv(folder / "fashion" / "styles.csv", FASHION_COLUMNS, fashion)
    return folder


def test_trains_saves_resumes_and_generates(tmp_path, capsys):
    data, out = tiny_corpus(tmp_path / "data"), tmp_path / "t5"
    args = ["--data", str(data), "--out", str(out), "--batch-size", "4", "--eval-every", "2",
            "--save-every", "2"]
    main(args + ["--steps", "2"])
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["step"] == 2 and len(state["losses"]) == 2
    assert state["template"].startswith("prompts-v")
    main(args + ["--steps", "4", "--resume"])
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["step"] == 4 and len(state["losses"]) == 4 and len(state["val_losses"]) == 2
    assert "training pairs" in capsys.readouterr().out

    generator = text_generator(f"local:{out}")
    assert isinstance(generator, Seq2SeqGenerator)
    texts = generator([[{"role": "user", "content": "Product data:\n- Brand: Acme"}]],
                      GenerationOptions(max_new_tokens=4))
    assert len(texts) == 1 and isinstance(texts[0], str)
