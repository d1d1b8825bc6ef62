"""Ray, reached with care: the address of a cluster checked in seconds (``ray.init`` may
wait minutes for a head that is not there), the environment Ray reads when it loads, the
run's own cluster started or an existing one joined, and a worker's MXNet threads.

``--workers N`` starts a local cluster (``ray.init`` on 127.0.0.1, a token of its own, an
object store of ``OBJECT_STORE_BYTES``) with N actors, each limited to cores/N MXNet
threads; ``--ray-address HOST:PORT`` joins an existing cluster, with one actor per machine
that offers CPUs, using all of them (MXNet spreads one picture over a machine's cores).
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from typing import Any

from nstyle.errors import NStyleError, one_line, squeezed
from nstyle.hosts import is_loopback

log = logging.getLogger("nstyle")

RAY_CONNECT_SECONDS = 3.0  # the GCS port of --ray-address must answer within this
# The run's own cluster's object store: the styles, the items in flight and their results
# are pictures, not tensors (a 4096 px one is 50 MB), and Ray spills beyond it; its default,
# 30% of the machine's memory, is mapped into every worker's address space.
OBJECT_STORE_BYTES = 1 << 30
RAY_JOIN_SECONDS = 20  # ray.init's wait for a head that answers but does not register us
RAY_PROBE_SECONDS = 15.0  # a Ray head gives its cluster id within this (Ray's own client,
# in a child process that is killed then: ray.init would wait ten minutes and more)
TOKEN_HINT = (
    "; if the cluster checks tokens, set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (or "
    "~/.ray/auth_token) here, as for any Ray client"
)
RAY_PROBE = "import sys; from ray._raylet import GcsClient; GcsClient(address=sys.argv[1])"
# HTTP/2's client preface and an empty SETTINGS frame: a gRPC server (a Ray head's GCS)
# answers with a SETTINGS frame of its own (RFC 9113, 3.4).
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])


def parse_address(address: str) -> tuple[str, int]:
    """HOST:PORT of a Ray cluster's head (its GCS), or one line saying what is wrong."""
    host, sep, port = address.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise NStyleError(
            f"--ray-address {address!r}: expected HOST:PORT of the cluster's head, "
            "e.g. 127.0.0.1:6379 (as `ray start --head` prints it)"
        )
    return host, int(port)


def check_reachable(address: str, seconds: float = RAY_CONNECT_SECONDS) -> None:
    """Fail in one line within about ``seconds`` when nothing listens at ``address``, or
    what listens is not a gRPC server as a Ray head's GCS is (an HTTP server, a socket
    that never answers): ``ray.init`` itself may wait minutes for a head that is not
    there."""
    host, port = parse_address(address)
    connected = False
    try:
        with socket.create_connection((host, port), timeout=seconds) as connection:
            connected = True
            connection.sendall(HTTP2_PREFACE)
            reply = connection.recv(9)
    except OSError as exc:
        if not (connected and isinstance(exc, TimeoutError)):  # else: listens, says nothing
            why = "no answer" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
            raise NStyleError(
                f"--ray-address {address}: no Ray cluster answers there ({why}); start "
                "one with `ray start --head`, or check the address and the firewall"
            ) from None
        reply = None
    if reply is None or len(reply) < 9 or reply[3] != 4:  # frame type 4: SETTINGS
        what = "says nothing" if not reply else f"answers {one_line(repr(reply[:9]))[:40]}"
        raise NStyleError(
            f"--ray-address {address}: something listens there but it is not a Ray head "
            f"(it {what} where a Ray head's GCS speaks gRPC); check the port: `ray start "
            "--head` prints it"
        )
    _probe_cluster_id(address, host, port)


