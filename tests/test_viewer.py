"""`skelforge show`: the skeleton on the real frames (mp4 / gif / png), on a blank canvas, and in 3D."""
import av
import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

import dagfile
from pipeline.cli import app, set_dag
from tests.conftest import NTU_CLIP, run_build, stage_videos

set_dag(dagfile.DAG)


def gif_seconds(path) -> float:
    """Total duration (Pillow merges identical consecutive frames into one longer frame)."""
    from PIL import Image, ImageSequence
    return sum(f.info["duration"] for f in ImageSequence.Iterator(Image.open(path))) / 1000


@pytest.fixture(scope="module")
def built(tmp_path_factory, samples):
    root = tmp_path_factory.mktemp("view")
    videos = stage_videos(root / "v", NTU_CLIP, names=["hug/clip.avi"])
    out = root / "out"
    run_build(videos, out, {"frames": {"max_frames": 24}, "layouts": ["ntu-x-118", "coco-17"]})
    return out


def show(*args):
    return CliRunner().invoke(app, ["show", *map(str, args)])


def test_video_outputs(built, tmp_path):
    r = show(built, "hug/clip", "--save", tmp_path / "a.mp4", "--width", "640")
    assert r.exit_code == 0, r.output
    with av.open(str(tmp_path / "a.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 24 and frames[0].shape == (360, 640, 3)
    assert show(built, "hug/clip", "--save", tmp_path / "a.gif", "--width", "320").exit_code == 0
    assert gif_seconds(tmp_path / "a.gif") == pytest.approx(24 / 30, abs=0.05)
    assert show(built, "hug/clip", "--save", tmp_path / "s.gif", "--max-frames", "9").exit_code == 0
    assert gif_seconds(tmp_path / "s.gif") == pytest.approx(9 / 30, abs=0.05)


def test_png_on_frame_and_blank_canvas(built, tmp_path):
    assert show(built, "hug/clip", "--layout", "coco-17", "--save", tmp_path / "f.png").exit_code == 0
    assert show(built, "hug/clip", "--layout", "coco-17", "--video", tmp_path / "none.avi",
                "--save", tmp_path / "b.png").exit_code == 0
    frame, blank = cv2.imread(str(tmp_path / "f.png")), cv2.imread(str(tmp_path / "b.png"))
    assert frame.shape == blank.shape == (1080, 1920, 3)
    drawn = (blank < 250).any(-1)                              # skeleton lines on white
    assert 500 < drawn.sum() < 0.05 * drawn.size
    blue = (blank[..., 0] > blank[..., 2] + 80) & (blank[..., 0] > blank[..., 1] + 40)      # BGR: tab10 blue
    orange = (blank[..., 2] > blank[..., 0] + 150) & (blank[..., 1] > blank[..., 0] + 60)   # tab10 orange
    assert blue.sum() > 200 and orange.sum() > 200             # person 0 and person 1 in their own colours


def test_3d_and_errors(built, tmp_path):
    assert show(built, "hug/clip", "--3d", "--save", tmp_path / "t.png").exit_code == 0
    img = cv2.imread(str(tmp_path / "t.png"))
    assert img is not None and img.std() > 10
    assert show(built, "no/such", "--save", tmp_path / "x.png").exit_code == 2
    assert show(built, "hug/clip", "--save", tmp_path / "x.avi").exit_code == 2


def test_frames_from_a_start_are_the_clips_frames(built, tmp_path):
    """The report's animations start mid-clip: frames_at_30fps(start=k) yields the clip's frames k.. exactly."""
    from workers.report.viewer import frames_at_30fps
    every = list(frames_at_30fps(str(NTU_CLIP), 24, (1080, 1920), tmp_path))
    tail = list(frames_at_30fps(str(NTU_CLIP), 24, (1080, 1920), tmp_path, start=17))
    assert len(every) == 24 and len(tail) == 7
    assert all(np.array_equal(a, b) for a, b in zip(every[17:], tail))
    assert not np.array_equal(every[0], tail[0])
    assert len(list(frames_at_30fps(None, 24, (36, 64), tmp_path, start=20))) == 4      # blank canvas


def test_gif_frames_keep_their_colours_with_one_palette():
    """Real frames (the NTU clip, with a drawn red line like a skeleton's) through the GIF encoder: every frame
    comes back within a few grey levels on average, the line's colour is kept, and the bytes are deterministic."""
    from PIL import Image, ImageSequence

    from workers.report.viewer import encode_gif
    frames = []
    with av.open(str(NTU_CLIP)) as c:
        for f in c.decode(video=0):
            img = cv2.resize(f.to_ndarray(format="rgb24"), (320, 180), interpolation=cv2.INTER_AREA)
            cv2.line(img, (40, 40), (200, 150), (230, 20, 20), 3)
            frames.append(img)
            if len(frames) == 30:
                break
    data, n = encode_gif(iter(frames), 30)
    assert n == 30 and encode_gif(iter(frames), 30)[0] == data
    import io
    back = [np.asarray(f.convert("RGB")).astype(int) for f in ImageSequence.Iterator(Image.open(io.BytesIO(data)))]
    assert len(back) == 30
    errors = [np.abs(b - f).mean() for b, f in zip(back, frames)]
    assert max(errors) < 4, errors
    assert np.abs(back[15][95, 120] - [230, 20, 20]).max() < 40              # a pixel on the line
