"""Config validation names the key; bad config / inputs fail before any compute with exit code != 0."""
import sys

import pytest
from typer.testing import CliRunner

from schemas.config import BuildConfig, ConfigError, load_config
from tests.conftest import NTU_CLIP, stage_videos, write_config

import dagfile
from pipeline.cli import app, set_dag

set_dag(dagfile.DAG)
runner = CliRunner()


def test_unknown_and_bad_keys_are_named(tmp_path):
    p = write_config(tmp_path / "c.yaml", {"detect": {"scor_threshold": 0.3}, "track": {"max_gap": -2},
                                           "layouts": ["ntu-x-118", "smpl-24"], "colour": "red"})
    with pytest.raises(ConfigError) as e:
        load_config(p)
    msg = str(e.value)
    for key in ("detect.scor_threshold", "track.max_gap", "layouts", "colour"):
        assert key in msg
    assert "smpl-24" in msg


def test_defaults_and_dotted_get():
    cfg = BuildConfig()
    assert cfg.get("frames.fps") == 30 and cfg.get("track.max_persons") == 2
    assert cfg.get("layouts") == ["ntu-x-118", "ntu-x-67", "posetics-17", "coco-17", "ntu-25"]


def test_default_yaml_matches_schema():
    from pathlib import Path
    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "default.yaml")
    assert cfg == BuildConfig()


def test_unknown_expert_setting_fails_before_compute(tmp_path):
    videos = stage_videos(tmp_path / "v", NTU_CLIP)
    cfg = write_config(tmp_path / "c.yaml", {"expert_settings": {"dlib68": {"upsample": 2}, "yolo": {}}})
    r = _build(["--videos", str(videos), "--out", str(tmp_path / "out"), "--config", str(cfg)])
    assert r.exit_code == 2 and "expert_settings" in r.output and "yolo" in r.output
    cfg = write_config(tmp_path / "c2.yaml", {"experts": {"face": ["dlib68"]},
                                               "expert_settings": {"dlib68": {"upsample": 2}}})
    r = _build(["--videos", str(videos), "--out", str(tmp_path / "out"), "--config", str(cfg)])
    assert r.exit_code == 2 and "expert_settings.dlib68" in r.output and "upsample" in r.output


def test_expert_weights_are_checked(tmp_path):
    for bad, words in (({"yolo": {"face": 0.5}}, ("refine.expert_weights", "yolo")),
                       ({"dlib68": {"face": 1.5}}, ("refine.expert_weights", "(0, 1]")),
                       ({"dlib68": {"feet": 0.5}}, ("refine.expert_weights.dlib68.feet",))):
        with pytest.raises(ConfigError) as e:
            load_config(write_config(tmp_path / "c.yaml", {"refine": {"expert_weights": bad}}))
        assert all(w in str(e.value) for w in words), str(e.value)


def _build(args):
    return runner.invoke(app, ["build", *args, "--workers", "0"])


def test_bad_config_fails_before_compute(tmp_path):
    videos = stage_videos(tmp_path / "v", NTU_CLIP)
    cfg = write_config(tmp_path / "bad.yaml", {"pose": {"roi_scale": 7}, "experts": {"face": ["pose"]}})
    out = tmp_path / "out"
    r = _build(["--videos", str(videos), "--out", str(out), "--config", str(cfg)])
    assert r.exit_code == 2
    assert "pose.roi_scale" in r.output and "experts" in r.output and "does not estimate face" in r.output
    assert not (out / ".cache").exists()            # nothing computed


@pytest.mark.parametrize("case", ["missing", "empty", "no_videos"])
def test_bad_videos_dir(tmp_path, case):
    videos = tmp_path / "v"
    if case != "missing":
        videos.mkdir()
    if case == "no_videos":
        (videos / "notes.txt").write_text("no videos here")
    r = _build(["--videos", str(videos), "--out", str(tmp_path / "out")])
    assert r.exit_code == 2
    assert "--videos" in r.output


def test_unwritable_out(tmp_path):
    """/proc refuses new folders even to root (CI runs as root, so a chmod'ed folder would not do)."""
    videos = stage_videos(tmp_path / "v", NTU_CLIP)
    r = _build(["--videos", str(videos), "--out", "/proc/skelforge-out"])
    assert r.exit_code == 2 and "not writable" in r.output


