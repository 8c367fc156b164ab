import csv
from itertools import count, islice
from pathlib import Path

import numpy as np
import pytest

from describer import prompting
from describer.data import split_of
from describer.generators import TemplateGenerator
from describer.pipeline import Describer, describer_for
from describer.retrieval import (NearestNeighbourGenerator, RetrieveEditGenerator,
                                 attributes_text, cached_embeddings, memory_examples,
                                 retrieval_settings)
from tagger.seller import record_attributes
from listingsmith.core.errors import ListingsmithError
from tagger.text_embed import TextEmbedder

BIGBASKET_COLUMNS = ["index", "product", "category", "sub_category", "brand", "sale_price",
                     "market_price", "type", "rating", "description", "image"]
FASHION_COLUMNS = ["id", "gender", "masterCategory", "subCategory", "articleType", "baseColour",
                   "season", "year", "usage", "productDisplayName", "image", "split"]

PRODUCTS = [  # (brand, type, title, description)
    ("Fresho", "Basmati Rice", "Fresho Basmati Rice 5 kg", "Long grain aged basmati rice"),
    ("Amul", "Butter", "Amul Salted Butter 500 g", "Creamy salted butter made from fresh cream."),
    ("Colgate", "Toothpaste", "Colgate Strong Teeth Toothpaste 200 g",
     "Calcium toothpaste for strong teeth."),
    ("Tata", "Tea", "Tata Tea Gold 1 kg", "A rich blend of Assam tea leaves."),
]


class CountingEmbedder(TextEmbedder):
    """The real MiniLM, counting how many texts it embeds."""

    def __init__(self):
        super().__init__()
        self.embedded = 0

    def __call__(self, texts, batch_size=64):
        self.embedded += len(texts)
        return super().__call__(texts, batch_size)


def ids_in(split: str, source: str):
    return (str(i) for i in count(1) if split_of(source, str(i)) == split)


