"""The viewer: a clip's skeletons (a layout's edges and joints, each person in its own colour of a fixed
qualitative palette, matplotlib's tab10, with its id written above the head; hands and face drawn thinner
than the body) drawn on the original frames — or on a blank canvas when the video is absent — written as .mp4 (H.264 via PyAV), .gif
(Pillow) or .png (one frame); `render_3d` plots keypoints_3d with matplotlib (.png one frame, .gif/.mp4 all); MediaPipe's world points are
hip-centred per person, so people are drawn 1 m apart."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional

import cv2
import numpy as np

from schemas.layouts import get_layout
from workers.decode.resample import presentation_times, resample_indices
from workers.decode.spool import Truncated, open_frames
from workers.io.atomic import atomic_target

# matplotlib's tab10 (Tableau 10) in RGB: ten hues told apart at a glance, person m gets PALETTE[m % 10]
PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))


def person_colour(m: int) -> tuple[int, int, int]:
    """RGB colour of person (actor) m, the same in every view of the build."""
    return PALETTE[m % len(PALETTE)]


def _regions(layout: str) -> dict[int, str]:
    return {i: name for name, idx in get_layout(layout).regions.items() for i in idx}


def draw_frame(img: np.ndarray, joints: np.ndarray, layout: str) -> np.ndarray:
    """img RGB (H, W, 3); joints (M, V, 3+) in frame pixels (score last). Person m is drawn in
    person_colour(m) and labelled with its id m above its highest joint."""
    lay, region = get_layout(layout), _regions(layout)
    out = img.copy()
    t = max(1, int(round(max(img.shape[:2]) / 350)))
    for m, person in enumerate(joints):
        ok = person[:, -1] > 0
        colour = person_colour(m)
        for a, b in lay.edges:
            if ok[a] and ok[b]:
                width = t if region[b] == "body" else max(1, t // 2)
                cv2.line(out, tuple(int(v) for v in person[a, :2]), tuple(int(v) for v in person[b, :2]), colour,
                         width, cv2.LINE_AA)
        for v in np.flatnonzero(ok):
            cv2.circle(out, tuple(int(x) for x in person[v, :2]), t + 1, colour, -1, cv2.LINE_AA)
        if ok.any():
            _label(out, str(m), person[ok, :2], colour, t)
    return out


def _label(img: np.ndarray, text: str, pts: np.ndarray, colour: tuple[int, int, int], t: int) -> None:
    """The id in a filled box of the person's colour, centred above its highest joint (kept inside the frame)."""
    scale = 0.45 * t
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, t)
    x = int(np.clip(pts[:, 0].mean() - tw / 2, 0, max(img.shape[1] - tw - 2 * t, 0)))
    y = int(np.clip(pts[:, 1].min() - 3 * t, th + 2 * t, img.shape[0] - base))
    cv2.rectangle(img, (x - t, y - th - t), (x + tw + t, y + base), colour, -1)
    cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), t, cv2.LINE_AA)


def frames_at_30fps(video: Optional[str], T: int, size: tuple[int, int], work: Path, start: int = 0
                    ) -> Iterator[np.ndarray]:
    """The clip's output frames start..T-1 (RGB) as the build saw them, or blank canvases of `size` (h, w)."""
    if video and Path(video).exists():
        times, end = presentation_times(video)
        idx = resample_indices(times, end, 30, T)[start:]
        try:
            source = open_frames(video, idx, work)
        except Truncated:
            source = None
        if source is not None:
            with source:
                yield from source
            return
    h, w = size
    for _ in range(start, T):
        yield np.full((h, w, 3), 255, np.uint8)


def write(frames: Iterator[np.ndarray], dest: Path, fps: int = 30, width: Optional[int] = None) -> int:
    """Written atomically: a temporary file beside `dest` (same suffix, so each writer picks the format) renamed
    into place once complete; an error or a kill midway leaves no partial `dest`."""
    dest = Path(dest)
    with atomic_target(dest, suffix=dest.suffix) as tmp:
        return _write(frames, Path(tmp), fps, width)


