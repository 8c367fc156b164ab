import pytest

from listingsmith.core import registry
from listingsmith.core.errors import ModelError
from listingsmith.core.registry import ModelSpec, get_spec, list_models, parse_source, resolve, spec_for


def test_every_bundled_model_is_installed_with_matching_hashes():
    statuses = {s.spec.name: s for s in list_models()}
    assert {"ocr", "image-backbone", "text-embedder", "generator", "barcode"} <= set(statuses)
    for status in statuses.values():
        assert status.status == "installed", (status.spec.name, status.location)


def test_unknown_name_lists_valid_names():
    with pytest.raises(ModelError, match="registered models: .*generator.*ocr"):
        get_spec("gpt-7")


def test_path_like_name_is_told_to_use_local():
    with pytest.raises(ModelError, match="write 'local:./my-model'"):
        get_spec("./my-model")


@pytest.mark.parametrize("source, message", [
    ("hf:IDEA-Research/grounding-dino-tiny", "pin a revision"),
    ("s3:bucket/model", "expected one of bundled:, hf:, local:"),
    ("local:", "nothing after 'local:'"),
])
def test_bad_sources(source, message):
    with pytest.raises(ModelError, match=message):
        parse_source(source)


def test_hub_model_not_cached_is_refused_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    spec = spec_for("text-generation", "hf:HuggingFaceTB/SmolLM2-360M-Instruct@main")
    with pytest.raises(ModelError, match="not in the local Hugging Face cache"):
        resolve(spec)


def test_wrong_hash_is_refused_with_file_and_fix(tmp_path, monkeypatch):
    package = tmp_path / "fake_weights_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "weights.bin").write_bytes(b"tampered")
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = ModelSpec(name="fake", task="test", source="bundled:fake_weights_pkg",
                     description="test", files={"weights.bin": "0" * 64})
    with pytest.raises(ModelError, match="weights.bin does not match its pinned sha256; "
                                         "reinstall"):
        resolve(spec)
    assert registry.model_status(spec).status == "hash mismatch"


def test_local_source_resolves_to_folder(tmp_path):
    spec = spec_for("text-generation", f"local:{tmp_path}")
    assert resolve(spec) == tmp_path
    with pytest.raises(ModelError, match="does not exist"):
        resolve(spec_for("text-generation", f"local:{tmp_path / 'missing'}"))


def test_load_once_builds_a_model_once():
    calls = []
    spec = ModelSpec(name="x", task="t", source="local:/nowhere", description="")
    first = registry.load_once(spec, "role", lambda: calls.append(1) or object())
    second = registry.load_once(spec, "role", lambda: calls.append(1) or object())
    assert first is second and calls == [1]
