"""The describe benchmark's choice of generators (the benchmark itself is
``eval.run --task describe``)."""

import pytest

from eval.tasks.describe import GENERATORS, GENERATORS_ENV, chosen_generators


def test_generators_default_to_all_and_keep_table_order(monkeypatch):
    monkeypatch.delenv(GENERATORS_ENV, raising=False)
    assert chosen_generators() == GENERATORS
    monkeypatch.setenv(GENERATORS_ENV, "t5-scratch, template")
    assert chosen_generators() == ("template", "t5-scratch")


def test_model_sources_are_added_after_the_named_generators(monkeypatch):
    monkeypatch.setenv(GENERATORS_ENV, "local:/tmp/ckpt,nearest")
    assert chosen_generators() == ("nearest", "local:/tmp/ckpt")
    monkeypatch.setenv(GENERATORS_ENV, "hf:google/flan-t5-small@0123abc")
    assert chosen_generators() == ("hf:google/flan-t5-small@0123abc",)


def test_an_unknown_generator_is_a_one_line_error_listing_the_choices(monkeypatch):
    monkeypatch.setenv(GENERATORS_ENV, "t5,template")
    with pytest.raises(ValueError, match=r"unknown name\(s\) t5; choose from template"):
        chosen_generators()