def _write(frames: Iterator[np.ndarray], dest: Path, fps: int, width: Optional[int]) -> int:
    suffix = dest.suffix.lower()
    n = 0
    if suffix == ".png":
        frames = list(frames)
        img = frames[len(frames) // 2]
        cv2.imwrite(str(dest), cv2.cvtColor(_resize(img, width), cv2.COLOR_RGB2BGR))
        return 1
    if suffix == ".gif":
        data, n = encode_gif(frames, fps, width)
        dest.write_bytes(data)
        return n
    if suffix == ".mp4":
        from workers.io.mp4 import write_mp4
        return write_mp4((_resize(f, width) for f in frames), dest, fps)
    raise ValueError(f"--save must end in .mp4, .gif or .png (got {dest.name})")


PALETTE_FRAMES = 4     # evenly spaced frames the GIF's one palette is drawn from


def encode_gif(frames: Iterator[np.ndarray], fps: int = 30, width: Optional[int] = None) -> tuple[bytes, int]:
    """RGB frames -> (GIF bytes looping forever, number of frames); deterministic for the same frames.

    One 256-colour palette for the whole animation (median cut over PALETTE_FRAMES evenly spaced frames, each
    frame mapped to it without dithering): Pillow's default quantises every frame on its own, 25 ms per 320 px
    frame, most of the report's time; one palette is 10x faster, the file less than half the size, colours
    within 2 grey levels on average of the per-frame palettes, and no palette flicker between frames."""
    import io

    from PIL import Image
    rgb = [_resize(f, width) for f in frames]
    if not rgb:
        raise ValueError("no frames to encode")
    step = max(1, len(rgb) // PALETTE_FRAMES)
    palette = Image.fromarray(np.concatenate(rgb[::step][:PALETTE_FRAMES], 0)).quantize(
        256, method=Image.Quantize.MEDIANCUT)
    imgs = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in rgb]
    # GIF stores centiseconds: take each frame's duration from rounded cumulative times (30, 30, 40 ms, ...)
    # so the animation keeps exactly `fps` on average instead of running 10% fast.
    ends = np.round(np.arange(1, len(imgs) + 1) * 100 / fps) * 10
    durations = np.diff(np.concatenate([[0], ends])).astype(int).tolist()
    buf = io.BytesIO()
    imgs[0].save(buf, format="GIF", save_all=True, append_images=imgs[1:], duration=durations, loop=0)
    return buf.getvalue(), len(imgs)


def _resize(img: np.ndarray, width: Optional[int]) -> np.ndarray:
    if not width or img.shape[1] <= width:
        return img
    return cv2.resize(img, (width, int(round(img.shape[0] * width / img.shape[1]))), interpolation=cv2.INTER_AREA)


def render_3d(kp3d: np.ndarray, layout: str, frame_ids: list[int]) -> Iterator[np.ndarray]:
    """kp3d (M, T, V, 4) metres -> RGB images of a 3D plot per requested frame (axes fixed over the clip)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    lay, region = get_layout(layout), _regions(layout)
    kp3d = kp3d.copy()
    kp3d[..., 0] += np.arange(kp3d.shape[0])[:, None, None] * 1.0    # world points are hip-centred per person:
    ok_all = kp3d[..., 3] > 0                                         # space people 1 m apart along x
    pts = kp3d[..., :3][ok_all]
    lo, hi = (pts.min(0), pts.max(0)) if len(pts) else (np.full(3, -1.0), np.full(3, 1.0))
    for k in frame_ids:
        fig = plt.figure(figsize=(4, 4), dpi=80)
        ax = fig.add_subplot(projection="3d")
        for m, person in enumerate(kp3d[:, k]):
            ok = person[:, 3] > 0
            for a, b in lay.edges:
                if ok[a] and ok[b]:
                    # MediaPipe world frame: y down -> plot -y up; z towards the camera -> depth axis
                    ax.plot([person[a, 0], person[b, 0]], [person[a, 2], person[b, 2]], [-person[a, 1], -person[b, 1]],
                            color=np.array(person_colour(m)) / 255, lw=2 if region[b] == "body" else 1)
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[2], hi[2])
        ax.set_zlim(-hi[1], -lo[1])
        ax.set_xlabel("x (m)")
        ax.set_ylabel("z (m)")
        ax.set_zlabel("-y (m)")
        ax.set_title(f"frame {k}")
        ax.view_init(elev=12, azim=-80)                                # near-front view, slightly from above
        fig.canvas.draw()
        img = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
        plt.close(fig)
        yield img
