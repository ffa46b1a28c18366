"""Call benchmarks on loopback: set-up time in real browsers, and signalling throughput.

Set-up time is measured from the caller's click on "Start a video call" to video decoded on both
sides, with the callee answering as soon as it rings, in the system's Chromium with fake camera
and microphone. Its baseline is the same browser connecting two peer connections inside one page
with no server at all: the floor that WebRTC itself sets on this machine.

Signalling throughput is ICE-candidate frames relayed by one `parlour serve` process between
the two legs of a call, measured at the receiving device. Its baseline is ping frames answered
by the same process on the same connection.

    python -m bench.call_setup [--calls 20] [--signals 5000] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import websockets
from playwright.async_api import Browser, Page, async_playwright

from bench.chat_fanout import User, make_users
from bench.harness import PASSWORD, Server, parlour_server, summary

FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]
MEDIA_MS = 60_000

FRAMES_FLOW = """
async () => {
  const peers = window.parlourCall ? window.parlourCall.peers : [];
  if (peers.length !== 1) return false;
  const report = await peers[0].getStats();
  let frames = 0;
  report.forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") frames += s.framesDecoded || 0;
  });
  return frames > 0;
}
"""

ENDED = "() => !window.parlourCall.call || window.parlourCall.call.over"

# Two peer connections in one page, no server: how long WebRTC alone takes to first frame.
LOCAL_LOOP = """
async () => {
  const started = performance.now();
  const media = await navigator.mediaDevices.getUserMedia({audio: true, video: true});
  const a = new RTCPeerConnection(), b = new RTCPeerConnection();
  a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
  b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
  media.getTracks().forEach((t) => a.addTrack(t, media));
  await a.setLocalDescription(await a.createOffer());
  await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription(await b.createAnswer());
  await a.setRemoteDescription(b.localDescription);
  for (;;) {
    const report = await b.getStats();
    let frames = 0;
    report.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") frames += s.framesDecoded || 0;
    });
    if (frames > 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const took = performance.now() - started;
  media.getTracks().forEach((t) => t.stop());
  a.close(); b.close();
  return took;
}
"""


def chromium_path() -> str:
    path = os.environ.get("PARLOUR_CHROMIUM") or shutil.which("chromium")
    if path is None:
        sys.exit("The call benchmark needs Chromium (make chromium).")
    return path


async def signed_in_page(browser: Browser, server: Server, email: str) -> Page:
    context = await browser.new_context(base_url=server.url)
    answer = await context.request.post(
        "/api/v1/auth/signin", data={"email": email, "password": PASSWORD}
    )
    if not answer.ok:
        raise RuntimeError(await answer.text())
    return await context.new_page()


async def direct_chat(server: Server, a: User, b: User) -> str:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        made = await http.post(
            "/api/v1/conversations",
            json={"kind": "direct", "user_id": b.id},
            headers={"Authorization": f"Bearer {a.token}"},
        )
        made.raise_for_status()
        conversation_id: str = made.json()["id"]
        return conversation_id


async def decoding(page: Page) -> None:
    """Polls until the page's call decodes video. Not wait_for_function: it takes the promise
    of an async predicate for a truthy answer and returns at once."""
    deadline = time.monotonic() + MEDIA_MS / 1000
    while not await page.evaluate(FRAMES_FLOW):
        if time.monotonic() > deadline:
            raise TimeoutError("no video decoded")
        await asyncio.sleep(0.02)


async def one_call(caller: Page, callee: Page) -> tuple[float, float]:
    """Seconds from the click to the callee's ring, and to video decoded on both sides."""
    started = time.monotonic()
    await caller.get_by_role("button", name="Start a video call").click()
    await callee.get_by_role("button", name="Accept with video").click(timeout=MEDIA_MS)
    rang = time.monotonic()
    await decoding(caller)
    await decoding(callee)
    flowing = time.monotonic()
    await caller.get_by_role("button", name="Hang up").click()
    for page in (caller, callee):
        await page.wait_for_function(ENDED, timeout=MEDIA_MS)
        await page.evaluate("() => window.parlourCall.closeView()")
    return rang - started, flowing - started


async def set_up_times(server: Server, users: list[User], calls: int) -> dict[str, Any]:
    conversation = await direct_chat(server, users[0], users[1])
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=chromium_path(), headless=True, args=FLAGS
        )
        try:
            caller = await signed_in_page(browser, server, "bench0@example.org")
            callee = await signed_in_page(browser, server, "bench1@example.org")
            for page in (caller, callee):
                await page.goto(f"/chat/{conversation}")
                await page.locator("[data-conn]").filter(has_text="Connected").wait_for()
            floor = [await caller.evaluate(LOCAL_LOOP) / 1000 for _ in range(calls)]
            await one_call(caller, callee)  # warm-up: first media start-up is slower
            ring, flow = [], []
            for _ in range(calls):
                rang, flowing = await one_call(caller, callee)
                ring.append(rang)
                flow.append(flowing)
        finally:
            await browser.close()
    return {
        "calls": calls,
        "ring_seconds": summary(ring),
        "first_frame_seconds": summary(flow),
        "baseline_local_loop_seconds": summary(floor),
    }


