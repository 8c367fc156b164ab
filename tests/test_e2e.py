"""End to end with the real bundled models, through the installed console script."""

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema

from tests.conftest import SOLIMO_FRONT


def test_describe_json_on_real_pack_photo():
    exe = Path(sys.executable).with_name("listingsmith")
    assert exe.is_file(), f"the listingsmith console script is not installed beside {sys.executable}"
    result = subprocess.run([str(exe), "describe", str(SOLIMO_FRONT), "--json", "--length", "short"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    schema = json.loads(resources.files("listingsmith").joinpath(
        "schema/listing.schema.json").read_text())
    jsonschema.validate(listing, schema)
    ocr_text = " ".join(s["text"] for s in listing["attributes"]["text_spans"]).lower()
    assert "vitamin e" in ocr_text and "365 capsules" in ocr_text
    assert listing["generator"] == "bundled:describer#describer-t5"  # the default generator
    assert listing["title"].strip() and listing["description"].strip()
    assert listing["attributes"]["provenance"]["tags"].startswith("bundled:")
