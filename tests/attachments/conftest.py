import hashlib
import io
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from tests.factories import UserFactory

# The EICAR anti-virus test file: harmless, and detected by every scanner by design.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_SIGNATURE = "Stageflow.Test.EICAR"
# What clamd reports: it marks signatures from a database nobody signed as unofficial.
EICAR_FOUND = f"{EICAR_SIGNATURE}.UNOFFICIAL"


def png_bytes(width=640, height=480, colour=(30, 120, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def pdf_bytes(text="Stageflow contract") -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=A4)
    page.setFont("Helvetica", 28)
    page.drawString(72, 700, text)
    page.rect(72, 300, 400, 300, fill=1)
    page.showPage()
    page.save()
    return out.getvalue()


def uploaded(name: str, data: bytes, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def read_response(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.fixture
def teammate(team):
    return UserFactory(username="tom", role="rep", team=team)


@pytest.fixture
def outsider(db):
    from tests.factories import TeamFactory

    return UserFactory(username="olga", role="rep", team=TeamFactory(name="South"))


@pytest.fixture
def storage_folder(_attachment_storage):
    return Path(_attachment_storage)


@pytest.fixture(scope="session")
def clamd_socket(tmp_path_factory):
    """A real ClamAV daemon (Debian's clamav-daemon) with a signature database of its own: one
    .hdb line with the EICAR file's MD5 and size (these machines cannot download signatures)."""
    clamd = shutil.which("clamd") or ("/usr/sbin/clamd" if os.path.exists("/usr/sbin/clamd") else None)
    if clamd is None:
        pytest.skip("clamd is not installed (Debian's clamav-daemon; .ci/run installs it)")
    folder = Path(tempfile.mkdtemp(prefix="stageflow-clamd-"))  # short: a Unix socket path has a length limit
    database = folder / "db"
    database.mkdir()
    (database / "stageflow.hdb").write_text(f"{hashlib.md5(EICAR).hexdigest()}:{len(EICAR)}:{EICAR_SIGNATURE}\n")
    socket_path = folder / "clamd.sock"
    config = folder / "clamd.conf"
    config.write_text(
        f"LocalSocket {socket_path}\nDatabaseDirectory {database}\nForeground yes\nLogFile {folder / 'clamd.log'}\n"
        f"PidFile {folder / 'clamd.pid'}\nTemporaryDirectory {folder}\nStreamMaxLength 50M\n"
    )
    if os.geteuid() == 0:
        config.write_text(config.read_text() + "User root\n")
    process = subprocess.Popen([clamd, "--config-file", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    from attachments import scanning

    deadline = time.monotonic() + 60
    while not scanning.ping(str(socket_path), timeout=1):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            log = (folder / "clamd.log").read_text() if (folder / "clamd.log").exists() else ""
            raise RuntimeError(f"clamd did not start: {process.stderr.read().decode(errors='replace')} {log}")
        time.sleep(0.2)
    yield str(socket_path)
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    shutil.rmtree(folder, ignore_errors=True)
