"""loop_stalls: the loop stalls three ways, one at a time, per `which` (argv[1]):
  timer  - a loop.call_later callback sleeps 0.3 s (no task runs it)
  proto  - an asyncio server's Protocol.data_received sleeps 0.2 s per request
  task   - a task step sleeps 0.3 s
  none   - no stall: a ticker, a busy echo server and client (the no-false-stall case)
A ticker task runs every 5 ms throughout. Prints READY <pid>, waits for a line
on stdin, runs ~2 s, prints DONE, exits.
"""
import asyncio
import os
import sys
import time

WHICH = sys.argv[1] if len(sys.argv) > 1 else "timer"
ROUNDS = 3


def on_timer(loop, left):
    time.sleep(0.3)                             # STALL-TIMER
    if left > 1:
        loop.call_later(0.3, on_timer, loop, left - 1)


class Slow(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        if WHICH == "proto":
            time.sleep(0.2)                     # STALL-PROTO
        self.transport.write(data)


async def stalling_task():
    for _ in range(ROUNDS):
        time.sleep(0.3)                         # STALL-TASK
        await asyncio.sleep(0.3)


async def ticker(stop):
    while not stop.is_set():
        await asyncio.sleep(0.005)


async def client(port, n):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(n):
        w.write(b"ping\n")
        await r.readline()
        if WHICH == "proto":
            await asyncio.sleep(0.3)
    w.close()


async def main():
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    tick = asyncio.create_task(ticker(stop), name="ticker")
    if WHICH == "timer":
        loop.call_later(0.1, on_timer, loop, ROUNDS)
        await asyncio.sleep(ROUNDS * 0.6 + 0.3)
    elif WHICH == "task":
        await asyncio.create_task(stalling_task(), name="stalling")
    else:
        server = await loop.create_server(Slow, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        if WHICH == "proto":
            await client(port, ROUNDS)
        else:
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                await asyncio.gather(*(client(port, 50) for _ in range(4)))
        server.close()
    stop.set()
    await tick
    print("DONE", flush=True)


print("READY", os.getpid(), flush=True)
sys.stdin.readline()
asyncio.run(main())
