"""The per-class quality report on a real build: content, plots and thumbnails embedded, rendered by headless
Chromium (screenshot not blank, no console errors), and `skelforge report` regenerating it from the cache."""
import base64
import csv
import io
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


KINETICS = ("arm_wrestling/arm_wrestling_demo.mp4", "clean_and_jerk/clean_and_jerk.mp4",
            "skateboarding/skateboarding.mp4", "tai_chi/ta_chi.mp4")
CARPHONE = "face_closeup/carphone"        # head and shoulders only (../shared/samples/README.md)
BUILD_CFG = {"frames": {"max_frames": 30}, "layouts": ["coco-17"]}


@pytest.fixture(scope="module")
def built(tmp_path_factory, samples):
    root = tmp_path_factory.mktemp("rep")
    videos = stage_videos(root / "v", *[VIDEOS / "kinetics" / k for k in KINETICS],
                          VIDEOS / "misc" / "carphone_face_176x144.mp4", names=[*KINETICS, f"{CARPHONE}.mp4"])
    out = root / "out"
    run_build(videos, out, BUILD_CFG)
    return out


def test_quality_json_and_page(built):
    q = json.loads((built / "report" / "quality.json").read_text())
    names = {c["class"] for c in q["classes"]}
    assert names == {"arm_wrestling", "clean_and_jerk", "skateboarding", "tai_chi", "face_closeup"}
    for c in q["classes"]:
        assert c["kept"] + c["filtered"] + c["failed"] == c["clips"]
        assert set(c["confidence"]) == {"body", "left_hand", "right_hand", "face"}
        if c["kept"]:
            assert c["mean_frames"] == 30 and c["provenance"]
        if c["filtered"]:
            assert c["reasons"]
    assert q["build"]["clips"] == 5 and "pose" in q["build"]["seconds_per_stage"]
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
    for t in kept_worst:                                         # viewer animations of the worst kept clips:
        assert (t["worst"]["start"], t["worst"]["end"]) == (0, 30)                 # 30 frames (< 60 window)
        assert gif_seconds(built / "report" / t["viewer"]) == pytest.approx(30 / 30, abs=0.05)


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


# ---- per-clip QC: the table's values against the manifest and cache they come from

def _manifest(out):
    from pipeline.manifest import read_manifest
    return {r["clip_id"]: r for r in read_manifest(out).to_pylist()}


def test_clip_table_matches_manifest_and_cache(built):
    from pipeline.cache import Store
    from schemas.layouts import source_offset
    q = json.loads((built / "report" / "quality.json").read_text())
    rows, store = _manifest(built), Store(built / ".cache")
    clips = {c["clip_id"]: c for c in q["clips"]}
    assert set(clips) == set(rows)
    composites = [c["composite"] for c in q["clips"] if c["composite"] is not None]
    assert composites == sorted(composites, reverse=True) and composites      # worst first
    for cid, c in clips.items():
        r = rows[cid]
        det = store.load("detect", r["detect_key"]).meta if r.get("detect_key") else {}
        assert c["tracks_detected"] == det.get("n_tracks") and c["actors_expected"] == det.get("expected_persons")
        assert c["actors_kept"] == det.get("n_persons")
        if r.get("refine_key"):
            assert c["actors_kept"] == r["n_persons"]
        assert (c["identity_switches"], c["switch_frames"]) == (r.get("identity_switches"),
                                                               json.loads(r["switch_frames"] or "[]"))
        assert (c["pose_ratio"], c["actors_ratio"], c["confidence"]) == (r.get("pose_ratio"), r.get("actors_ratio"),
                                                                          r.get("confidence"))
        if not r.get("refine_key"):
            assert c["parts"] is None and c["composite"] is None
            continue
        scores = store.load("quality", r["quality_key"]).meta["scores"]
        assert c["part_violation_share"] == scores["part_violation_share"]
        assert c["part_violations"] == {p: v["violations"] for p, v in json.loads(r["quality"]).items()
                                        if "violations" in v}
        pts = store.load("refine", r["refine_key"]).arrays["points"]
        face = pts[:, :, source_offset("face"):source_offset("face") + 68]          # iBUG-68 face
        inside = (face[..., 2] > 0) & (face[..., 0] >= 0) & (face[..., 0] < r["width"]) & (face[..., 1] >= 0) \
            & (face[..., 1] < r["height"])
        assert c["parts"]["face"]["presence"] == pytest.approx((inside.sum(-1) >= 34).mean(), abs=1e-4)
        if inside.any():
            assert c["parts"]["face"]["confidence"] == pytest.approx(face[..., 2][inside].mean(), abs=1e-4)
        for p in c["parts"].values():                          # presence + absence reasons cover every person-frame
            assert p["presence"] + sum(p["absent"].values()) == pytest.approx(1.0, abs=1e-3)
        assert c["jerk"] is None or c["jerk"] > 0
    lines = list(csv.DictReader(io.StringIO((built / "report" / "clips.csv").read_text())))
    assert [l["clip_id"] for l in lines] == [c["clip_id"] for c in q["clips"]]          # every clip, same order
    for l in lines:
        c = clips[l["clip_id"]]
        assert l["composite"] == ("" if c["composite"] is None else str(c["composite"]))
        assert l["tracks_detected"] == ("" if c["tracks_detected"] is None else str(c["tracks_detected"]))
    html = (built / "report" / "index.html").read_text()
    for cls_clips in q["worst"].values():
        for t in cls_clips:                                    # each worst clip's row: id and composite shown
            assert re.search(re.escape(t["clip_id"]) + r"</td>.*?<td[^>]*>" + f"{t['composite']:.2f}</td>", html, re.S)


