"""An HTTP/1.1 keep-alive server on asyncio streams (asyncio.start_server),
for bench/run.py's server part: every request costs a fixed amount of CPU
(ITERATIONS of a loop), then gets a small body with Content-Length.

    python3 http_server.py ITERATIONS
    python3 http_server.py --calibrate WORK_US

Listens on 127.0.0.1, a free port; prints `READY <pid> <port>` once
listening, then serves until killed. --calibrate prints the ITERATIONS
that take WORK_US microseconds here (calibrated once, so that every run
compared does the same work per request).
"""
import asyncio
import os
import sys
import time

BODY = b"hello from asyncio\n"
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
            % (len(BODY), BODY))


def spin(n):
    x = 0
    for i in range(n):
        x += i
    return x


def calibrate(work_us):
    """Iterations of spin() that take work_us (the fastest of 20 tries)."""
    n = 100000
    best = min(_timed(spin, n) for _ in range(20))
    return max(1, round(n * work_us * 1e-6 / best))


def _timed(fn, arg):
    t0 = time.perf_counter()
    fn(arg)
    return time.perf_counter() - t0


async def handle(reader, writer, iterations):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            spin(iterations)
            writer.write(RESPONSE)
            await writer.drain()
            if b"connection: close" in head.lower():
                break
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(iterations):
    server = await asyncio.start_server(lambda r, w: handle(r, w, iterations), "127.0.0.1", 0,
                                        backlog=1024)
    print("READY", os.getpid(), server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if sys.argv[1] == "--calibrate":
        print(calibrate(float(sys.argv[2])))
    else:
        asyncio.run(main(int(sys.argv[1])))
