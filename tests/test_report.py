"""The per-class quality report on a real build: content, plots and thumbnails embedded, rendered by headless
Chromium (screenshot not blank, no console errors), and `skelforge report` regenerating it from the cache."""
import base64
import csv
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from urllib.parse import unquote

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

import dagfile
from pipeline.cli import app, set_dag
from tests.conftest import VIDEOS, run_build, stage_videos

set_dag(dagfile.DAG)


def gif_seconds(path) -> float:
    """Total duration (Pillow merges identical consecutive frames into one longer frame)."""
    from PIL import Image, ImageSequence
    return sum(f.info["duration"] for f in ImageSequence.Iterator(Image.open(path))) / 1000
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture(scope="module")
def built(tmp_path_factory, samples):
    out = tmp_path_factory.mktemp("rep") / "out"
    run_build(VIDEOS / "kinetics", out, {"frames": {"max_frames": 30}, "layouts": ["coco-17"]})
    return out


def test_quality_json_and_page(built):
    q = json.loads((built / "report" / "quality.json").read_text())
    names = {c["class"] for c in q["classes"]}
    assert names == {"arm_wrestling", "clean_and_jerk", "skateboarding", "tai_chi"}
    for c in q["classes"]:
        assert c["kept"] + c["filtered"] + c["failed"] == c["clips"]
        assert set(c["confidence"]) == {"body", "left_hand", "right_hand", "face"}
        if c["kept"]:
            assert c["mean_frames"] == 30 and c["provenance"]
        if c["filtered"]:
            assert c["reasons"]
    assert q["build"]["clips"] == 4 and "pose" in q["build"]["seconds_per_stage"]
    html = (built / "report" / "index.html").read_text()
    images = re.findall(r'src="data:image/(png|jpeg);base64,([^"]+)"', html)
    assert len(images) >= 2 + 3                                  # two plots + thumbnails
    for _, b64 in images:
        img = cv2.imdecode(np.frombuffer(base64.b64decode(b64), np.uint8), cv2.IMREAD_COLOR)
        assert img is not None and img.std() > 5                # decodes, not blank
    assert "http" not in html.replace("http-equiv", "")          # self-contained: nothing fetched
    links = re.findall(r'<a href="(clips/[^"]+\.gif)">', html)
    kept_worst = [t for ts in q["worst"].values() for t in ts if t["status"] == "ok"]
    assert len(links) == len(kept_worst) > 0
    for rel in links:                                            # viewer animations of the worst kept clips
        assert gif_seconds(built / "report" / rel) == pytest.approx(30 / 30, abs=0.05)   # 30 frames (< 60 cap)


def test_renders_in_headless_chromium(built, tmp_path):
    assert CHROMIUM, "chromium is needed (make test installs it: apt-get install chromium)"
    shot = tmp_path / "shot.png"
    r = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
                        "--window-size=1300,1800", f"--screenshot={shot}",
                        (built / "report" / "index.html").as_uri()], capture_output=True, text=True, timeout=120)
    assert shot.exists(), r.stderr[-2000:]
    img = cv2.imread(str(shot))
    assert img is not None and img.shape[0] >= 1000 and img.std() > 20
    console = [l for l in r.stderr.splitlines() if "CONSOLE" in l or "Uncaught" in l or "Failed to load" in l]
    assert not console, console


def test_report_command_regenerates_without_recomputing(built):
    page = built / "report" / "index.html"
    page.unlink()
    before = {p: p.stat().st_mtime_ns for p in (built / ".cache").rglob("*.npz")}
    r = CliRunner().invoke(app, ["report", str(built)])
    assert r.exit_code == 0, r.output
    assert page.exists()
    assert {p: p.stat().st_mtime_ns for p in (built / ".cache").rglob("*.npz")} == before
    assert CliRunner().invoke(app, ["report", str(built / "nope")]).exit_code == 2


def test_provenance_shares_sum_to_one_per_part():
    from workers.report.summary import provenance_means
    m = provenance_means([{"face": {"holistic": 1.0}}, {"face": {"holistic": 0.4, "interpolated": 0.6}},
                          {"body": {"pose": 1.0}}])
    assert m == {"body/pose": 1.0, "face/holistic": 0.7, "face/interpolated": 0.3}


# ---- untrusted names on the page: a class / clip id made of HTML must show as text and run nothing

XSS_LABELS = ("<img src=x onerror=\"document.title='xss-label'\">",
              "</script><script>document.title='xss-script'</script>")
XSS_ID = "q\"><img src=y onerror=\"document.title='xss-id'\">"


def dump_dom(page, tmp_path) -> str:
    """The page's DOM after headless Chromium loaded it and ran whatever it would run (3 s of virtual time)."""
    assert CHROMIUM, "chromium is needed (make test installs it: apt-get install chromium)"
    r = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=3000", "--dump-dom",
                        page.as_uri()], capture_output=True, text=True, timeout=120)
    assert "<html" in r.stdout, r.stderr[-2000:]
    return r.stdout


class DomFacts(HTMLParser):
    """What a dumped DOM holds: its title, script elements, event-handler attributes, and its text."""

    def __init__(self, dom: str):
        super().__init__()
        self.title, self.scripts, self.handlers, self.text, self._in_title = "", 0, [], [], False
        self.feed(dom)

    def handle_starttag(self, tag, attrs):
        self.scripts += tag == "script"
        self.handlers += [(tag, k) for k, _ in attrs if k.startswith("on")]
        self._in_title = tag == "title"

    def handle_endtag(self, tag):
        self._in_title = False

    def handle_data(self, data):
        self.text.append(data)
        if self._in_title:
            self.title += data


def test_xss_names_show_as_text_and_run_nothing_in_chromium(tmp_path, samples):
    videos = tmp_path / "v"
    names = [f"{XSS_ID}_000000_000010.mp4", "plain_000000_000010.mp4"]
    stage_videos(videos, VIDEOS / "misc" / "mpeg4_25fps_320x240.avi", VIDEOS / "misc" / "mpeg4_25fps_320x240.avi",
                 names=names)
    with open(tmp_path / "k.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([("label", "youtube_id", "time_start", "time_end", "split"),
                                  (XSS_LABELS[0], XSS_ID, 0, 10, "train"), (XSS_LABELS[1], "plain", 0, 10, "train")])
    out = tmp_path / "out"
    rec = run_build(videos, out, {"dataset": {"csv": str(tmp_path / "k.csv")}, "frames": {"max_frames": 20},
                                  "layouts": ["coco-17"]})
    assert rec["adapter"] == "kinetics" and rec["counts"]["ok"] == 2
    dom = DomFacts(dump_dom(out / "report" / "index.html", tmp_path))
    assert dom.title == "skelforge report — out", dom.title                # no payload set the title
    assert dom.scripts == 0 and dom.handlers == [], (dom.scripts, dom.handlers)
    text = "".join(dom.text)
    for s in (*XSS_LABELS, f"{XSS_ID}_000000_000010"):                      # each name shows as text
        assert s in text, s
    link = re.search(r'<a href="(clips/[^"]+\.gif)">', (out / "report" / "index.html").read_text()).group(1)
    assert (out / "report" / unquote(link)).is_file()                      # the URL-quoted link still resolves

    # the check can fail: the same payload unescaped does run in this browser
    raw = tmp_path / "raw.html"
    raw.write_text(f"<!doctype html><html><head><title>plain</title></head><body>{XSS_LABELS[0]}</body></html>")
    assert DomFacts(dump_dom(raw, tmp_path)).title == "xss-label"
