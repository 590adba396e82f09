import subprocess, sys, os
py = sys.argv[3]
env = dict(os.environ, APS_SCENARIO_NO_WAIT="1", PYTHONDONTWRITEBYTECODE="1")
r = subprocess.run(["./aps-bpf", "trace", "-v", "--json", "--", py, "tests/scenarios/basic.py", "/tmp/gt.json"], capture_output=True, text=True, env=env)
print("RC", r.returncode, len(r.stdout.splitlines()))
print(r.stderr[-20000:])
