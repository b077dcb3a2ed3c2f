"""`skelforge calibrate` (3D -> 2D projection coefficients) and `skelforge crop` (actor-cropped square videos)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from rich.markup import escape

from .cli import app, console


def _error(msg: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {escape(msg)}", soft_wrap=True)
    return typer.Exit(2)


def _pairs_from_npz(path: Path):
    import numpy as np
    if not path.is_file():
        raise _error(f"--pairs {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in ("xyz", "uv") if k not in z.files]
            if missing:
                raise _error(f"--pairs {path} lacks array(s) {', '.join(missing)} (has {', '.join(z.files)})")
            xyz, uv = z["xyz"], z["uv"]
            score = z["score"] if "score" in z.files else None
    except (OSError, ValueError) as e:
        raise _error(f"--pairs {path} is not a readable .npz: {e}")
    return xyz, uv, score


def _pairs_from_build(out: Path, layout: str):
    import numpy as np

    from workers.geometry.projection import pairs_from_clip
    from workers.io.shard_reader import iter_clips
    xyz, uv, score, clips = [], [], [], 0
    try:
        for clip in iter_clips(out, layout):
            if clip["keypoints_3d"] is None:
                continue
            a, b, s = pairs_from_clip(clip["keypoints"], clip["keypoints_3d"])
            xyz.append(a), uv.append(b), score.append(s)
            clips += 1
    except FileNotFoundError as e:
        raise _error(str(e))
    if not clips:
        raise _error(f"{out}/shards/{layout} has no clip with keypoints_3d")
    return np.concatenate(xyz), np.concatenate(uv), np.concatenate(score), clips


@app.command()
def calibrate(out: Optional[Path] = typer.Argument(None, help="a build's --out folder (pairs from its shards)"),
              layout: Optional[str] = typer.Option(None, "--layout", help="the layout whose shards to read"),
              pairs: Optional[Path] = typer.Option(None, "--pairs", help="FILE.npz with xyz (..., 3), uv (..., 2) "
                                                                          "and optional score (...)"),
              dest: Path = typer.Option(..., "--out", help="where calib.json goes")):
    """Fit u = cx·X/Z + bx, v = cy·Y/Z + by (least squares) from paired 3D and 2D skeletons."""
    from workers.geometry.projection import fit_projection
    if (out is None) == (pairs is None):
        raise _error("give either a build folder (OUT --layout L) or --pairs FILE.npz, not both / neither")
    if pairs is not None:
        xyz, uv, score = _pairs_from_npz(pairs)
        source = {"pairs": str(pairs)}
    else:
        if not layout:
            raise _error("--layout is required with a build folder")
        xyz, uv, score, clips = _pairs_from_build(out, layout)
        source = {"build": str(out), "layout": layout, "clips": clips}
    try:
        proj = fit_projection(xyz, uv, score)
    except ValueError as e:
        raise _error(str(e))
    record = {**proj.to_dict(), "model": "u = cx*X/Z + bx, v = cy*Y/Z + by", "source": source}
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(record, indent=1))
    print(f"cx={proj.cx:.4f} cy={proj.cy:.4f} bx={proj.bx:.4f} by={proj.by:.4f}  "
          f"rms={proj.rms_px:.3f} px over {proj.n} points")
    console.print(f"wrote {dest}")


@app.command()
def crop(out: Path = typer.Argument(..., help="a build's --out folder"),
         dest: Path = typer.Option(..., "--dest", help="folder for <clip_id>.mp4 and crops.json"),
         layout: str = typer.Option("ntu-x-118", "--layout", help="layout whose skeletons define the crop"),
         size: int = typer.Option(256, "--size", help="output frames are size x size"),
         margin: float = typer.Option(0.1, "--margin", min=0.0, help="margin on each side, fraction of the box")):
    """Write each kept clip's video at 30 FPS, cropped to its actors (+ margin) and resized to size x size."""
    from workers.io.crop import crop_build

    def progress(cid: str, e: dict) -> None:
        if e["status"] == "ok":
            console.print(f"{cid}: box {tuple(e['box'])}, {e['frames']} frames", soft_wrap=True)
        else:
            console.print(f"[yellow]{cid}: failed[/yellow] {e['reason']}", soft_wrap=True)
    try:
        rec = crop_build(out, layout, dest, size, margin, progress)
    except (FileNotFoundError, ValueError) as e:
        raise _error(str(e))
    console.print(f"cropped {rec['ok']} clips ({rec['failed']} failed) to {dest}; boxes in {dest / 'crops.json'}")
