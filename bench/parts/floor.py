"""Floor: the cost of one uprobe hit, on our own C program (bench/floor.c).

floor_target() starts with `push %rbp`, which the kernel emulates (checked
with objdump here); the instruction after it (`mov %rsp,%rbp`) is one the
kernel single-steps, probed as a reference. Runs of N calls untraced, with
an empty uprobe at the entry, with an empty uretprobe, and with an empty
uprobe on the second instruction, interleaved; ns per hit = the median ns
per call minus the untraced median.
"""
import re
import subprocess

from benchlib import BenchError, Figure, interleave, median

# x86-64 instructions the kernel's uprobes emulate instead of single-stepping
# (arch/x86/kernel/uprobes.c: push of a register, nop, jmp, call, jcc)
EMULATED = re.compile(r"^(push|nop|jmp|call|j[a-z]+)\b")
FUNC = "floor_target"


def disassemble(binary):
    """[(offset in the function, instruction text)] of FUNC."""
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", f"--disassemble={FUNC}", binary],
                         capture_output=True, text=True, check=True).stdout
    insns = []
    for line in out.splitlines():
        m = re.match(r"^\s*([0-9a-f]+):\s+(\S.*)$", line)
        if m:
            insns.append((int(m.group(1), 16), " ".join(m.group(2).split())))
    if not insns:
        raise BenchError(f"objdump finds no {FUNC} in {binary}")
    base = insns[0][0]
    return [(addr - base, text) for addr, text in insns]


def probe_points(binary):
    """(entry instruction, offset and text of the next, single-stepped one)."""
    insns = disassemble(binary)
    (_, first), (second_off, second) = insns[0], insns[1]
    if not EMULATED.match(first):
        raise BenchError(f"{FUNC} starts with `{first}`, which uprobes single-step: "
                         "the floor needs an emulated instruction (push %rbp or nop)")
    if EMULATED.match(second):
        raise BenchError(f"{FUNC}'s second instruction `{second}` is emulated too")
    return first, second_off, second


def run_floor(binary, mode, calls, offset=0):
    """ns per call of one run; checks that every call was probed."""
    r = subprocess.run([binary, mode, str(calls), str(offset)], capture_output=True, text=True)
    if r.returncode:
        raise BenchError(f"floor {mode}: exit {r.returncode}: {r.stderr.strip()}")
    ns, hits = r.stdout.split()
    if mode != "none" and int(hits) != calls:
        raise BenchError(f"floor {mode}: {hits} probe hits for {calls} calls")
    return float(ns)


def run(ctx):
    calls = 20000 if ctx.quick else 100000
    first, step_off, second = probe_points(ctx.floor_bin)
    ctx.log(f"floor: {FUNC} starts with `{first}` (emulated); single-stepped reference: "
            f"`{second}` at +{step_off}; {calls} calls per run")
    modes = {"untraced": ("none", 0), "uprobe": ("uprobe", 0),
             "uretprobe": ("uretprobe", 0), "uprobe_stepped": ("uprobe", step_off)}
    samples = interleave(list(modes), ctx.reps, lambda m: run_floor(ctx.floor_bin, modes[m][0], calls,
                                                                    modes[m][1]), ctx.log)
    med = {m: median(v) for m, v in samples.items()}
    per_hit = {m: med[m] - med["untraced"] for m in modes if m != "untraced"}
    ctx.floor_ns = per_hit["uprobe"]
    figures = [
        Figure(f"floor: uprobe hit, emulated (`{first}`)", per_hit["uprobe"], "ns"),
        Figure("floor: uretprobe hit (entry + return)", per_hit["uretprobe"], "ns"),
        Figure(f"floor: uprobe hit, single-stepped (`{second}`), reference",
               per_hit["uprobe_stepped"], "ns"),
    ]
    raw = {"calls_per_run": calls, "entry_instruction": first, "stepped_instruction": second,
           "stepped_offset": step_off, "ns_per_call": samples, "median_ns_per_call": med,
           "ns_per_hit": per_hit}
    return figures, raw
