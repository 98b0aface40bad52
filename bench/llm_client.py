"""The LLM client alone: streamed requests against the fake OpenAI server in its own process.

    python bench/llm_client.py --transport lean|trio [--requests 150]

``lean``: the pooled client as ``serve`` runs it (``LeanTransport``: httpcore's pool
over the lean TLS stream); ``trio``: httpx's own transport (Trio's ``SSLStream``).
One request at a time (a 300-word prompt, a short streamed reply read to its end);
prints the time from the request's start to its arrival at the fake (both processes
on CLOCK_MONOTONIC) and this process's CPU per request, after 5 warm-up requests.
Under callgrind the difference between two ``--requests`` counts gives the
instructions per request, whatever the box's load.
"""

from __future__ import annotations

import argparse
import os
import time

import httpx
import trio
from fake_records import MonotonicClock
from procs import Fakes
from rig import Budget

from agent.base.tls import client_context
from agent.providers.llm.lean_http import LeanTransport

WARM_UP = 5


async def main_async(args: argparse.Namespace) -> None:
    fakes = Fakes(Budget(llm_first_token_ms=5, llm_token_ms=1), ["--monotonic-clock"], nice=0)
    os.environ["VOICE_AGENT_CA_FILE"] = fakes.env["VOICE_AGENT_CA_FILE"]
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    if args.transport == "lean":
        client = httpx.AsyncClient(transport=LeanTransport(client_context(), limits))
    else:
        client = httpx.AsyncClient(limits=limits, verify=client_context())
    url = fakes.env["LLM_BASE_URL"].rstrip("/") + "/chat/completions"
    body = {
        "model": "llama-3.3-70b-versatile",
        "stream": True,
        "messages": [{"role": "user", "content": "hello " * 300}],
    }
    headers = {"Authorization": "Bearer test-key"}
    starts: list[float] = []
    async with client:
        for i in range(WARM_UP + args.requests):
            if i == WARM_UP:
                cpu = time.process_time()
            starts.append(trio.current_time())
            async with client.stream("POST", url, json=body, headers=headers) as response:
                async for _ in response.aiter_bytes():
                    pass
        cpu = time.process_time() - cpu
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
    parser.add_argument("--transport", choices=("lean", "trio"), default="lean")
    parser.add_argument("--requests", type=int, default=150)
    trio.run(main_async, parser.parse_args(), clock=MonotonicClock())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