async def _open(server: Server, user: User) -> tuple[Any, str]:
    ws = await websockets.connect(
        f"ws://{server.address}/api/v1/stream",
        additional_headers={"Authorization": f"Bearer {user.token}"},
        max_queue=None,
    )
    device = ""
    while True:
        frame = json.loads(await ws.recv())
        if frame["type"] == "hello":
            device = frame["device_id"]
        if frame["type"] == "ready":
            return ws, device


async def _answered_call(server: Server, a: User, b: User) -> tuple[Any, Any, str]:
    conversation = await direct_chat(server, a, b)
    caller, caller_device = await _open(server, a)
    callee, callee_device = await _open(server, b)
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        made = await http.post(
            "/api/v1/calls",
            json={"conversation_id": conversation, "device_id": caller_device},
            headers={"Authorization": f"Bearer {a.token}"},
        )
        made.raise_for_status()
        call_id: str = made.json()["id"]
        accepted = await http.post(
            f"/api/v1/calls/{call_id}/accept",
            json={"device_id": callee_device},
            headers={"Authorization": f"Bearer {b.token}"},
        )
        accepted.raise_for_status()
    return caller, callee, call_id


async def _receive(ws: Any, kind: str, count: int) -> float:
    got = 0
    while got < count:
        frame = json.loads(await ws.recv())
        if frame.get("type") == kind:
            got += 1
    return time.monotonic()


async def signalling_rate(server: Server, users: list[User], count: int) -> dict[str, Any]:
    caller, callee, call_id = await _answered_call(server, users[2], users[3])
    candidate = {
        "candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host",
        "sdpMid": "0",
    }
    frame = json.dumps(
        {
            "type": "call.signal",
            "call_id": call_id,
            "to": users[3].id,
            "kind": "ice",
            "payload": candidate,
        }
    )
    try:
        cpu_before = server.cpu_seconds()
        started = time.monotonic()
        receiving = asyncio.ensure_future(_receive(callee, "call.signal", count))
        for _ in range(count):
            await caller.send(frame)
        done = await receiving
        relay_rate = count / (done - started)
        relay_cpu = server.cpu_seconds() - cpu_before

        cpu_before = server.cpu_seconds()
        started = time.monotonic()
        receiving = asyncio.ensure_future(_receive(caller, "pong", count))
        for _ in range(count):
            await caller.send('{"type":"ping"}')
        done = await receiving
        ping_rate = count / (done - started)
        ping_cpu = server.cpu_seconds() - cpu_before
    finally:
        await caller.close()
        await callee.close()
    return {
        "frames": count,
        "relayed_per_second": round(relay_rate, 1),
        "server_cpu_ms_per_relay": round(relay_cpu * 1000 / count, 3),
        "baseline_pings_per_second": round(ping_rate, 1),
        "server_cpu_ms_per_ping": round(ping_cpu * 1000 / count, 3),
        "ratio_relay_to_ping": round(relay_rate / ping_rate, 2),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="parlour-bench-calls-") as folder,
        parlour_server(Path(folder)) as server,
    ):
        users = await make_users(server, 4)
        signals = await signalling_rate(server, users, args.signals)
        setup = await set_up_times(server, users, args.calls)
        peak = server.peak_rss_mib()
    return {
        "date": time.strftime("%Y-%m-%d"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "setup": setup,
        "signalling": signals,
        "server_peak_rss_mib": round(peak, 1),
    }


def report(result: dict[str, Any]) -> None:
    setup, signals = result["setup"], result["signalling"]
    floor = setup["baseline_local_loop_seconds"]
    flow = setup["first_frame_seconds"]
    print(f"\nCall set-up over {setup['calls']} calls (seconds, click to video both ways)")
    print(f"{'':24}{'p50':>8}{'p95':>8}")
    ring = setup["ring_seconds"]
    print(f"{'ringing shown':24}{ring['p50']:>8.3f}{ring['p95']:>8.3f}")
    print(f"{'first frame, Parlour':24}{flow['p50']:>8.3f}{flow['p95']:>8.3f}")
    print(f"{'first frame, no server':24}{floor['p50']:>8.3f}{floor['p95']:>8.3f}")
    print(f"{'ratio':24}{flow['p50'] / floor['p50']:>8.2f}{flow['p95'] / floor['p95']:>8.2f}")
    print(f"\nSignalling through one process ({signals['frames']} frames)")
    print(
        f"  ICE frames relayed:  {signals['relayed_per_second']:>9.1f}/s "
        f"({signals['server_cpu_ms_per_relay']} ms server CPU each)"
    )
    print(
        f"  pings answered:      {signals['baseline_pings_per_second']:>9.1f}/s "
        f"({signals['server_cpu_ms_per_ping']} ms server CPU each)"
    )
    print(f"  relay / ping:        {signals['ratio_relay_to_ping']:>9.2f}")
    print(f"\nServer peak RSS: {result['server_peak_rss_mib']} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20, help="calls to time (default 20)")
    parser.add_argument("--signals", type=int, default=5000, help="ICE frames to relay")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
