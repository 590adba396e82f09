"""The host agent (issue 13): `aps-bpf agent` with its default settings
(loop mode, 49 Hz sampler, 1 s task snapshots) watching 20 Python processes
(pyenv 3.12): 10 idle, 10 under load (bench/agent_workload.py: a request task every
10 ms, a few % of a CPU each). Its CPU (utime + stime over the window, as a
share of one CPU) and its peak RSS (VmHWM); and the loaded processes'
throughput (requests finished per second) with and without the agent,
interleaved rounds.
"""
import os
import socket
import subprocess
import tempfile
import time

from benchlib import APS, BENCH, BenchError, Figure, Proc, judge, median, start_target

WORKLOAD = os.path.join(BENCH, "agent_workload.py")
LABEL = "pyenv-3.12"
IDLE = LOAD = 10
WARMUP = 15.0         # the agent finds them; its first reads of each
SECONDS = 30.0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_agent(scratch):
    """The agent with its defaults, but for where it listens and writes."""
    argv = [APS, "agent", "--match", "cmd:agent_workload", "--listen", f"127.0.0.1:{free_port()}",
            "--socket", os.path.join(scratch, "agent.sock"),
            "--dump-dir", os.path.join(scratch, "dumps")]
    return Proc(argv, stdout=subprocess.DEVNULL)


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def watched(scratch):
    r = subprocess.run([APS, "agent", "--socket", os.path.join(scratch, "agent.sock"), "status"],
                       capture_output=True, text=True)
    return len(r.stdout.splitlines()) - 1 if r.returncode == 0 else -1


def run_round(ctx, interp, with_agent):
    scratch = tempfile.mkdtemp(prefix="aps-bench-agent.")
    targets, agent, res = [], None, {}
    try:
        for i in range(IDLE + LOAD):
            t, _ = start_target(interp.cmd(WORKLOAD, "idle" if i < IDLE else "load"))
            targets.append(t)
        if with_agent:
            agent = start_agent(scratch)
        time.sleep(WARMUP)
        if with_agent:
            res["watched"] = watched(scratch)
            c0 = cpu_s(agent.pid)
        for t in targets:
            t.send("go\n")
        t0 = time.monotonic()
        time.sleep(SECONDS)
        if with_agent:
            res["agent_cpu"] = (cpu_s(agent.pid) - c0) / (time.monotonic() - t0)
            res["agent_rss_mb"] = rss_kb(agent.pid, "VmRSS") / 1024
            res["agent_hwm_mb"] = rss_kb(agent.pid, "VmHWM") / 1024
        for t in targets:
            t.send("stop\n")
        rates = []
        for t in targets[IDLE:]:
            _, done, secs = t.line("DONE", 30)
            rates.append(int(done) / float(secs))
        res["req_per_s"] = sum(rates)
    finally:
        for t in targets:
            t.kill()
        if agent:
            agent.kill()
        subprocess.run(["rm", "-rf", scratch])
    return res


def run(ctx):
    interp = ctx.interp(LABEL)
    if interp is None:
        raise BenchError(f"{LABEL} is not in the test bed")
    rounds = 1 if ctx.quick else 3
    with_, without = [], []
    for r in range(rounds):
        without.append(run_round(ctx, interp, False))
        with_.append(run_round(ctx, interp, True))
        ctx.log(f"  agent round {r + 1}: {with_[-1]}; untraced {without[-1]['req_per_s']:.0f} req/s")
    cpu = median(x["agent_cpu"] * 100 for x in with_)
    hwm = max(x["agent_hwm_mb"] for x in with_)
    base, traced = median(x["req_per_s"] for x in without), median(x["req_per_s"] for x in with_)
    loss = (base - traced) / base * 100 if base else None
    losses = [(w0["req_per_s"] - w1["req_per_s"]) / w0["req_per_s"] * 100
              for w0, w1 in zip(without, with_)]
    n = min(x["watched"] for x in with_)
    figures = [
        Figure("agent: CPU, 20 processes (10 idle, 10 loaded)", cpu, "%", "≤ 1 % of a CPU",
               judge(cpu, 1.0), f"median of {rounds} (" + ", ".join(f"{x['agent_cpu'] * 100:.2f}"
                                                               for x in with_)
               + f" %); {n} processes watched; defaults (loop mode, 49 Hz sampler, 1 s snapshots)"),
        Figure("agent: peak RSS, 20 processes", hwm, "MB", "≤ 200 MB", judge(hwm, 200),
               "VmHWM, the largest of the rounds"),
        Figure("agent: loaded targets' throughput lost", loss, "%", "≤ 2 %",
               judge(max(losses), 2.0) if losses else None,
               f"{traced:.0f} vs {base:.0f} req/s untraced (10 processes); per round "
               + ", ".join(f"{x:+.1f}%" for x in losses)),
    ]
    return figures, {"with_agent": with_, "untraced": without}
