"""Config validation names the key; bad config / inputs fail before any compute with exit code != 0."""
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
    cfg = write_config(tmp_path / "c.yaml", {"expert_settings": {"holistic": {"model_complexity": 2}}})
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
