"""The table of the Synapse comparison, and its place in docs/benchmarks.md."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

HEADING = "## Parlour vs Matrix Synapse"
INTRO = """\
The same chat workload against Parlour and against Matrix Synapse (a monolith, its client API
only, federation off), one server at a time, from one client process, on SQLite and then on
PostgreSQL (Parlour also with Redis there). Every user is in one room of 2, one of 10 and one of
50 people; a seeded plan picks a room and a sender for each message, the same for both servers;
each message has a unique body. Receivers listen the way each server's clients do: Parlour's
stream WebSocket, and Matrix `/sync` long-polls with a filter that keeps only the bench rooms'
message timeline. Delivery latency is from just before the send request to the moment the
*last* other member of the room has seen the message. Server CPU is user + system time of the
server's process tree; database CPU (PostgreSQL only) is that of the backends serving its
database; peak RSS is sampled every 250 ms. Client CPU is the benchmark process's own, as a
share of one core, to show it was not the bottleneck. Ratios are Parlour / Synapse: below 1 is
better for Parlour on times, CPU and memory, above 1 on sends per second.
"""

Figure = tuple[str, Callable[[dict[str, Any]], float], str]
FIGURES: list[Figure] = [
    ("sends/s", lambda p: p["sends_per_s"], "{:.0f}"),
    ("send p50 ms", lambda p: p["send_ms"]["p50"], "{:.1f}"),
    ("send p95 ms", lambda p: p["send_ms"]["p95"], "{:.1f}"),
    ("delivery p50 ms", lambda p: p["delivery_ms"]["p50"], "{:.1f}"),
    ("delivery p95 ms", lambda p: p["delivery_ms"]["p95"], "{:.1f}"),
    ("delivery p99 ms", lambda p: p["delivery_ms"]["p99"], "{:.1f}"),
    ("lost deliveries", lambda p: p["lost"] + p["send_errors"], "{:.0f}"),
    ("server CPU s", lambda p: p["server_cpu_s"], "{:.1f}"),
    ("server CPU ms/message", lambda p: p["server_cpu_ms_per_message"], "{:.2f}"),
    ("database CPU s", lambda p: p.get("db_cpu_s", math.nan), "{:.1f}"),
    ("peak RSS MiB", lambda p: p["peak_rss_mib"], "{:.0f}"),
    ("client CPU % of a core", lambda p: 100 * p["client_cpu_s"] / p["wall_s"], "{:.0f}"),
    ("phase wall s", lambda p: p["wall_s"], "{:.0f}"),
]
BACKEND_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


def _cell(value: float, fmt: str) -> str:
    return "—" if math.isnan(value) else fmt.format(value)


def _ratio(ours: float, theirs: float) -> str:
    if math.isnan(ours) or math.isnan(theirs) or theirs == 0:
        return "—"
    return f"{ours / theirs:.2f}"


def _pairs(results: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    by = {(r["backend"], r["server"]): r for r in results}
    backends = list(dict.fromkeys(r["backend"] for r in results))
    return [
        (b, by[(b, "Parlour")], by[(b, "Synapse")])
        for b in backends
        if (b, "Parlour") in by and (b, "Synapse") in by
    ]


def _table(results: list[dict[str, Any]]) -> list[str]:
    pairs = _pairs(results)
    head = ["figure"]
    for backend, _, _ in pairs:
        name = BACKEND_NAMES[backend]
        head += [f"{name} Parlour", f"{name} Synapse", "ratio"]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    phases = [p["phase"] for p in pairs[0][1]["phases"]] if pairs else []
    for index, phase in enumerate(phases):
        for label, get, fmt in FIGURES:
            row = [f"{phase}: {label}"]
            for _, ours, theirs in pairs:
                a, b = get(ours["phases"][index]), get(theirs["phases"][index])
                row += [_cell(a, fmt), _cell(b, fmt), _ratio(a, b)]
            lines.append("| " + " | ".join(row) + " |")
    return lines


def render(results: list[dict[str, Any]], host: dict[str, Any]) -> str:
    """A dated block: versions, machine, workload, the table, and how long each run took."""
    versions = {r["server"]: r["version"] for r in results}
    first = results[0]
    load = " / ".join(f"{x:.2f}" for x in host["load"][:3])
    after = " / ".join(f"{x:.2f}" for x in host.get("load_after", host["load"])[:3])
    p0 = first["phases"][0]
    out = [
        f"### Run of {host['date']}",
        "",
        f"Parlour {versions.get('Parlour', '?')} ({host['commit']}), "
        f"Synapse {versions.get('Synapse', '?')}, "
        f"Python {host['python']}; a shared machine with {host['cores']} cores and "
        f"{host['ram_gib']:.0f} GiB RAM (load average 1/5/15 min {load} before, {after} after).",
        f"Workload: {first['users']} users in {first['rooms']} rooms, {p0['messages']} messages "
        f"per phase from up to {first.get('concurrency', '?')} senders in parallel.",
        "",
        *_table(results),
        "",
        "Time per server run (start, seeding, both phases, stop): "
        + ", ".join(
            f"{r['server']} on {BACKEND_NAMES[r['backend']]} {r['total_s']:.0f} s "
            f"(seeding {r['seed_s']:.0f} s)"
            for r in results
        )
        + ".",
        "",
    ]
    return "\n".join(out)


def write_doc(path: Path, block: str) -> None:
    """Adds the block at the end of this benchmark's section, creating file or section."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if HEADING not in text:
        text = text.rstrip("\n") + f"\n\n{HEADING}\n\n{INTRO}\n"
    start = text.index(HEADING) + len(HEADING)
    following = text.find("\n## ", start)
    end = len(text) if following == -1 else following + 1
    section = text[:end].rstrip("\n") + "\n\n" + block.rstrip("\n") + "\n"
    rest = text[end:]
    path.write_text(section + ("\n" + rest if rest else ""))
