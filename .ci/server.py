"""Runs the real `confab` binary for the checks in .ci/: a free port, a throwaway data directory."""

import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.environ.get("CONFAB_BIN", os.path.join(ROOT, "target", "debug", "confab"))


class Server:
    """`confab serve` on 127.0.0.1, stopped with SIGTERM on exit."""

    def __enter__(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        self.dir = tempfile.TemporaryDirectory(prefix="confab-ci-")
        self.proc = subprocess.Popen(
            [BINARY, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", self.dir.name,
             "--drain-window", "1s"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if self.get("/healthz")[0] == 200:
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{BINARY} did not answer /healthz in 30 s")

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.dir.cleanup()

    def get(self, path, headers=None):
        """(status, content type, body text) of GET `path`."""
        request = urllib.request.Request(self.base + path, headers=headers or {})
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.headers.get("content-type"), r.read().decode()

    def post(self, path, body, token=None):
        """The JSON answer of POST `path` with a JSON `body`."""
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        request = urllib.request.Request(
            self.base + path, data=json.dumps(body).encode(), headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=10) as r:
            return json.loads(r.read() or b"null")
