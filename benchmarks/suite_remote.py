"""Remote suite: the key owner's flows in process vs against ``hesift evaluator`` over HTTP.

The evaluator service runs as a separate process on 127.0.0.1 (started with the
CLI, private keys forbidden); the key owner is this process.  Each flow runs
in process and remotely, interleaved (the order alternates every round), and
the table gives median wall seconds, the HTTP overhead, bytes up/down per flow
and whether both gave identical results.

- HESIFT on a 256x256 photo (2048-bit key): one round trip per octave.
- A 512x512 Gaussian (sigma 1, packed): encrypt, one ``/v1/filter``, decrypt.
"""

from __future__ import annotations

import select
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np

import hepaillier_core as hc

from .table import markdown_table
from .workloads import camera

#: HESIFT 256x256 under a 2048-bit key takes minutes per run, so it runs once per side
#: (the CPU overhead, summed over both processes, does not depend on other load).
SIZES = {True: dict(sift_side=128, gauss_side=256, sift_repeats=1, gauss_repeats=1),
         False: dict(sift_side=256, gauss_side=512, sift_repeats=1, gauss_repeats=3)}


class Service:
    """``python -m hesift evaluator --port 0`` on loopback, stopped by ``close``."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hesift", "evaluator", "--host", "127.0.0.1", "--port", "0",
             "--max-request-mb", "2048"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        ready, _, _ = select.select([self.proc.stdout], [], [], 120)
        line = self.proc.stdout.readline().decode() if ready else ""
        if "listening on http://" not in line:
            self.close()
            raise RuntimeError(f"the evaluator service did not start: {line!r}")
        self.url = line.split("listening on ", 1)[1].split()[0].removesuffix("/v1/")

    def cpu_seconds(self) -> float:
        """User + system CPU seconds the service process has used so far."""
        import os

        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc.stdout.close()


def _time(fn: Callable[[], object], service: Service) -> tuple[float, float, object]:
    """(wall, CPU of this process + the service process, output) of one call."""
    s0, c0, t0 = service.cpu_seconds(), time.process_time(), time.perf_counter()
    out = fn()
    wall = time.perf_counter() - t0
    return wall, time.process_time() - c0 + service.cpu_seconds() - s0, out


def _interleave(cases: dict[str, Callable[[], tuple[object, dict]]], repeats: int,
                service: Service) -> dict:
    """Median wall and CPU seconds per case, alternating the order every round; last outputs.

    CPU counts both processes (the service's is ~0 for the in-process case), so the
    difference is the HTTP path's own work, which other load on the machine cannot inflate.
    """
    names = list(cases)
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    last: dict[str, tuple[object, dict]] = {}
    for r in range(max(1, repeats)):
        for n in (names if r % 2 == 0 else names[::-1]):
            w, c, out = _time(cases[n], service)
            wall[n].append(w)
            cpu[n].append(c)
            last[n] = out
    return {n: {"wall": statistics.median(wall[n]), "cpu": statistics.median(cpu[n]),
                "walls": wall[n], "out": last[n]} for n in names}


def _sift_cases(keys, grey: np.ndarray, remote) -> dict:
    from hesift.sift.params import SiftParams
    from hesift.sift.protocol import run_local

    params = SiftParams()

    def flow(evaluator):
        def run():
            before = dict(remote.stats)
            stats: dict = {}
            kps = run_local(grey, params, keys, stats=stats, evaluator=evaluator)
            stats.pop("owner", None)
            moved = {k: remote.stats[k] - before[k] for k in ("bytes_up", "bytes_down", "requests")}
            return (kps.desc.tobytes(), len(kps)), {**stats, **moved}
        return run

    return {"in process": flow(None), "HTTP": flow(remote)}


def _gauss_cases(priv, img: np.ndarray, remote) -> dict:
    from hesift.filters import registry

    spec = registry.get("gaussian")
    p = registry.params(sigma=1.0)
    bits, pad = registry.slot_bits(spec, p), max(spec.radius(p), 1)

    def flow(use_remote: bool):
        def run():
            before = dict(remote.stats)
            t0 = time.perf_counter()
            x = priv.encrypt(img.astype(np.int64), pack=True, pad=pad, pad_mode="reflect",
                             bits_per_slot=bits, bound=255)
            t1 = time.perf_counter()
            y = remote.apply_op(spec, [x], p) if use_remote else registry.apply(spec, [x], p)
            t2 = time.perf_counter()
            pic = priv.decrypt_image(y[0])
            t3 = time.perf_counter()
            moved = {k: remote.stats[k] - before[k] for k in ("bytes_up", "bytes_down", "requests")}
            return pic.tobytes(), {"encrypt": t1 - t0, "evaluate": t2 - t1, "decrypt": t3 - t2,
                                   **moved}
        return run

    return {"in process": flow(False), "HTTP": flow(True)}


def run(quick: bool = False, bits: int = 2048) -> dict:
    from hesift.remote import RemoteEvaluator

    sz = SIZES[quick]
    pub, priv = hc.generate_keypair(bits, insecure=bits not in (2048, 3072, 4096))
    service = Service()
    try:
        remote = RemoteEvaluator(service.url)
        health = remote.health()
        img = camera()
        s, g = sz["sift_side"], sz["gauss_side"]
        flows = {
            f"HESIFT {s}x{s}": (_sift_cases((pub, priv), np.ascontiguousarray(img[:s, :s]),
                                            remote), sz["sift_repeats"]),
            f"Gaussian {g}x{g}": (_gauss_cases(priv, np.ascontiguousarray(img[:g, :g]), remote),
                                  sz["gauss_repeats"]),
        }
        res: dict = {"bits": bits, "url": service.url,
                     "service": {k: health[k] for k in ("version", "wire", "executor", "private_keys")},
                     "flows": {}}
        for name, (cases, repeats) in flows.items():
            meds = _interleave(cases, repeats, service)
            loc, rem = meds["in process"], meds["HTTP"]
            (out_l, st_l), (out_r, st_r) = loc["out"], rem["out"]
            res["flows"][name] = {
                "local_wall": loc["wall"], "remote_wall": rem["wall"],
                "local_walls": loc["walls"], "remote_walls": rem["walls"],
                "local_cpu": loc["cpu"], "remote_cpu": rem["cpu"],
                "overhead": rem["wall"] / loc["wall"] - 1,
                "cpu_overhead": rem["cpu"] / loc["cpu"] - 1,
                "local_evaluate": st_l.get("evaluate"), "remote_evaluate": st_r.get("evaluate"),
                "bytes_up": st_r["bytes_up"], "bytes_down": st_r["bytes_down"],
                "requests": st_r["requests"], "identical": out_l == out_r, "repeats": repeats,
            }
    finally:
        service.close()
    return res


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def table(res: dict) -> str:
    rows = []
    for name, f in res["flows"].items():
        rows.append([f"{name} (x{f['repeats']})", f"{f['local_wall']:.1f}", f"{f['remote_wall']:.1f}",
                     f"{100 * f['overhead']:+.1f}%", f"{f['local_cpu']:.1f}",
                     f"{f['remote_cpu']:.1f}", f"{100 * f['cpu_overhead']:+.1f}%",
                     f"{f['local_evaluate']:.1f} / {f['remote_evaluate']:.1f}",
                     _mib(f["bytes_up"]), _mib(f["bytes_down"]), str(f["requests"]),
                     "yes" if f["identical"] else "NO"])
    head = ["flow", "in process s", "HTTP s", "wall overhead", "CPU s in process",
            "CPU s HTTP (both)", "CPU overhead", "evaluate s (local / HTTP)",
            "bytes up", "bytes down", "requests", "identical"]
    note = (f"\n_{res['bits']}-bit key; medians of (xN) interleaved runs per side, the "
            "order alternating; the evaluator is `hesift evaluator` in another process on "
            "127.0.0.1 (private keys forbidden). Both columns include the key owner's "
            "encryption and decryption. CPU s HTTP adds the service process's CPU to the "
            "client's: the CPU overhead is the HTTP path's own work (serialising, checking "
            "and copying ciphertexts), which other load on a shared machine does not "
            "inflate; the wall overhead is what a user waits for._")
    return "## remote: in process vs loopback HTTP\n\n" + markdown_table(head, rows) + note + "\n"
