"""Remote photos (issue 10): refused unless allowed; when allowed, fetched with a timeout and a
size cap, every failure a one-line ``ImageLoadError``. Served from loopback."""

import io
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

import listingsmith.core.io
from listingsmith.batch_input import read_products
from listingsmith.core.errors import ImageLoadError
from listingsmith.core.io import load_image


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (120, 90), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        if self.path == "/slow.png":
            time.sleep(2)
        if self.path in ("/photo.png", "/slow.png"):
            body = _png()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_error(404, "Not Found")

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_remote_photo_is_refused_unless_allowed(server):
    with pytest.raises(ImageLoadError, match="web address; remote photos are fetched only with "
                                             "--allow-remote"):
        load_image(f"{server}/photo.png")


def test_allowed_remote_photo_loads_and_keeps_its_address(server):
    photo = load_image(f"{server}/photo.png", allow_remote=True)
    assert photo.size == (120, 90) and photo.info.source == f"{server}/photo.png"


def test_remote_failures_are_one_line_errors(server, monkeypatch):
    with pytest.raises(ImageLoadError, match=r"could not be fetched \(Not Found\)"):
        load_image(f"{server}/missing.png", allow_remote=True)
    with pytest.raises(ImageLoadError, match="over the limit of 0 MB"):
        load_image(f"{server}/photo.png", allow_remote=True, max_bytes=100)
    monkeypatch.setattr(listingsmith.core.io, "REMOTE_TIMEOUT_S", 0.3)
    with pytest.raises(ImageLoadError, match="could not be fetched .*timed out"):
        load_image(f"{server}/slow.png", allow_remote=True)
    with pytest.raises(ImageLoadError, match="only http:// and https://"):
        load_image("file:///etc/passwd", allow_remote=True)


def test_batch_rows_with_addresses_need_the_flag(tmp_path, server):
    catalogue = tmp_path / "products.csv"
    catalogue.write_text(f"id,image\nremote,{server}/photo.png\n", encoding="utf-8")
    (refused,) = read_products(catalogue)
    assert "fetched only with --allow-remote" in refused.error
    (allowed,) = read_products(catalogue, allow_remote=True)
    assert allowed.error is None and allowed.photo_files() == [f"{server}/photo.png"]
