"""Property tests (issue 10): any seller record file reads into records or one-line errors,
and any listing survives the JSON round trip and matches the published schema."""

import json
from importlib import resources

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tagger.seller import record_attributes
from listingsmith.core.records import read_records
from listingsmith.core.errors import ListingsmithError
from listingsmith.core.types import Attributes, ColorSwatch, Fact, Listing, Tag, TextSpan

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
SCHEMA = json.loads(resources.files("listingsmith").joinpath(
    "schema/listing.schema.json").read_text())

words = st.text(min_size=1, max_size=40).filter(lambda s: s.strip())
values = st.one_of(st.text(max_size=30), st.integers(), st.floats(allow_nan=False),
                   st.none(), st.booleans(), st.lists(st.integers(), max_size=3))


@SETTINGS
@given(lines=st.lists(st.one_of(
    st.dictionaries(st.sampled_from(["id", "title", "brand", "item_weight", "price", "voltage",
                                     "colour", "x"]), values, max_size=6).map(json.dumps),
    st.text(max_size=40)), max_size=8))
def test_any_jsonl_reads_into_records_or_errors(tmp_path, lines):
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(line.replace("\n", " ") for line in lines), encoding="utf-8")
    for record in read_records(path):
        if record.error is None:
            assert record.id.strip()
            record_attributes(record.fields)  # seller facts parse without raising
        else:
            assert record.error.startswith("line ") and "\n" not in record.error


@SETTINGS
@given(data=st.binary(max_size=300))
def test_any_csv_bytes_read_or_fail_with_a_one_line_error(tmp_path, data):
    path = tmp_path / "records.csv"
    path.write_bytes(b"id,title,item_weight\n" + data)
    try:
        records = list(read_records(path))
    except ListingsmithError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
    else:
        for record in records:
            if record.error is None:
                record_attributes(record.fields)


@SETTINGS
@given(title=words, description=words, bullets=st.lists(words, max_size=4),
       seller=st.dictionaries(st.sampled_from(["brand", "price", "size", "notes"]), words,
                              max_size=4),
       raw=words, share=st.floats(0, 1), score=st.floats(0, 1))
def test_listing_round_trips_and_matches_the_schema(title, description, bullets, seller, raw,
                                                    share, score):
    span = TextSpan(raw, (0, 0, 10, 10), 0.5)
    attributes = Attributes(
        text_spans=[span], seller=seller,
        facts=[Fact("item_weight", 500.0, "gram", raw, "ocr", span, 0.9),
               Fact("brand", raw.strip(), None, raw, "ocr", span, 0.8)],
        colours=[ColorSwatch("Red", "red", (200, 0, 0), "#c80000", share)],
        tags=[Tag("shirt", score, "aligner", "type")])
    listing = Listing(title=title, description=description, bullets=bullets,
                      attributes=attributes, removed_claims=[raw])
    text = listing.to_json()
    assert Listing.from_json(text) == listing
    jsonschema.validate(json.loads(text), SCHEMA)


def test_non_utf8_csv_is_a_one_line_error(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("id,title\n1,Caf\xe9 cr\xe8me\n".encode("latin-1"))
    with pytest.raises(ListingsmithError, match="not UTF-8 text .*save the file as UTF-8"):
        list(read_records(path))
