"""The service of issue 12: aiohttp on uvloop (Debian's python3-aiohttp and
python3-uvloop on /usr/bin/python3.11), one JSON hello-world route.

Listens on 127.0.0.1, a free port; prints `READY <pid> <port>` once
serving; runs until killed.
"""
import asyncio
import os
import socket

import uvloop
from aiohttp import web


async def hello(request):
    return web.json_response({"hello": "world"})


async def main():
    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, sock)
    await site.start()
    print("READY", os.getpid(), sock.getsockname()[1], flush=True)
    await asyncio.Event().wait()


uvloop.install()
asyncio.run(main())