def test_composite_ranking_on_synthetic_rows():
    """Pure ranking function on constructed rows (synthetic: no clip has these exact measures)."""
    from workers.report.ranking import rank

    def row(cid, actors=1.0, presence=1.0, conf=1.0, suspect=0.0, viol=0.0, jerk=None):
        return {"clip_id": cid, "actors_ratio": actors, "confidence": conf, "identity_suspect": suspect,
                "part_violation_share": viol, "jerk": jerk, "parts": {"a": {"presence": presence}}}
    ranked = rank([row("clean", jerk=1.0), row("switch", suspect=0.5, jerk=2.0), row("absent", presence=0.0, jerk=3.0),
                   row("none"), {"clip_id": "no-skeleton"}])
    by = {r["clip_id"]: r for r in ranked}
    assert [r["clip_id"] for r in ranked] == ["absent", "switch", "clean", "none", "no-skeleton"]
    assert by["absent"]["terms"] == {"missing_actors": 0.0, "absent_parts": 1.0, "low_confidence": 0.0,
                                     "identity": 0.0, "part_violations": 0.0, "jerk": 1.0}
    assert by["absent"]["composite"] == pytest.approx(2 / 6, abs=1e-4)
    assert by["switch"]["terms"]["jerk"] == 0.5 and by["clean"]["terms"]["jerk"] == 0.0   # rank within the build
    assert by["switch"]["composite"] == pytest.approx((0.5 + 0.5) / 6, abs=1e-4)
    assert by["none"]["terms"]["jerk"] is None and by["none"]["composite"] == 0.0        # mean of defined terms
    assert by["no-skeleton"]["composite"] is None


def test_average_ranks_equal_scipys_with_ties_SYNTHETIC():
    """The jerk ranking's numpy ranks against scipy.stats.rankdata("average") on random values with many ties."""
    from scipy.stats import rankdata

    from workers.report.ranking import average_ranks
    rng = np.random.default_rng(3)
    for n in (1, 2, 7, 50):
        x = rng.integers(0, 5, n).astype(float) * rng.choice([1.0, 0.37])
        assert np.array_equal(average_ranks(x), rankdata(x, method="average"))


def test_absent_part_reasons_on_the_real_face_closeup(built):
    """carphone: head and shoulders in a 176x144 frame — its legs are never in the image, and the body model's
    guesses for them lie below it: out of frame; the face is there."""
    q = json.loads((built / "report" / "quality.json").read_text())
    c = next(c for c in q["clips"] if c["clip_id"] == CARPHONE)
    assert c["parts"]["legs"]["presence"] == 0.0 and c["parts"]["legs"]["absent"] == {"out_of_frame": 1.0}
    assert c["parts"]["face"]["presence"] > 0.9
    html = (built / "report" / "index.html").read_text()
    assert "legs: out of frame 100%" in html


def test_absence_rules_on_synthetic_skeletons():
    """Synthetic one-person skeletons (constructed: back view, tiny person) for the rules the samples cannot pin."""
    from schemas.layouts.mediapipe import B
    from workers.report.clipqc import measure

    def person(scale, flip):
        p = np.zeros((1, 4, 145, 3))
        body = {"nose": (0, -1.6), "left_eye": (0.1, -1.7), "right_eye": (-0.1, -1.7), "left_ear": (0.2, -1.6),
                "right_ear": (-0.2, -1.6), "left_shoulder": (0.5, -1), "right_shoulder": (-0.5, -1),
                "left_elbow": (0.6, -0.5), "right_elbow": (-0.6, -0.5), "left_wrist": (0.6, 0),
                "right_wrist": (-0.6, 0), "left_hip": (0.3, 0), "right_hip": (-0.3, 0), "left_knee": (0.3, 0.8),
                "right_knee": (-0.3, 0.8), "left_ankle": (0.3, 1.6), "right_ankle": (-0.3, 1.6)}
        for n, (x, y) in body.items():
            p[:, :, B[n]] = (200 + flip * x * scale, 200 + y * scale, 0.9)
        return p
    front = measure(person(100, +1), 400, 400, 1, [[]])            # left shoulder on the image's right: facing us
    back = measure(person(100, -1), 400, 400, 1, [[]])             # mirrored: facing away
    tiny = measure(person(5, +1), 400, 400, 1, [[]])               # a forearm of 2.5 px: hands under 8 px
    assert front["parts"]["face"]["absent"] == {"not_detected": 1.0}
    assert back["parts"]["face"]["absent"] == {"back_view": 1.0}
    assert tiny["parts"]["left_hand"]["absent"] == {"too_small": 1.0}
    assert front["parts"]["left_hand"]["absent"] == {"not_detected": 1.0}


