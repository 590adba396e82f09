"""park_taskgroups: TaskGroups nested two deep, every task parked.

    Task-1 (main, unnamed)        owns group "outer"
    ├── outer.sleeper             asyncio.sleep(3600)
    ├── outer.future              awaits a Future nobody resolves
    └── outer.mid                 owns group "inner"
        ├── inner.x               asyncio.sleep(3600)
        └── (unnamed)             awaits a Future

On 3.10 (no TaskGroup) the owners gather their children instead (a note
says so): same tasks, same edges, same user frames.
"""
import asyncio

import park_common as pc


async def sleeper():
    await asyncio.sleep(3600)


async def parked():
    await pc.forever()


async def mid():
    await pc.group("3.10: TaskGroup emulated with gather",
                   [(sleeper(), "inner.x"), (parked(), None)])


async def main():
    pc.me()
    pc.announce_when_parked("park_taskgroups")
    await pc.group("3.10: TaskGroup emulated with gather",
                   [(sleeper(), "outer.sleeper"), (parked(), "outer.future"),
                    (mid(), "outer.mid")])


if __name__ == "__main__":
    asyncio.run(main())