def _probe_cluster_id(address: str, host: str, port: int) -> None:
    """A gRPC server, but a Ray head? Ray's own client must get the cluster's id from it
    within ``RAY_PROBE_SECONDS``, in a child process killed then."""
    try:
        subprocess.run(
            [sys.executable, "-c", RAY_PROBE, f"{host}:{port}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=RAY_PROBE_SECONDS,
        )  # other failures (no Ray here, a token refused) are ray.init's to say
    except subprocess.TimeoutExpired:
        hint = "" if "RAY_AUTH_MODE" in os.environ else TOKEN_HINT
        raise NStyleError(
            f"--ray-address {address}: something listens there but it is not a Ray head "
            f"(a gRPC server that gave no Ray cluster id within {RAY_PROBE_SECONDS:.0f} s); "
            f"check the port (`ray start --head` prints it){hint}"
        ) from None


def outward_ip() -> str | None:
    """The address this machine reaches the world from, as Ray finds it (a UDP "connect"
    sends nothing), or None."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("8.8.8.8", 53))
            return probe.getsockname()[0]
    except OSError:
        return None


def loopback_only(address: str) -> bool:
    """Whether ``address`` is a loopback one whose port does not answer on the machine's
    outward address too: a head that listens on 127.0.0.1 alone."""
    host, port = parse_address(address)
    if not is_loopback(host):
        return False
    outward = outward_ip()
    if outward is None or is_loopback(outward):
        return True
    try:
        with socket.create_connection((outward, port), timeout=RAY_CONNECT_SECONDS):
            return False
    except OSError:
        return True


def import_ray(workers: int | None, address: str | None) -> Any:
    """The ``ray`` module, its environment set first for the run's own cluster of
    ``workers`` or the one at ``address``; one line when Ray is not installed."""
    # Ray turns 127.0.0.1 into the machine's outward address unless told this is a
    # one-machine cluster (read when Ray loads: set before, and on the loaded module).
    # That suits a head started as usual, on every interface; one that listens on the
    # loopback only (``--node-ip-address 127.0.0.1``) must be reached as it is.
    local = workers is not None or loopback_only(address or "")
    if local:
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    if address is not None:  # a head that never registers us: fail, don't wait
        os.environ.setdefault("RAY_gcs_server_port_wait_time_s", str(RAY_JOIN_SECONDS))
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if workers is not None and "RAY_AUTH_MODE" not in os.environ:
        # The run's own cluster takes a token of its own (Ray would write one into
        # ~/.ray, where it would switch on token checks for every later `ray start`).
        os.environ["RAY_AUTH_MODE"] = "token"
        if not {"RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"} & set(os.environ):
            import secrets

            os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    try:
        import ray
    except ImportError:
        raise NStyleError(
            "Ray is not installed: pip install -r requirements.txt (or ray==2.60.0)"
        ) from None
    if local:
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False  # for a Ray loaded before
    return ray


def join(ray: Any, workers: int | None, address: str | None) -> list[tuple[Any, int]]:
    """Start the run's own cluster of ``workers`` or join the one at ``address``; where
    each actor goes: (node id, or None for anywhere; the cores it shares with others).
    Every failure is one ``NStyleError`` line; the signal handlers stay this process's."""
    import signal

    level = logging.ERROR  # Ray's notices are not the run's: its failures are lines
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        if workers is not None:
            ray.init(
                num_cpus=workers,
                object_store_memory=OBJECT_STORE_BYTES,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=level,
                _node_ip_address="127.0.0.1",
            )
            return [(None, workers)] * workers
        ray.init(address=address, log_to_driver=False, logging_level=level)
        places = [
            (node["NodeID"], 1)
            for node in ray.nodes()
            if node.get("Alive") and node.get("Resources", {}).get("CPU", 0) >= 1
        ]
        if not places:
            raise NStyleError(f"the Ray cluster at {address} has no CPU to offer")
        return places
    except NStyleError:
        raise
    except Exception as exc:  # version mismatch, refused connection, ...
        hint = TOKEN_HINT if address is not None and "RAY_AUTH_MODE" not in os.environ else ""
        raise NStyleError(f"Ray: {squeezed(exc)[:300]}{hint}") from None
    finally:
        for number, handler in handlers.items():  # Ray installs its own
            signal.signal(number, handler)


def limit_threads(share: int) -> int:
    """Set this process's OpenMP threads to its machine's cores / ``share`` (at least 1),
    as MXNet reads them when it loads: call before anything imports MXNet."""
    cores = len(os.sched_getaffinity(0))
    threads = max(1, cores // max(1, share))
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if "mxnet" in sys.modules:
        log.warning("nstyle: warning: MXNet was loaded before its threads were set")
    return threads