def test_viewer_gif_shows_the_window_around_the_worst_frame(built, tmp_path, monkeypatch):
    """With a 10-frame window, each worst kept clip's animation is those 10 frames and holds the worst frame,
    which is where the per-frame badness (recomputed from the cache) peaks."""
    import pipeline.report
    from pipeline.cache import Store
    from workers.report.clipqc import measure
    copy = tmp_path / "out"
    shutil.copytree(built, copy)
    monkeypatch.setattr(pipeline.report, "VIEWER_FRAMES", 10)
    assert CliRunner().invoke(app, ["report", str(copy)]).exit_code == 0
    q = json.loads((copy / "report" / "quality.json").read_text())
    rows, store = _manifest(copy), Store(copy / ".cache")
    kept = [t for ts in q["worst"].values() for t in ts if t["viewer"]]
    assert kept
    for t in kept:
        w, r = t["worst"], rows[t["clip_id"]]
        assert w["end"] - w["start"] == 10 and w["start"] <= w["frame"] < w["end"]
        det = store.load("detect", r["detect_key"]).meta
        ref = store.load("refine", r["refine_key"]).arrays
        m = measure(ref["points"], r["width"], r["height"], det["expected_persons"], det["switch_frames"],
                    ref.get("part_violations"))
        assert w["frame"] == int(np.argmax(m["badness"])) and w["badness"] == pytest.approx(m["badness"].max(), 1e-3)
        assert gif_seconds(copy / "report" / t["viewer"]) == pytest.approx(10 / 30, abs=0.05)
    html = (copy / "report" / "index.html").read_text()
    assert all(f"animation: frames {t['worst']['start']}–{t['worst']['end'] - 1}" in html for t in kept)


def test_report_time_in_the_stage_table(built):
    q = json.loads((built / "report" / "quality.json").read_text())
    assert q["build"]["seconds_per_stage"]["report"] > 0
    assert re.search(r'<td class="l">report</td><td>[0-9.]+</td>', (built / "report" / "index.html").read_text())


def test_only_filter_reapplies_changed_thresholds_from_cache(built, tmp_path):
    """`--only filter` with a new threshold: the rule is re-applied to the cached quality scores; nothing before
    filter computes (pose, refine and quality are cache loads)."""
    videos = built.parent / "v"
    before = _manifest(built)
    dest = tmp_path / "again"
    r = run_build(videos, dest, {**BUILD_CFG, "cache": {"dir": str(built / ".cache")},
                                 "filter": {"min_confidence": 0.99}}, only="filter")
    assert r["plan"]["filter"] == "fresh" and r["plan"]["pose"] == "load"
    assert not any(r["computed"][s] for s in ("probe", "frames", "detect", "pose", "refine", "fit3d", "quality"))
    scored = [c for c, row in before.items() if row.get("confidence") is not None]
    assert r["computed"]["filter"] == len(scored) > 0
    after = _manifest(dest)
    kept = [c for c in scored if before[c]["status"] == "ok"]
    assert kept
    for c in kept:                                     # every kept clip's cached confidence is below 0.99
        assert (after[c]["status"], after[c]["filter_rule"]) == ("filtered", "min_confidence")
        assert after[c]["filter_value"] == round(before[c]["confidence"], 4)
    for c in set(scored) - set(kept):                  # an earlier rule still names the others
        assert after[c]["filter_rule"] == before[c]["filter_rule"]


def test_part_violations_enter_the_worst_moment_synthetic_mask():
    """Refine's per-frame violation mask (constructed here) raises badness exactly at its frames."""
    from workers.report.clipqc import QC_PARTS, frame_terms
    M, T = 2, 10
    present = {p: np.ones((M, T), bool) for p in QC_PARTS}
    posed = np.ones((M, T), bool)
    viol = np.zeros((M, T, 3), bool)
    viol[1, 6, 0] = viol[1, 6, 2] = True                       # person 1, frame 6: left hand and face off the body
    terms = frame_terms(present, posed, 2, [[], []], viol)
    assert terms["part_violations"][6] == pytest.approx(2 / 6) and terms["part_violations"].sum() == pytest.approx(2 / 6)
    bad = np.mean(list(terms.values()), axis=0)
    assert int(np.argmax(bad)) == 6
    assert not frame_terms(present, posed, 2, [[], []])["part_violations"].any()
