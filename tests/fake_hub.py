"""A tiny stand-in for the Hugging Face Hub on 127.0.0.1, for the download tests.

It answers the requests huggingface_hub 2.4.0 makes, with the headers it checks:

    GET  /api/models/{org}/{name}[/revision/{rev}]?blobs=true   model_info: sha, siblings with sizes,
                                                                gated, safetensors parameter counts
    HEAD /{org}/{name}/resolve/{rev}/{file}                     X-Repo-Commit, ETag (git blob id) or,
                                                                for weights, X-Linked-Etag (sha256) and
                                                                X-Linked-Size; Content-Length
    GET  same                                                   the bytes; "Range: bytes=N-" gets a 206

and the errors of the real Hub: 404 with X-Error-Code RepoNotFound / RevisionNotFound /
EntryNotFound, and 401 (no token) or 403 (a token without access) with X-Error-Code GatedRepo.

A test can cut one file's first download half-way (`cut`), and say what happens to the
client's attempt to resume: it is served (`after_cut="serve"`) or the network stays down
(`after_cut="down"`, a 503) until the test calls `restore()`. Every request is logged.
"""
from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".pkl")   # stored in Git LFS on the real Hub


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def commit_id(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


@dataclass
class FakeRepo:
    commits: dict[str, dict[str, bytes]]                       # commit (40 hex) -> file name -> bytes
    refs: dict[str, str]                                       # branch or tag -> commit
    gated: bool = False
    tokens: tuple[str, ...] = ()                               # tokens whose account accepted the gate
    parameters: dict[str, int] | None = None                   # the Hub's safetensors metadata, if any

    def commit_of(self, revision: str) -> str | None:
        return self.refs.get(revision) or (revision if revision in self.commits else None)


class FakeHub:
    def __init__(self):
        self.repos: dict[str, FakeRepo] = {}
        self.log: list[tuple[str, str]] = []     # (method, path) of every request
        self.ranges: list[tuple[str, int]] = []  # (file, first byte) of every GET that resumed
        self.cut: str | None = None              # file name whose next full GET stops half-way
        self.after_cut = "serve"                 # "serve" the resumed request, or "down" (503)
        self.down = False
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, repo_id: str, files: dict[str, bytes], **kwargs) -> FakeRepo:
        """A repo whose main branch holds these files."""
        commit = commit_id(repo_id + "@main")
        self.repos[repo_id] = FakeRepo({commit: files}, {"main": commit}, **kwargs)
        return self.repos[repo_id]

    def add_revision(self, repo_id: str, name: str, files: dict[str, bytes]) -> str:
        """Another branch or tag (a training checkpoint, say) with its own commit; returns the commit."""
        commit = commit_id(f"{repo_id}@{name}")
        self.repos[repo_id].commits[commit] = files
        self.repos[repo_id].refs[name] = commit
        return commit

    def restore(self) -> None:
        self.down, self.cut = False, None

    def gets(self, filename: str) -> int:
        """How many GET requests asked for this file (any repo, any revision)."""
        return sum(1 for method, path in self.log if method == "GET" and path.endswith("/" + filename))

    def __enter__(self) -> "FakeHub":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def _handler(hub: FakeHub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"      # one request per connection: a cut is a closed socket

        def log_message(self, *args) -> None:   # quiet: the test log is hub.log
            pass

        def do_HEAD(self) -> None:
            self.answer(head=True)

        def do_GET(self) -> None:
            self.answer(head=False)

        # -- routing ---------------------------------------------------------------------
        def answer(self, head: bool) -> None:
            path = unquote(urlsplit(self.path).path)
            with hub._lock:
                hub.log.append((self.command, path))
            if hub.down:
                return self.error(503, None, "the network is down")
            parts = path.strip("/").split("/")
            if parts[:2] == ["api", "models"] and len(parts) >= 4:
                revision = parts[5] if len(parts) >= 6 and parts[4] == "revision" else "main"
                return self.model_info("/".join(parts[2:4]), revision)
            if len(parts) >= 5 and parts[2] == "resolve":
                return self.resolve("/".join(parts[:2]), parts[3], "/".join(parts[4:]), head)
            self.error(404, None, "no such page")

        def error(self, status: int, code: str | None, message: str) -> None:
            body = json.dumps({"error": message}).encode()
            self.send_response(status)
            if code:
                self.send_header("X-Error-Code", code)
            self.send_header("X-Error-Message", message)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def find(self, repo_id: str, revision: str):
            repo = hub.repos.get(repo_id)
            if repo is None:
                self.error(404, "RepoNotFound", "Repository not found")
                return None, None
            commit = repo.commit_of(revision)
            if commit is None:
                self.error(404, "RevisionNotFound", "Invalid rev id: " + revision)
                return None, None
            return repo, commit

        # -- /api/models -----------------------------------------------------------------
        def model_info(self, repo_id: str, revision: str) -> None:
            repo, commit = self.find(repo_id, revision)
            if repo is None:
                return
            siblings = []
            for name, data in sorted(repo.commits[commit].items()):
                sibling = {"rfilename": name, "size": len(data), "blobId": git_blob_id(data)}
                if name.endswith(LFS_SUFFIXES):
                    sibling["lfs"] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                                      "pointerSize": 134}
                siblings.append(sibling)
            info = {"id": repo_id, "modelId": repo_id, "sha": commit, "private": False,
                    "gated": "manual" if repo.gated else False, "siblings": siblings}
            if repo.parameters:
                info["safetensors"] = {"parameters": repo.parameters, "total": sum(repo.parameters.values())}
            body = json.dumps(info).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        # -- /{repo}/resolve/{rev}/{file} --------------------------------------------------
        def resolve(self, repo_id: str, revision: str, filename: str, head: bool) -> None:
            repo, commit = self.find(repo_id, revision)
            if repo is None:
                return
            if repo.gated:
                auth = self.headers.get("Authorization", "")
                token = auth.removeprefix("Bearer ").strip()
                if not token:
                    return self.error(401, "GatedRepo", f"Access to model {repo_id} is restricted. You must "
                                      "have access to it and be authenticated to access it. Please log in.")
                if token not in repo.tokens:
                    return self.error(403, "GatedRepo", f"Access to model {repo_id} is restricted and you are "
                                      "not in the authorized list.")
            data = repo.commits[commit].get(filename)
            if data is None:
                return self.error(404, "EntryNotFound", f"{filename} does not exist on {revision}")
            start = 0
            wanted = self.headers.get("Range", "")
            if wanted.startswith("bytes=") and wanted.endswith("-"):
                start = int(wanted[len("bytes="):-1])
                if not head:
                    with hub._lock:
                        hub.ranges.append((filename, start))
            self.send_response(206 if start else 200)
            self.send_header("X-Repo-Commit", commit)
            if filename.endswith(LFS_SUFFIXES):
                self.send_header("X-Linked-Etag", '"%s"' % hashlib.sha256(data).hexdigest())
                self.send_header("X-Linked-Size", str(len(data)))
            self.send_header("ETag", '"%s"' % git_blob_id(data))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(len(data) - start))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            if head:
                return
            if hub.cut == filename and start == 0:
                hub.cut = None                          # once: the client's retry asks for the rest
                hub.down = hub.after_cut == "down"
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(data[start:])

    return Handler


def use_fake_hub(hub: FakeHub, monkeypatch, tmp_path, cache=None, chunk: int | None = None) -> None:
    """Point huggingface_hub and the app at `hub` for one test: its endpoint, a cache under tmp_path (or
    `cache`), no token and no download budget from the environment, short timeouts, and every connection
    that is not to 127.0.0.1 an error (nothing may leave the machine). chunk: the client's read size."""
    import socket

    from huggingface_hub import constants

    from models import hub_download
    from models.hub_download import BUDGET_ENV

    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache if cache is not None else tmp_path / "hub"))
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", BUDGET_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)   # tests/hf_tiny.py sets it for transformers
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    if chunk is not None:
        monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", chunk)
    for name in ("HF_HUB_DOWNLOAD_TIMEOUT", "HF_HUB_ETAG_TIMEOUT"):    # a hung request fails in seconds
        monkeypatch.setattr(constants, name, 5)
    monkeypatch.setattr(hub_download, "TIMEOUT", 5)
    connect = socket.socket.connect

    def loopback_only(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] != "127.0.0.1":
            raise AssertionError(f"a connection to {address} left the fake Hub")
        return connect(sock, address)
    monkeypatch.setattr(socket.socket, "connect", loopback_only)