def test_model_not_bundled_fails_before_compute(tmp_path):
    """Holistic complexity 2 needs pose_landmark_heavy.tflite, which MediaPipe would download: not offline."""
    videos = stage_videos(tmp_path / "v", NTU_CLIP)
    cfg = write_config(tmp_path / "c.yaml", {"experts": {"body": ["holistic"]},
                                             "expert_settings": {"holistic": {"model_complexity": 2}}})
    r = _build(["--videos", str(videos), "--out", str(tmp_path / "out"), "--config", str(cfg)])
    assert r.exit_code == 2
    assert "holistic" in r.output and "pose_landmark_heavy" in r.output
    assert not (tmp_path / "out" / ".cache").exists()


def test_out_that_is_a_file(tmp_path):
    videos = stage_videos(tmp_path / "v", NTU_CLIP)
    f = tmp_path / "file"
    f.write_text("x")
    r = _build(["--videos", str(videos), "--out", str(f)])
    assert r.exit_code == 2 and "not writable" in r.output


def test_unknown_stage_flag(tmp_path):
    videos = stage_videos(tmp_path / "v", NTU_CLIP)
    r = _build(["--videos", str(videos), "--out", str(tmp_path / "o"), "--only", "posing"])
    assert r.exit_code == 2 and "unknown stage" in r.output


def _build_with(tmp_path, config_text: str, **extra):
    """`skelforge build` on the NTU sample with a config written verbatim (YAML text, so duplicates and tags
    reach the loader as a user would write them)."""
    videos = stage_videos(tmp_path / "v", NTU_CLIP)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(config_text)
    out = tmp_path / "out"
    r = _build(["--videos", str(videos), "--out", str(out), "--config", str(cfg), *extra.get("args", ())])
    return r, out


def test_invalid_expert_setting_exits_2_at_load_naming_the_key(tmp_path):
    r, out = _build_with(tmp_path, "expert_settings:\n  holistic:\n    model_complexity: 7\n")
    assert r.exit_code == 2, r.output
    assert "expert_settings.holistic.model_complexity" in r.output and "got 7" in r.output
    assert not (out / ".cache").exists()
    # settings of an expert no `experts:` list uses are checked too, each at its own key
    with pytest.raises(ConfigError) as e:
        load_config(write_config(tmp_path / "c2.yaml", {"expert_settings": {
            "dlib68": {"roi_size": 0}, "rtmw": {"input_size": [288]}, "yolo-pose": {"conf": 1.5},
            "facemesh": {"passes": True}}}))
    for key in ("expert_settings.dlib68.roi_size", "expert_settings.rtmw.input_size",
                "expert_settings.yolo-pose.conf", "expert_settings.facemesh.passes"):
        assert key in str(e.value), str(e.value)


def test_expert_defaults_come_from_the_settings_schema():
    """One source of truth: every registered expert's defaults are its settings model's, and they validate."""
    from schemas.experts import EXPERT_SETTINGS
    from workers.experts.registry import EXPERTS
    assert set(EXPERT_SETTINGS) == set(EXPERTS)
    for name, cls in EXPERTS.items():
        assert cls.defaults == EXPERT_SETTINGS[name]().model_dump(mode="json")
        assert cls(**cls.defaults).settings == cls.defaults
    with pytest.raises(ValueError, match="model_complexity"):
        EXPERTS["holistic"](model_complexity=7)


def test_boolean_for_a_number_exits_2(tmp_path):
    r, out = _build_with(tmp_path, "frames:\n  fps: true\n")
    assert r.exit_code == 2 and "frames.fps" in r.output, r.output
    assert not (out / ".cache").exists()
    # every numeric field refuses booleans, at any depth and in every section (fit3d/train included)
    with pytest.raises(ConfigError) as e:
        load_config(write_config(tmp_path / "c2.yaml", {
            "detect": {"score_threshold": True}, "track": {"max_gap": False},
            "refine": {"expert_weights": {"holistic": {"face": True}}}, "filter": {"min_part_present": {"face": True}},
            "train": {"epochs": True}, "fit3d": {"smplx": {"iterations": True}}}))
    for key in ("detect.score_threshold", "track.max_gap", "refine.expert_weights.holistic.face",
                "filter.min_part_present.face", "train.epochs", "fit3d.smplx.iterations"):
        assert key in str(e.value), str(e.value)
    # booleans stay booleans where a boolean is meant
    cfg = load_config(write_config(tmp_path / "c3.yaml", {"refine": {"swap_repair": False}}))
    assert cfg.refine.swap_repair is False


