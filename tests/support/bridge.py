"""A listener on this host's Docker bridge address: the target of network probes from jobs (it
never leaves the host). Found the way tests/executor/test_hostile_jobs.py finds it."""

from __future__ import annotations

import fcntl
import socket
import struct
import threading

import docker


def bridge_gateway(docker_api: docker.DockerClient) -> str:
    """This host's address on Docker's default bridge (a fresh dockerd may report only the
    ``Subnet``: the address is then read from the bridge's interface)."""
    network = docker_api.api.inspect_network("bridge")
    for config in (network.get("IPAM") or {}).get("Config") or []:
        if config.get("Gateway"):
            return config["Gateway"].split("/")[0]
    interface = (network.get("Options") or {}).get("com.docker.network.bridge.name", "docker0")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        reply = fcntl.ioctl(probe.fileno(), 0x8915, struct.pack("256s", interface.encode()[:15]))
    return socket.inet_ntoa(reply[20:24])


class BridgeListener:
    """Answers every HTTP request with ``pong`` on the bridge address, until stopped."""

    def __init__(self, docker_api: docker.DockerClient) -> None:
        self.host = bridge_gateway(docker_api)
        self._server = socket.socket()
        self._server.bind((self.host, 0))
        self._server.listen(8)
        self._server.settimeout(0.5)
        self.port = self._server.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.recv(4096)
                connection.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\npong\n")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._server.close()
