"""Rampart's contract check: schemathesis against a real server, once signed in as a user, once as an admin.

Usage: harness.py PATH_TO_RAMPART_BINARY

It starts the binary on a free port with a fresh data folder (SQLite, local media, file mail), makes
an admin with `rampart admin create` and a user through the API, verifies both addresses through the
mailed links, uploads a few posts (so that the feed and the post routes have something real to link
to), then runs schemathesis with every check and every phase, including the stateful one, whose
links come from the OpenAPI document itself. Any failure is a non-zero exit.

Settings (environment):
  RAMPART_CONTRACT_MAX_EXAMPLES  cases per operation and phase (default 40)
  RAMPART_CONTRACT_SEED          hypothesis seed (default 20261203: the same cases on every run)
  RAMPART_CONTRACT_REPORT_DIR    where the JUnit reports and the server log go (default target/contract)
"""

import email
import email.policy
import os
import pathlib
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import zlib

import requests

HERE = pathlib.Path(__file__).resolve().parent
PASSWORD = "contract run passphrase 4417"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def png(width, height, seed):
    """A small RGB PNG, different for each seed (the server would accept the same image twice anyway)."""
    rows = b"".join(
        b"\x00"
        + bytes(v for x in range(width) for v in ((x * 7 + y * 3 + seed * 29) % 256, (x + seed) % 256, (y * 5) % 256))
        for y in range(height)
    )

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


