"""park_noasyncio: a Python process that never imports asyncio: READY, then
sleep until killed."""
import os
import sys
import time

assert "asyncio" not in sys.modules and "_asyncio" not in sys.modules
sys.stdout.write("EXPECT {}\nREADY %d\n" % os.getpid())
sys.stdout.flush()
while True:
    time.sleep(3600)
