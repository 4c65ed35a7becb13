"""The 'sift' and 'gallery' suites: modules ``benchmarks/sift_*.py`` / ``gallery_*.py``.

Other parts of the project write those modules; each exposes
``run(quick: bool) -> dict`` (and optionally ``table(result) -> str``).
This module finds them, runs them, prints their tables, and adds the
physical-limit view for HESIFT: time in decryption vs everything else,
taken from any stage-timing mapping whose keys mention decryption.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import Iterator
from pathlib import Path

from .table import markdown_table
from .timing import fmt_time

HERE = Path(__file__).resolve().parent


def modules(prefix: str) -> list[str]:
    """Names of the benchmark modules ``<prefix>_*`` present in this package."""
    return sorted(m.name for m in pkgutil.iter_modules([str(HERE)])
                  if m.name.startswith(prefix + "_"))


def run(prefix: str, quick: bool = False) -> dict:
    """Run every ``<prefix>_*`` module; missing or failing ones are reported, not fatal."""
    found = modules(prefix)
    out: dict = {"suite": prefix, "quick": quick, "modules": {}}
    if not found:
        out["status"] = f"suite not available: no benchmarks/{prefix}_*.py module is installed"
        return out
    for name in found:
        try:
            mod = importlib.import_module(f"{__package__}.{name}")
            if not callable(getattr(mod, "run", None)):
                out["modules"][name] = {"status": "suite not available: module has no run()"}
                continue
            res = mod.run(quick=quick)
            text = mod.table(res) if callable(getattr(mod, "table", None)) else _generic(res)
            out["modules"][name] = {"status": "ok", "result": res, "text": text}
        except Exception as e:  # another helper's module: report, keep the runner alive
            out["modules"][name] = {"status": f"suite not available: {type(e).__name__}: {e}"}
    return out


def _generic(res: object) -> str:
    """A result dict as scalar rows (for modules without their own table)."""
    rows = [[k, _fmt(v)] for k, v in _scalars(res, "")]
    return markdown_table(["field", "value"], rows[:60]) if rows else json.dumps(res)[:2000]


def _fmt(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _scalars(obj: object, path: str) -> Iterator[tuple[str, object]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _scalars(v, f"{path}.{k}" if path else str(k))
    elif isinstance(obj, (int, float, str, bool)) or obj is None:
        yield path, obj


STAGES = ("keygen", "encrypt", "evaluate", "filter", "decrypt", "decryption", "plaintext",
          "detect", "describe", "match")
SUFFIXES = ("_seconds", "_s", "_time")
TOTALS = ("total", "wall")


def _stage_of(key: str) -> tuple[str, str] | None:
    """'unpacked_decrypt_s' -> ('unpacked', 'decrypt'); None when not a stage timing."""
    k = key.lower()
    if k.startswith("ratio") or "share" in k:
        return None
    for suf in SUFFIXES:
        if k.endswith(suf):
            k = k[: -len(suf)]
            break
    for st in STAGES + TOTALS:
        if k == st:
            return "", st
        if k.endswith("_" + st):
            return k[: -len(st) - 1], st
    return None


def _stage_maps(obj: object, path: str = "") -> Iterator[tuple[str, dict[str, float]]]:
    """Stage-timing groups (with a decryption stage) found anywhere in a result."""
    if isinstance(obj, dict):
        groups: dict[str, dict[str, float]] = {}
        for k, v in obj.items():
            st = _stage_of(str(k))
            if st and isinstance(v, (int, float)) and not isinstance(v, bool):
                groups.setdefault(st[0], {})[st[1]] = float(v)
        label = path or "result"
        if "size" in obj:
            label += f" (size {obj['size']})"
        for prefix, stages in groups.items():
            if len(stages) >= 2 and ("decrypt" in stages or "decryption" in stages):
                yield (f"{label} {prefix}".strip(), stages)
        for k, v in obj.items():
            yield from _stage_maps(v, f"{path}.{k}" if path else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _stage_maps(v, f"{path}[{i}]")


def decryption_share(res: dict) -> list[dict]:
    """Decryption vs everything else for each stage-timing group found in a result."""
    out = []
    for where, stages in _stage_maps(res):
        dec = stages.get("decrypt", 0.0) + stages.get("decryption", 0.0)
        total = next((stages[t] for t in TOTALS if t in stages), None)
        if total is None:
            total = sum(stages.values())
        if total > 0:
            out.append({"where": where, "decrypt_s": dec, "other_s": total - dec,
                        "total_s": total, "decrypt_share": dec / total})
    return out


def table(res: dict) -> str:
    """Each module's own table, then the decryption-vs-rest view for the sift suite."""
    lines = [f"### Suite `{res['suite']}`", ""]
    if "status" in res:
        return "\n".join(lines + [res["status"]]) + "\n"
    for name, m in res["modules"].items():
        lines += [f"#### `benchmarks/{name}.py`", ""]
        if m["status"] != "ok":
            lines += [m["status"], ""]
            continue
        lines += [m["text"].rstrip(), ""]
        if res["suite"] == "sift":
            share = decryption_share(m["result"])
            m["decryption_share"] = share
            if share:
                rows = [[s["where"], fmt_time(s["decrypt_s"]), fmt_time(s["other_s"]),
                         fmt_time(s["total_s"]), f"{100 * s['decrypt_share']:.0f}%"]
                        for s in share]
                lines += ["Physical limit: irreducible decryption vs everything else", "",
                          markdown_table(["timings", "decryption", "everything else", "total",
                                          "decryption share"], rows), ""]
    return "\n".join(lines) + "\n"
