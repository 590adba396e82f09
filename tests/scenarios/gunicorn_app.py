"""An aiohttp app for gunicorn's aiohttp workers (not the _harness protocol:
for tests/integration/test_procs.py gunicorn@debian-3.11), a real prefork
server:

    python3 -m gunicorn -w 2 -k aiohttp.GunicornWebWorker -b HOST:PORT \
        --chdir tests/scenarios gunicorn_app:app

GET /work: the handler awaits a task named "req-<worker pid>-<n>" (n counts
that worker's requests) that sleeps 200 ms, and answers
"<worker pid> <task name>".
"""
import asyncio
import os

from aiohttp import web

served = 0


async def work(request):
    global served
    served += 1
    name = f"req-{os.getpid()}-{served}"
    await asyncio.create_task(asyncio.sleep(0.2), name=name)
    return web.Response(text=f"{os.getpid()} {name}\n")


app = web.Application()
app.router.add_get("/work", work)
