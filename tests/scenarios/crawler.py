"""The seed's crawler, for `pstree` through the agent (runs on CPython 3.10-3.14).

    crawler.py [TOKEN]

A TaskGroup "crawler" (gather on 3.10) holds one crawl_site task per site;
each crawls its pages in rounds, a TaskGroup of fetch_url leaves per round:
even pages are slow responses (asyncio.sleep), odd pages wait on a reply
that has not come (a Future). A heartbeat task sleeps 1 s in a loop.
It starts crawling 1 s after it starts (an agent watching it by then
knows each task's exact age). TOKEN only marks the command line. Runs
until killed.
"""
import asyncio
import sys

SITES = {"python.org": 4, "pypi.org": 3, "docs.python.org": 2}


async def fetch_url(site, page, reply):
    if page % 2:
        return await reply                      # no response yet
    await asyncio.sleep(30 + page * 4)          # a slow response
    return 200


async def crawl_site(site, pages):
    while True:
        reply = asyncio.get_running_loop().create_future()
        if hasattr(asyncio, "TaskGroup"):
            async with asyncio.TaskGroup() as tg:
                for p in range(pages):
                    tg.create_task(fetch_url(site, p, reply), name="fetch_url %s/page%d" % (site, p))
                await asyncio.sleep(20)
                reply.set_result(200)
        else:
            ts = [asyncio.create_task(fetch_url(site, p, reply), name="fetch_url %s/page%d" % (site, p))
                  for p in range(pages)]
            await asyncio.sleep(20)
            reply.set_result(200)
            await asyncio.gather(*ts)


async def heartbeat():
    while True:
        await asyncio.sleep(1)


async def crawler():
    if hasattr(asyncio, "TaskGroup"):
        async with asyncio.TaskGroup() as tg:
            for site, pages in SITES.items():
                tg.create_task(crawl_site(site, pages), name="crawl_site %s" % site)
    else:
        await asyncio.gather(*(asyncio.create_task(crawl_site(s, n), name="crawl_site %s" % s)
                               for s, n in SITES.items()))


async def main():
    await asyncio.sleep(1)                      # starting up (config, connections)
    hb = asyncio.create_task(heartbeat(), name="heartbeat")
    await asyncio.create_task(crawler(), name="crawler")
    await hb


asyncio.run(main())
