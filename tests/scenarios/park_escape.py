"""park_escape: tasks whose names hold terminal escape sequences and control
characters, and one 1000-character name, parked under main (gather)."""
import asyncio

import park_common as pc

NAMES = ["\x1b]0;pwned\x07", "two\nlines", "tab\there\r", "bell\x07\x1b[31mred",
         "long-" + "0123456789" * 100]


async def leaf():
    await pc.forever()


async def main():
    owner = pc.me()
    kids = [pc.spawn(leaf(), n) for n in NAMES]
    for k in kids:
        pc.edge(k, owner)
    pc.announce_when_parked("park_escape")
    await asyncio.gather(*kids)


if __name__ == "__main__":
    asyncio.run(main())
