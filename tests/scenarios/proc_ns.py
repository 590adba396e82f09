"""Tasks on two threads, for test_procs.py pidns@BED (run in a PID namespace;
not the _harness protocol).

Loops on the main thread ("main-0", "main-1") and on a second thread
("thr-0", "thr-1"); each task sleeps 50 ms in a loop. On the second
thread, "thr-block" blocks its loop for 120 ms every 300 ms (time.sleep in
a step), for `blocked` and `check`. Prints
`READY {"main": TID, "thr": TID}` (threading.get_native_id(): ids in its
own PID namespace) and runs until stdin closes.
"""
import asyncio
import json
import sys
import threading
import time

ids = {}
ready = threading.Event()


async def ticker():
    while True:
        await asyncio.sleep(0.05)


async def block():
    while True:
        await asyncio.sleep(0.3)
        time.sleep(0.12)


async def run(tag):
    ids[tag] = threading.get_native_id()
    for i in range(2):
        asyncio.create_task(ticker(), name=f"{tag}-{i}")
    if tag == "thr":
        asyncio.create_task(block(), name="thr-block")
        ready.set()
        await asyncio.sleep(3600)
    else:
        ready.wait()
        await asyncio.sleep(0.2)
        print("READY " + json.dumps(ids), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


threading.Thread(target=lambda: asyncio.run(run("thr")), daemon=True).start()
asyncio.run(run("main"))