def write_csv(path: Path, columns: list[str], rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows({c: row.get(c, "") for c in columns} for row in rows)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("LISTINGSMITH_CACHE", str(folder))
    return folder


@pytest.fixture
def data(tmp_path) -> Path:
    """BigBasket training rows for PRODUCTS, a test row, and fashion rows without descriptions."""
    train = ids_in("train", "bigbasket")
    rows = [{"index": next(train), "product": title, "brand": brand, "type": kind,
             "category": "Grocery", "sale_price": "99", "description": text}
            for brand, kind, title, text in PRODUCTS]
    rows.append({"index": next(ids_in("test", "bigbasket")), "product": "Held Out Tea",
                 "brand": "Held Out", "type": "Tea", "description": "Never retrieved."})
    write_csv(tmp_path / "data" / "text" / "bigbasket.csv", BIGBASKET_COLUMNS, rows)
    fashion_train = ids_in("train", "fashion")
    shirts = [{"id": next(fashion_train), "gender": "Men", "articleType": "Shirts",
               "baseColour": colour, "usage": "Casual", "split": "text-only",
               "productDisplayName": f"Roadster Men {colour} Shirt"} for colour in ("Red", "Blue")]
    write_csv(tmp_path / "data" / "fashion" / "styles.csv", FASHION_COLUMNS, shirts)
    return tmp_path / "data"


def seller(**fields: str):
    return record_attributes(fields)


def test_nearest_finds_the_training_product_with_the_closest_attributes(data):
    generator = NearestNeighbourGenerator(data, sources=("bigbasket",))
    found = generator.nearest([seller(brand="Amul", category="Butter"),
                               seller(brand="Tata", category="Tea")])
    assert [n.title.title for n in found] == ["Amul Salted Butter 500 g", "Tata Tea Gold 1 kg"]
    assert all(n.description is n.title for n in found)
    assert all(n.title.split == "train" for n in found)
    (same,) = generator.nearest([seller(title="Amul Salted Butter 500 g", brand="Amul",
                                        category="Butter", price="1")])
    assert same.title.title == "Amul Salted Butter 500 g"
    assert same.title_similarity == pytest.approx(1.0, abs=1e-4)  # price is not compared
    assert same.title_similarity > found[0].title_similarity


def test_describer_writes_the_neighbours_listing_with_its_own_bullets(data):
    describer = Describer(NearestNeighbourGenerator(data, sources=("bigbasket",)))
    (listing,) = describer.describe([seller(brand="Fresho", category="Basmati Rice",
                                            item_weight="1 kg")])
    # the neighbour's title states 5 kg, this product is 1 kg: the guard swaps in the template
    assert "5 kg" not in listing.title and listing.removed_claims == ["5 kg"]
    # full stop added, kept whole; the length (medium) adds the fact the copy leaves out
    assert listing.description == "Long grain aged basmati rice. Net weight: 1 kg."
    assert listing.generator == "nearest"
    assert "Net weight: 1 kg" in listing.bullets  # bullets still come from the attributes


def test_description_comes_from_the_nearest_example_that_has_one(data):
    generator = NearestNeighbourGenerator(data, sources=("bigbasket", "fashion"))
    (found,) = generator.nearest([seller(gender="Men", category="Shirts", colour="Blue",
                                         usage="Casual")])
    assert found.title.title == "Roadster Men Blue Shirt"
    assert found.description is not None and found.description.source == "bigbasket"
    query = seller(gender="Men", category="Shirts", colour="Blue")
    titles, texts = generator.write([query], [prompting.product_context(query)])
    assert titles == ["Roadster Men Blue Shirt"] and texts[0].endswith(".")


def test_titles_only_index_falls_back_to_the_template_description(data):
    describer = Describer(NearestNeighbourGenerator(data, sources=("fashion",)))
    (listing,) = describer.describe([seller(category="Shirts", colour="Red", brand="Acme")])
    # the neighbour's title names another (shipped) brand: the guard swaps in the template
    assert listing.title == "Acme Red Shirts" and "Roadster" in listing.removed_claims
    assert listing.description == "Acme shirts in red."  # template_description.j2


def test_index_is_cached_and_rebuilt_when_the_rows_change(data, cache):
    first = CountingEmbedder()
    NearestNeighbourGenerator(data, sources=("bigbasket",), embedder=first).index
    assert first.embedded == len(PRODUCTS)
    assert list((cache / "describer").glob("nearest-attributes-*.npz"))
    second = CountingEmbedder()
    train, vectors = NearestNeighbourGenerator(data, sources=("bigbasket",),
                                               embedder=second).index
    assert second.embedded == 0 and vectors.shape == (len(PRODUCTS), 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    with open(data / "text" / "bigbasket.csv", "a", newline="", encoding="utf-8") as handle:
        new_id = list(islice(ids_in("train", "bigbasket"), 5))[-1]
        csv.writer(handle).writerow([new_id, "New Jam", "", "", "Kissan", "", "", "Jam", "",
                                     "Sweet jam.", ""])
    third = CountingEmbedder()
    train, vectors = NearestNeighbourGenerator(data, sources=("bigbasket",), embedder=third).index
    assert len(train) == vectors.shape[0] == len(PRODUCTS) + 1 and third.embedded > 0


def test_cached_embeddings_embed_each_distinct_text_once(data):
    embedder = CountingEmbedder()
    vectors = cached_embeddings("test", data, ("bigbasket",), ["a", "b", "c"],
                                ["same", "other", "same"], embedder)
    assert embedder.embedded == 2
    assert np.allclose(vectors[0], vectors[2]) and not np.allclose(vectors[0], vectors[1])


def test_missing_data_is_a_one_line_error_naming_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("LISTINGSMITH_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(ListingsmithError) as error:
        NearestNeighbourGenerator()
    message = str(error.value)
    assert "nowhere" in message and "needs ../shared/data/text" in message
    assert "pass --data or set LISTINGSMITH_DATA" in message and "\n" not in message


def test_template_path_is_unchanged():
    (listing,) = Describer(TemplateGenerator()).describe([seller(brand="Acme", category="Mug")])
    assert (listing.title, listing.generator) == ("Acme Mug", "template")


def test_attributes_text_is_the_bullets_without_price():
    text = attributes_text(seller(brand="Amul", price="50", item_weight="500 g"))
    assert text == "Brand: Amul; Net weight: 500 g"


def write_memory(path: Path, rows: list[dict]) -> Path:
    import json

    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


MEMORY = [
    {"id": "s1", "title": "Soie Women Grey Sleep Shirt", "brand": "Soie", "colour": "Grey",
     "category": "Sleep Shirt", "description": "Grey printed knee-length sleep shirt, has a "
                                                "round neck. Pack of 500 g. Made in India"},
    {"id": "s2", "title": "Tata Tea Gold 1 kg", "brand": "Tata", "category": "Tea",
     "description": "A rich blend of Assam tea leaves."},
]


def test_retrieve_edit_keeps_the_copy_with_this_products_colour_where_nearest_cuts_it(tmp_path):
    memory = write_memory(tmp_path / "listings.jsonl", MEMORY)
    product = seller(brand="Soie", colour="Blue", category="Sleep Shirt")
    (copied,) = Describer(NearestNeighbourGenerator(memory)).describe([product])
    (edited,) = Describer(RetrieveEditGenerator(memory)).describe([product])
    # the baseline loses the sentence stating another colour; retrieve-edit rewrites it, and
    # still cuts the weight it cannot correct (the product states none)
    assert "Grey" in copied.removed_claims and "printed" not in copied.description
    assert edited.description == ("Blue printed knee-length sleep shirt, has a round neck. "
                                  "Made in India.")
    assert edited.repaired_claims == ["Grey → Blue"] and edited.removed_claims == ["500 g"]
    # the title is the template's: a copied one would name the other product
    assert edited.title == "Soie Blue Sleep Shirt" and edited.generator == "retrieve-edit"
    assert copied.title == "Soie Blue Sleep Shirt" and "Grey" in copied.removed_claims
    assert copied.repaired_claims == []


def test_a_listing_memory_file_makes_retrieve_edit_the_default(tmp_path):
    memory = write_memory(tmp_path / "listings.jsonl", MEMORY)
    describer = describer_for(None, memory=memory)
    assert isinstance(describer.generator, RetrieveEditGenerator)
    (listing,) = describer.describe([seller(brand="Tata", category="Tea", item_weight="250 g")])
    assert listing.description == "A rich blend of Assam tea leaves. Net weight: 250 g."
    assert [e.title for e in memory_examples(memory)] == [m["title"] for m in MEMORY]
    assert isinstance(describer_for("nearest", memory=memory).generator,
                      NearestNeighbourGenerator)
    with pytest.raises(ListingsmithError, match="only nearest and retrieve-edit read"):
        describer_for("template", memory=memory)


@pytest.mark.parametrize("rows, message", [
    ([{"id": "a", "title": "Mug"}], "line 1: no description"),
    ([{"title": "Mug", "description": "A mug."}], "missing 'id'"),
    ([], "no listings"),
])
def test_a_bad_listing_memory_is_a_one_line_error(tmp_path, rows, message):
    memory = write_memory(tmp_path / "listings.jsonl", rows)
    with pytest.raises(ListingsmithError) as error:
        RetrieveEditGenerator(memory)
    assert message in str(error.value) and str(memory) in str(error.value)
    assert "\n" not in str(error.value)


def test_a_product_unlike_anything_in_the_memory_gets_the_template_description(tmp_path):
    memory = write_memory(tmp_path / "listings.jsonl", MEMORY)
    generator = RetrieveEditGenerator(memory)
    product = seller(brand="Exide", category="Car Battery", voltage="12 V")
    (found,) = generator.nearest([product])
    assert found.description_similarity < retrieval_settings()["min_similarity"]
    (listing,) = Describer(generator).describe([product])
    assert listing.description == Describer(TemplateGenerator()).describe([product])[0].description
    # the copying baseline has no floor: it copies the tea or the sleep shirt
    (copied,) = Describer(NearestNeighbourGenerator(memory)).describe([product])
    assert copied.description != listing.description
