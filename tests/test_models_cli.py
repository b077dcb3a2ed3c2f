"""`skelforge models list|download` and the load-time weights check, against a loopback HTTP server (127.0.0.1,
in a thread) serving files the tests make — never the internet. The served models are tiny ONNX files built
here (tests/onnx_models.py; synthetic, since real weights cannot be fetched in tests), with registry entries
injected for the test; the real registry is checked for consistency and its real pins drive the load check."""
from __future__ import annotations

import hashlib
import io
import re
import socket
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

import dagfile
from pipeline.cli import app, set_dag
from schemas.weights import WEIGHTS, WeightsEntry
from tests.onnx_models import simcc_model

set_dag(dagfile.DAG)
runner = CliRunner()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def server():
    """Serves `files` ({url path: bytes}) on 127.0.0.1; `hits` counts requests per path."""
    files, hits = {}, {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits[self.path] = hits.get(self.path, 0) + 1
            body = files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield {"files": files, "hits": hits, "base": f"http://127.0.0.1:{httpd.server_address[1]}"}
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def onnx_bytes(tmp_path):
    return simcc_model(tmp_path / "made.onnx", k=17, w=8, h=8).read_bytes()


def _entry(monkeypatch, url: str, file: str = "tiny-rtmpose.onnx", **kw) -> WeightsEntry:
    e = WeightsEntry(name="tiny", description="tiny synthetic SimCC model", url=url, file=file, kind="onnx",
                     config_keys=("expert_settings.rtmpose.onnx",), sha256_source="made in this test",
                     settings={"expert_settings.rtmpose.input_size": [8, 8]}, **{"sha256": None, **kw})
    monkeypatch.setitem(WEIGHTS, "tiny", e)
    return e


def _download(dest, *extra):
    return runner.invoke(app, ["models", "download", "tiny", "--dir", str(dest), "--timeout", "10", *extra])


def _leftovers(dest, keep: str) -> list[str]:
    return sorted(p.name for p in dest.iterdir() if p.name != keep) if dest.exists() else []


def test_download_verifies_a_pinned_file_and_stores_it_atomically(server, onnx_bytes, tmp_path, monkeypatch):
    server["files"]["/m.onnx"] = onnx_bytes
    e = _entry(monkeypatch, server["base"] + "/m.onnx", sha256=_sha(onnx_bytes))
    dest = tmp_path / "w"
    r = _download(dest)
    assert r.exit_code == 0, r.output
    assert (dest / e.file).read_bytes() == onnx_bytes
    assert f"sha256 {_sha(onnx_bytes)}" in r.output and "verified: equals the published sha256" in r.output
    assert "onnxruntime session" in r.output                               # it was loaded, not just hashed
    assert f"expert_settings.rtmpose.onnx: {dest / e.file}" in r.output
    assert _leftovers(dest, e.file) == []                                  # no temporary files
    r = _download(dest)                                                    # in place and verified: not fetched
    assert r.exit_code == 0 and "already in place" in r.output and server["hits"]["/m.onnx"] == 1


def test_tampered_download_is_refused_and_nothing_is_left(server, onnx_bytes, tmp_path, monkeypatch):
    tampered = bytearray(onnx_bytes)
    tampered[-20] ^= 0xFF                                                  # one byte of the weights changed
    server["files"]["/m.onnx"] = bytes(tampered)
    e = _entry(monkeypatch, server["base"] + "/m.onnx", sha256=_sha(onnx_bytes))
    dest = tmp_path / "w"
    r = _download(dest)
    assert r.exit_code == 2
    assert f"sha256 is {_sha(bytes(tampered))}" in r.output and "refused" in r.output
    assert not (dest / e.file).exists() and _leftovers(dest, e.file) == []


def test_a_good_file_in_place_survives_a_tampered_redownload(server, onnx_bytes, tmp_path, monkeypatch):
    """An unpinned entry is always re-fetched; a fetched file that does not load must not replace the one there."""
    dest = tmp_path / "w"
    dest.mkdir()
    e = _entry(monkeypatch, server["base"] + "/m.onnx")
    (dest / e.file).write_bytes(onnx_bytes)
    server["files"]["/m.onnx"] = onnx_bytes[: len(onnx_bytes) // 2]       # truncated: does not load
    r = _download(dest)
    assert r.exit_code == 2 and "does not load in onnxruntime" in r.output
    assert (dest / e.file).read_bytes() == onnx_bytes and _leftovers(dest, e.file) == []


def test_zip_member_is_extracted_and_its_hash_checked(server, onnx_bytes, tmp_path, monkeypatch):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:                                   # the layout of OpenMMLab's onnx_sdk zips
        z.writestr("rtmpose-tiny/end2end.onnx", onnx_bytes)
        z.writestr("rtmpose-tiny/deploy.json", "{}")
        z.writestr("rtmpose-tiny/pipeline.json", "{}")
    server["files"]["/m.zip"] = buf.getvalue()
    e = _entry(monkeypatch, server["base"] + "/m.zip", sha256=_sha(onnx_bytes), archive_member="end2end.onnx")
    dest = tmp_path / "w"
    r = _download(dest)
    assert r.exit_code == 0, r.output
    assert (dest / e.file).read_bytes() == onnx_bytes and _leftovers(dest, e.file) == []   # no zip left either
    _entry(monkeypatch, server["base"] + "/m.zip", sha256=_sha(buf.getvalue()), archive_member="end2end.onnx")
    (dest / e.file).unlink()
    r = _download(dest)                                      # a hash of the zip is not the stored file's hash
    assert r.exit_code == 2 and not (dest / e.file).exists()


def test_unpinned_download_prints_its_hash_and_is_not_verified(server, onnx_bytes, tmp_path, monkeypatch):
    server["files"]["/m.onnx"] = onnx_bytes
    e = _entry(monkeypatch, server["base"] + "/m.onnx")
    dest = tmp_path / "w"
    r = _download(dest)
    assert r.exit_code == 0, r.output
    assert f"sha256 {_sha(onnx_bytes)}" in r.output and "NOT verified" in r.output
    assert "verified: equals" not in r.output and (dest / e.file).exists()
    server["files"]["/m.onnx"] = b"<html>not a model</html>"               # e.g. a captive portal page
    (dest / e.file).unlink()
    r = _download(dest)
    assert r.exit_code == 2 and not (dest / e.file).exists() and _leftovers(dest, e.file) == []


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_offline_says_which_url_hash_and_path(onnx_bytes, tmp_path, monkeypatch):
    url = f"http://127.0.0.1:{_closed_port()}/rtm.zip"
    e = _entry(monkeypatch, url, sha256=_sha(onnx_bytes), archive_member="end2end.onnx")
    dest = tmp_path / "w"
    for extra in ((), ("--offline",)):
        r = _download(dest, *extra)
        assert r.exit_code == 2
        out = " ".join(r.output.split())
        assert f"url: {url}" in out and f"sha256: {e.sha256}" in out and "extract its end2end.onnx" in out
        assert f"put it at: {dest / e.file}" in out
        assert f"expert_settings.rtmpose.onnx: {dest / e.file}" in out
    assert _leftovers(dest, e.file) == [] and not (dest / e.file).exists()
    dest.mkdir(exist_ok=True)
    (dest / e.file).write_bytes(onnx_bytes)                                # fetched by hand, put where it said
    r = _download(dest, "--offline")
    assert r.exit_code == 0 and "verified: equals the published sha256" in r.output


def test_models_list_says_pinned_or_not_and_what_is_in_place(onnx_bytes, tmp_path, monkeypatch):
    e = _entry(monkeypatch, "http://127.0.0.1:9/unused", sha256=_sha(onnx_bytes))
    (tmp_path / e.file).write_bytes(onnx_bytes)
    r = runner.invoke(app, ["models", "list", "--dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    rows = {line.split("│")[1].strip(): line for line in r.output.splitlines() if line.count("│") > 5}
    for name, entry in WEIGHTS.items():
        assert name in rows
        assert ("not pinned" if not entry.pinned else "pinned") in rows[name]
    assert "verified" in rows["tiny"] and "missing" in rows["rtmw-l"]
    (tmp_path / e.file).write_bytes(onnx_bytes + b"\0")
    r = runner.invoke(app, ["models", "list", "--dir", str(tmp_path)])
    assert "sha256 differs" in r.output
    assert runner.invoke(app, ["models", "download", "no-such-model"]).exit_code == 2


def test_registry_entries_are_consistent():
    """Hashes are sha256 hex with a source; file names are unique (the load check matches by name); every
    config key and setting names a real config field."""
    from schemas.config import BuildConfig
    from schemas.experts import EXPERT_SETTINGS
    assert len({e.file for e in WEIGHTS.values()}) == len(WEIGHTS)
    for e in WEIGHTS.values():
        assert e.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", e.sha256), e.name
        assert e.sha256_source and (e.sha256 is None or e.sha256_source.count("https://") == 1), e.name
        assert e.url.startswith("https://") and e.file.endswith("." + e.kind)
        for key in (*e.config_keys, *e.settings):
            section, *rest = key.split(".")
            if section == "expert_settings":
                assert rest[1] in EXPERT_SETTINGS[rest[0]].model_fields, key
            else:
                assert rest[0] in type(getattr(BuildConfig(), section)).model_fields, key
    assert sum(e.pinned for e in WEIGHTS.values()) >= 3                    # DWPose-l, YOLO11n/m-pose


def test_load_check_refuses_a_registry_named_file_with_another_hash(onnx_bytes, tmp_path, monkeypatch):
    from workers import models
    from workers.detect.yolox import YoloxDetector
    from workers.experts.rtm import RTMPoseExpert
    from workers.experts.yolo_pose import YoloPoseExpert, load_yolo
    from workers.io.weights_check import WrongWeights
    e = _entry(monkeypatch, "http://127.0.0.1:9/unused", sha256=_sha(onnx_bytes))
    good = tmp_path / "good" / e.file
    good.parent.mkdir()
    good.write_bytes(onnx_bytes)
    RTMPoseExpert(onnx=str(good), input_size=[8, 8]).check()              # right hash: accepted
    bad = tmp_path / "bad" / e.file
    bad.parent.mkdir()
    bad.write_bytes(onnx_bytes + b"\0")
    with pytest.raises(WrongWeights, match="registry model 'tiny'.*models download tiny"):
        RTMPoseExpert(onnx=str(bad), input_size=[8, 8]).check()
    with pytest.raises(WrongWeights):
        YoloxDetector(str(bad))
    with pytest.raises(FileNotFoundError, match="registry model 'tiny'"):  # the build's pre-compute check: exit 2
        models.detector_hash("yolox", str(bad))
    other = tmp_path / "mine.onnx"                                         # a user's own export: not checked
    other.write_bytes(onnx_bytes + b"\0")
    RTMPoseExpert(onnx=str(other), input_size=[8, 8]).check()
    # the real registry's pins: a file named like Ultralytics' yolo11n-pose.pt with other bytes is refused
    fake = tmp_path / "yolo11n-pose.pt"
    fake.write_bytes(b"not the published checkpoint")
    with pytest.raises(WrongWeights, match=WEIGHTS["yolo11n-pose"].sha256):
        YoloPoseExpert(weights=str(fake)).check()
    with pytest.raises(WrongWeights):
        load_yolo(str(fake))


def test_gpu_cluster_config_loads_and_points_where_download_puts_the_files():
    from pathlib import Path

    from pipeline.cli_models import DEFAULT_DIR
    from schemas.config import load_config
    from workers.io.download import target_path
    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "gpu-cluster.yaml")
    assert cfg.detect.detector == "yolox" and cfg.detect.device == "cuda"
    assert cfg.detect.weights == target_path(WEIGHTS["yolox-m-person"], DEFAULT_DIR)
    rtmw = cfg.expert_settings["rtmw"]
    assert Path(rtmw["onnx"]) == target_path(WEIGHTS["rtmw-l"], DEFAULT_DIR) and rtmw["device"] == "cuda"
    assert list(rtmw["input_size"]) == WEIGHTS["rtmw-l"].settings["expert_settings.rtmw.input_size"]
    assert cfg.cluster.gpus == 1 and cfg.cache.dir is not None      # a SLURM build needs the shared cache
