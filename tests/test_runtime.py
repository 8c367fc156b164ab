"""Runtime profiles: read from the data file, chosen by name or environment, applied."""

import dataclasses

import pytest

from listingsmith.core.io import load_image
from tagger.ocr import OcrEngine
from tagger.pipeline import StageTimer, Tagger, TaggerOptions
from listingsmith.core.runtime import profile_names, runtime_profile
from tests.conftest import YOGA_BAG


def test_both_profiles_ship_and_fast_is_the_default(monkeypatch):
    monkeypatch.delenv("LISTINGSMITH_PROFILE", raising=False)
    assert set(profile_names()) >= {"fast", "naive"}
    assert runtime_profile().name == "fast"
    naive = runtime_profile("naive")
    assert (naive.ocr_det_limit_type, naive.ocr_det_limit_side) == ("min", 736)  # rapidocr's own
    assert naive.reuse_per_photo is False


def test_environment_picks_the_profile_and_a_typo_names_the_choices(monkeypatch):
    monkeypatch.setenv("LISTINGSMITH_PROFILE", "naive")
    assert runtime_profile().name == "naive"
    assert OcrEngine().profile.name == "naive"
    monkeypatch.setenv("LISTINGSMITH_PROFILE", "fastest")
    with pytest.raises(ValueError, match="unknown runtime profile 'fastest'; expected one of .*fast"):
        runtime_profile()


def test_a_bad_value_is_refused_with_what_was_expected():
    with pytest.raises(ValueError, match="expected one of .*got 'biggest'"):
        dataclasses.replace(runtime_profile("fast"), ocr_det_limit_type="biggest")


def test_ocr_engine_takes_its_detector_size_and_threads_from_the_profile():
    config = OcrEngine(profile=runtime_profile("naive"), threads=1).engine.cfg
    assert (config.Det.limit_type, config.Det.limit_side_len) == ("min", 736)
    assert config.EngineConfig.onnxruntime.intra_op_num_threads == 1


@pytest.mark.parametrize("name, keeps", [("fast", True), ("naive", False)])
def test_reuse_per_photo_decides_whether_stages_share_work(name, keeps):
    tagger = Tagger(profile=runtime_profile(name))
    photo = load_image(YOGA_BAG)
    attributes = tagger.analyze([photo], options=TaggerOptions(stages=("detect", "quality")))
    assert attributes.detections  # both profiles give the same answer ...
    assert bool(photo.derived) is keeps  # ... the fast one keeps the product mask for reuse


def test_a_new_stage_is_one_object_appended_with_its_own_time_and_provenance():
    seen = []

    class Identify:
        name = "identify"

        def wanted(self, selected):
            return "detect" in selected

        def run(self, context):
            seen.append(len(context.products))  # what an earlier stage left on the context
            return "test:identify"

    tagger = Tagger()
    tagger.stages.append(Identify())
    timer = StageTimer()
    attributes = tagger.analyze([load_image(YOGA_BAG)], options=TaggerOptions(stages=("detect",)),
                                timer=timer)
    assert seen == [1]
    assert attributes.provenance == {"detect": "builtin:border-seeded-mask",
                                     "identify": "test:identify"}
    assert set(timer.seconds) == {"detect", "identify"}