def test_min_part_present_is_a_share(tmp_path):
    r, _ = _build_with(tmp_path, "filter:\n  min_part_present: {face: -1, body: 5}\n")
    assert r.exit_code == 2, r.output
    assert "filter.min_part_present.face" in r.output and "filter.min_part_present.body" in r.output
    cfg = load_config(write_config(tmp_path / "ok.yaml", {"filter": {"min_part_present": {"face": 0, "body": 1}}}))
    assert cfg.filter.min_part_present == {"face": 0.0, "body": 1.0}


@pytest.mark.parametrize("text, key, line", [
    ("frames:\n  fps: 30\ndetect:\n  tiles: none\nframes:\n  fps: 25\n", "'frames'", "line 5"),
    ("frames:\n  fps: 30\n  max_frames: 8\n  fps: 25\n", "'frames.fps'", "line 4"),
    ("filter: {min_part_present: {face: 0.5, face: 0.2}}\n", "'filter.min_part_present.face'", "line 1"),
])
def test_duplicate_yaml_key_exits_2_naming_key_and_line(tmp_path, text, key, line):
    r, out = _build_with(tmp_path, text)
    assert r.exit_code == 2, r.output
    assert "duplicate key" in r.output and key in r.output and line in r.output
    assert not (out / ".cache").exists()


def test_yaml_tag_in_config_exits_2(tmp_path):
    r, _ = _build_with(tmp_path, "frames:\n  fps: !!int 25\n")
    assert r.exit_code == 2 and "frames.fps" in r.output and "!!int" in r.output, r.output
    r, _ = _build_with(tmp_path, "cache:\n  dir: !!python/object/apply:os.getcwd []\n")
    assert r.exit_code == 2 and "cache.dir" in r.output and "!!python/object/apply:os.getcwd" in r.output, r.output


@pytest.mark.parametrize("label_map, words", [
    # a code-running tag: refused before anything is constructed (the marker file is never written)
    ("A-1: !!python/object/apply:os.system ['touch {marker}']\n", ("key 'A-1'", "!!python/object/apply:os.system")),
    ("drink: [!foo A-1]\n", ("key 'drink.0'", "!foo")),
    ("drink: [A-1]\ndrink: [A-2]\n", ("duplicate key 'drink'", "line 2")),
])
def test_label_map_tags_and_duplicates_exit_2(tmp_path, label_map, words):
    marker = tmp_path / "ran"
    lm = tmp_path / "map.yaml"
    lm.write_text(label_map.format(marker=marker))
    r, out = _build_with(tmp_path, f"labels:\n  map: {lm}\n")
    assert r.exit_code == 2, r.output
    assert "labels.map" in r.output and str(lm) in r.output and all(w in r.output for w in words), r.output
    assert not marker.exists() and not (out / ".cache").exists()


@pytest.mark.parametrize("config_text, key, extra, module", [
    ("experts:\n  face: [dlib68]\n", "experts.face", "dlib", "dlib"),
    ("experts:\n  body: [rtmpose]\nexpert_settings:\n  rtmpose:\n    onnx: {onnx}\n", "experts.body", "cluster",
     "rtmlib"),
])
def test_config_naming_an_uninstalled_extra_exits_2_synthesized_missing_package(tmp_path, monkeypatch, config_text,
                                                                                 key, extra, module):
    """The package is installed here, so its absence is synthesized the way Python itself records a module that
    cannot be imported (sys.modules[name] = None): the build stops before compute naming the key and the extra."""
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"not read: the check comes first")
    monkeypatch.setitem(sys.modules, module, None)
    r, out = _build_with(tmp_path, config_text.format(onnx=onnx))
    assert r.exit_code == 2, r.output
    assert key in r.output and f"skelforge[{extra}]" in r.output and module in r.output
    assert not (out / ".cache").exists()


def test_every_optional_feature_names_an_extra_that_provides_its_modules():
    import tomllib
    from pathlib import Path
    from schemas.extras import DETECTOR_NEEDS, EXPERT_NEEDS, EXTRAS
    from schemas.experts import EXPERT_PARTS
    extras = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert set(EXTRAS) <= set(extras) and set(EXPERT_NEEDS) <= set(EXPERT_PARTS)
    for extra, modules in [*EXPERT_NEEDS.values(), *DETECTOR_NEEDS.values()]:
        assert set(modules) <= set(EXTRAS[extra])
    assert sorted(extras["all"]) == sorted({p for e in EXTRAS for p in extras[e]})     # `all` is every extra