class Server:
    def __init__(self, binary, data_dir, log_path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.binary = binary
        self.data_dir = data_dir
        # Development mode with cheap hashing and limits far above what the run sends: the run is about
        # the shape of every answer, and a 429 on the run's own sign-in would only hide operations.
        # (429 answers are still documented and checked wherever they come.)
        self.env = dict(
            os.environ,
            RAMPART_DATA_DIR=str(data_dir),
            RAMPART_BIND=f"127.0.0.1:{self.port}",
            # A domain name, so that the passkey routes are on (WebAuthn refuses IP addresses).
            RAMPART_PUBLIC_ORIGIN=f"http://localhost:{self.port}",
            RAMPART_AUTH__ARGON2__MEMORY_KIB="1024",
            RAMPART_AUTH__ARGON2__ITERATIONS="1",
            RAMPART_LOG__LEVEL="warn",
            # Metrics on a free port, so a server already on the default one cannot stop this run.
            RAMPART_METRICS__BIND="127.0.0.1:0",
        )
        for limit in (
            "REGISTER_PER_IP",
            "LOGIN_PER_IP",
            "REFRESH_PER_IP",
            "REFRESH_PER_SESSION",
            "LOGIN_FAILURES_PER_ACCOUNT_IP",
            "LOGIN_FAILURES_PER_ACCOUNT",
            "RECOVERY_PER_IP",
            "RECOVERY_PER_ACCOUNT",
            "MFA_FAILURES_PER_ACCOUNT",
        ):
            self.env[f"RAMPART_LIMITS__{limit}__BURST"] = "1000000"
        self.log = open(log_path, "wb")
        self.process = None

    def admin_create(self, email_address, username):
        subprocess.run(
            [self.binary, "admin", "create", "--email", email_address, "--username", username, "--password-stdin"],
            input=(PASSWORD + "\n").encode(),
            env=self.env,
            check=True,
            stdout=self.log,
            stderr=self.log,
        )

    def start(self):
        self.process = subprocess.Popen([self.binary, "serve"], env=self.env, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"the server exited with {self.process.returncode}; see {self.log.name}")
            try:
                if requests.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        sys.exit("the server did not become ready in 60 s")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()

    def mailed_token(self, to, path):
        """The token of the newest mail to `to` whose link goes to `path` (the file transport's .eml files)."""
        outbox = pathlib.Path(self.data_dir, "outbox")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for eml in sorted(outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True):
                message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
                if to not in str(message["To"]):
                    continue
                body = message.get_body(("plain",)).get_content()
                found = re.search(re.escape(path) + r"\?token=([A-Za-z0-9_\-%.~]+)", body)
                if found:
                    return urllib.parse.unquote(found.group(1))
            time.sleep(0.1)
        sys.exit(f"no mail to {to} with a {path} link")


def sign_in(server, login):
    answer = requests.post(f"{server.base}/api/v1/auth/login", json={"login": login, "password": PASSWORD}, timeout=30)
    answer.raise_for_status()
    return answer.json()["access_token"]


def verify(server, token, address, resend):
    """Confirms the address through the mailed link. `admin create` sends no mail, so ask for one."""
    me = requests.get(f"{server.base}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    if me.json()["email_verified"]:
        return
    if resend:
        answer = requests.post(
            f"{server.base}/api/v1/auth/verify-email/resend",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        answer.raise_for_status()
    mailed = server.mailed_token(address, "/verify-email")
    requests.post(f"{server.base}/api/v1/auth/verify-email", json={"token": mailed}, timeout=30).raise_for_status()


def upload(server, token, seed):
    answer = requests.post(
        f"{server.base}/api/v1/posts",
        headers={"Authorization": f"Bearer {token}"},
        files={"image": (f"seed-{seed}.png", png(48, 32, seed), "image/png")},
        data={"caption": f"contract seed {seed} #contract #seed{seed}"},
        timeout=60,
    )
    if answer.status_code != 201:
        sys.exit(f"seeding a post failed: {answer.status_code} {answer.text}")


def schemathesis(server, login, label, report_dir):
    venv_bin = pathlib.Path(sys.executable).parent
    command = [
        str(venv_bin / "schemathesis"),
        "run",
        f"{server.base}/api/v1/openapi.json",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        os.environ.get("RAMPART_CONTRACT_MAX_EXAMPLES", "40"),
        "--seed",
        os.environ.get("RAMPART_CONTRACT_SEED", "20261203"),
        # One worker: with two, CPython 3.11's parser fails inside Hypothesis now and then ("AST
        # constructor recursion depth mismatch"), which schemathesis reports as an error of the run.
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--report",
        "junit",
        "--report-junit-path",
        str(report_dir / f"junit-{label}.xml"),
        "--warnings",
        "off",
    ]
    env = dict(
        os.environ,
        SCHEMATHESIS_HOOKS="hooks",
        PYTHONPATH=str(HERE),
        RAMPART_CONTRACT_BASE=server.base,
        RAMPART_CONTRACT_LOGIN=login,
        RAMPART_CONTRACT_PASSWORD=PASSWORD,
    )
    print(f"== schemathesis, signed in as the {label}", flush=True)
    return subprocess.run(command, env=env, cwd=HERE).returncode


def main():
    binary = os.path.abspath(sys.argv[1])
    report_dir = pathlib.Path(os.environ.get("RAMPART_CONTRACT_REPORT_DIR", "target/contract")).resolve()
    report_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rampart-contract-") as data_dir:
        server = Server(binary, data_dir, report_dir / "server.log")
        try:
            server.admin_create("admin@contract.example", "contract_admin")
            server.start()
            answer = requests.post(
                f"{server.base}/api/v1/auth/register",
                json={"username": "contract_user", "email": "user@contract.example", "password": PASSWORD},
                timeout=30,
            )
            if answer.status_code != 201:
                sys.exit(f"registering the run's user failed: {answer.status_code} {answer.text}")
            user_token = answer.json()["access_token"]
            verify(server, user_token, "user@contract.example", resend=False)
            admin_token = sign_in(server, "contract_admin")
            verify(server, admin_token, "admin@contract.example", resend=True)
            for seed in range(3):
                upload(server, user_token, seed)
            upload(server, admin_token, 3)

            failed = []
            for login, label in (("contract_user", "user"), ("contract_admin", "admin")):
                if schemathesis(server, login, label, report_dir) != 0:
                    failed.append(label)
        finally:
            server.stop()
    if failed:
        sys.exit(f"the contract run failed as: {', '.join(failed)} (reports in {report_dir})")
    print("== contract: clean as user and as admin")


if __name__ == "__main__":
    main()
