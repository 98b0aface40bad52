"""The LLM client alone: streamed requests against the fake OpenAI server in its own process.

    python bench/llm_client.py --transport lean|httpx [--requests 150]

``lean``: the pooled client as ``serve`` runs it (``Http1Pool``: h11 on the lean TLS
stream); ``httpx``: an ``httpx.AsyncClient`` (its own pool, Trio's ``SSLStream``),
what ``serve`` uses when the environment names a proxy.
One request at a time (a 300-word prompt, a short streamed reply read to its end);
prints the time from the request's start to its arrival at the fake (both processes
on CLOCK_MONOTONIC) and this process's CPU per request, after 5 warm-up requests.
Under callgrind the difference between two ``--requests`` counts gives the
instructions per request, whatever the box's load.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import httpx
import trio
from fake_records import MonotonicClock
from procs import Fakes
from rig import Budget

from agent.base.tls import client_context
from agent.providers.llm.http1 import Http1Pool

WARM_UP = 5


async def main_async(args: argparse.Namespace) -> None:
    fakes = Fakes(Budget(llm_first_token_ms=5, llm_token_ms=1), ["--monotonic-clock"], nice=0)
    os.environ["VOICE_AGENT_CA_FILE"] = fakes.env["VOICE_AGENT_CA_FILE"]
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    client = httpx.AsyncClient(limits=limits, verify=client_context())
    pool = Http1Pool(client_context())
    url = fakes.env["LLM_BASE_URL"].rstrip("/") + "/chat/completions"
    body = {
        "model": "llama-3.3-70b-versatile",
        "stream": True,
        "messages": [{"role": "user", "content": "hello " * 300}],
    }
    headers = {"Authorization": "Bearer test-key", "Content-Type": "application/json"}
    starts: list[float] = []
    async with client:
        for i in range(WARM_UP + args.requests):
            if i == WARM_UP:
                cpu = time.process_time()
            starts.append(trio.current_time())
            if args.transport == "lean":  # as OpenAICompatibleLLM._stream_lean
                payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
                async with pool.post(
                    url, headers, payload, provider="bench", connect_timeout=5, read_timeout=10
                ) as lean_response:
                    while await lean_response.receive_some():
                        pass
                continue
            async with client.stream("POST", url, json=body, headers=headers) as response:
                async for _ in response.aiter_bytes():
                    pass
        cpu = time.process_time() - cpu
    await pool.aclose()
    arrived = [received for received, _ in fakes.ask("records", "records")["openai"]]
    fakes.stop()
    ms = sorted((a - s) * 1000 for s, a in zip(starts[WARM_UP:], arrived[WARM_UP:], strict=True))
    print(
        f"{args.transport}: {len(ms)} requests, request -> at the fake p50 {ms[len(ms) // 2]:.2f}"
        f" p90 {ms[int(len(ms) * 0.9)]:.2f} max {ms[-1]:.2f} ms;"
        f" this process's CPU per request {cpu / args.requests * 1000:.2f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--transport", choices=("lean", "httpx"), default="lean")
    parser.add_argument("--requests", type=int, default=150)
    trio.run(main_async, parser.parse_args(), clock=MonotonicClock())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
