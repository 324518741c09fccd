"""Starts one release `wharf` per test session and hands tests clients for it.

The suite builds nothing: it runs the binary named by WHARF_BIN (default target/release/wharf
under the repository root), on a free 127.0.0.1 port with a fresh temporary data directory, and
stops it with SIGTERM at the end, asserting a clean exit (code 0). A module that needs a server
with its own configuration (e.g. an SMTP relay) starts another with `running_wharf(config_toml)`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from helpers import REGION

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS_MAX = 30
SHUTDOWN_SECONDS_MAX = 30
READY_PREFIX = "wharf listening on "


class WharfServer:
    def __init__(self, binary: Path, config_toml: str | None = None):
        self.binary = binary
        self.config_toml = config_toml
        self.work_dir = Path(tempfile.mkdtemp(prefix="wharf-compat-"))
        self.data_dir = self.work_dir / "data"
        self.stdout_path = self.work_dir / "stdout.log"
        self.stderr_path = self.work_dir / "stderr.log"
        self.process: subprocess.Popen | None = None
        self.endpoint = ""

    def start(self) -> None:
        # Port 0: the kernel picks a free port and the server prints the address it bound.
        command = [str(self.binary), "--data-dir", str(self.data_dir), "--listen", "127.0.0.1:0"]
        if self.config_toml is not None:
            config_path = self.work_dir / "wharf.toml"
            config_path.write_text(self.config_toml)
            command += ["--config", str(config_path)]
        env = {key: value for key, value in os.environ.items() if not key.startswith("WHARF_")}
        with open(self.stdout_path, "wb") as stdout, open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(command, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + STARTUP_SECONDS_MAX
        while time.monotonic() < deadline:
            for line in self.stdout_path.read_text(errors="replace").splitlines():
                if line.startswith(READY_PREFIX):
                    self.endpoint = line[len(READY_PREFIX) :].strip()
                    return
            if self.process.poll() is not None:
                raise RuntimeError(f"wharf exited with {self.process.returncode} before listening:\n{self.logs()}")
            time.sleep(0.05)
        self.process.kill()
        raise RuntimeError(f"wharf did not print {READY_PREFIX!r} within {STARTUP_SECONDS_MAX}s:\n{self.logs()}")

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=SHUTDOWN_SECONDS_MAX)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError(f"wharf did not exit within {SHUTDOWN_SECONDS_MAX}s of SIGTERM:\n{self.logs()}")
        return self.process.returncode

    def logs(self) -> str:
        def tail(path: Path) -> str:
            return path.read_text(errors="replace")[-8000:] if path.exists() else ""

        return f"--- stdout ---\n{tail(self.stdout_path)}\n--- stderr ---\n{tail(self.stderr_path)}"


def wharf_binary() -> Path:
    configured = os.environ.get("WHARF_BIN")
    binary = Path(configured) if configured else REPO_ROOT / "target" / "release" / "wharf"
    if not binary.is_absolute():
        binary = REPO_ROOT / binary
    if not binary.is_file():
        pytest.exit(
            f"wharf binary not found at {binary}: run `cargo build --release -p wharf` or set WHARF_BIN",
            returncode=2,
        )
    return binary


@contextmanager
def running_wharf(config_toml: str | None = None):
    """A `wharf` started with the given TOML configuration; stopped afterwards, asserting exit 0."""
    server = WharfServer(wharf_binary(), config_toml)
    server.start()
    try:
        yield server
    finally:
        exit_code = server.stop()
        logs = server.logs()
        shutil.rmtree(server.work_dir, ignore_errors=True)
    assert exit_code == 0, f"wharf exited with {exit_code} after SIGTERM:\n{logs}"


@pytest.fixture(scope="session")
def wharf():
    with running_wharf() as server:
        yield server


@pytest.fixture(scope="session")
def endpoint(wharf) -> str:
    return wharf.endpoint


def make_client(endpoint: str, service: str = "sqs"):
    config = Config(
        retries={"total_max_attempts": 1},  # surface every server error as it is
        connect_timeout=5,
        read_timeout=60,  # above the 20 s long-poll maximum
    )
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=config,
    )


@pytest.fixture(scope="session")
def sqs(endpoint):
    return make_client(endpoint)


@pytest.fixture(scope="session")
def sns(endpoint):
    """An SNS client (awsQuery, the only protocol of botocore's SNS model) on the same endpoint."""
    return make_client(endpoint, "sns")


@pytest.fixture(scope="session")
def kinesis(endpoint):
    """A Kinesis Data Streams client (awsJson 1.1) on the same endpoint."""
    return make_client(endpoint, "kinesis")


def unique_name(prefix: str = "q") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_queue(sqs):
    """Creates queues with unique names and deletes them after the test."""
    created: list[str] = []

    def create(name: str | None = None, **kwargs) -> str:
        url = sqs.create_queue(QueueName=name or unique_name(), **kwargs)["QueueUrl"]
        created.append(url)
        return url

    yield create
    for url in created:
        try:
            sqs.delete_queue(QueueUrl=url)
        except Exception:
            pass


@pytest.fixture
def queue_url(make_queue) -> str:
    return make_queue()


@pytest.fixture
def make_topic(sns):
    """Creates SNS topics with unique names and deletes them after the test.

    A FIFO topic is made when `fifo=True` (the name gets the `.fifo` suffix and FifoTopic=true);
    keyword arguments are passed to CreateTopic."""
    created: list[str] = []

    def create(name: str | None = None, fifo: bool = False, **kwargs) -> str:
        if name is None:
            name = unique_name("t") + (".fifo" if fifo else "")
        if fifo:
            kwargs["Attributes"] = {"FifoTopic": "true", **kwargs.get("Attributes", {})}
        arn = sns.create_topic(Name=name, **kwargs)["TopicArn"]
        created.append(arn)
        return arn

    yield create
    for arn in created:
        try:
            sns.delete_topic(TopicArn=arn)
        except Exception:
            pass


@pytest.fixture
def topic_arn(make_topic) -> str:
    return make_topic()
