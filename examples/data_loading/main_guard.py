# %% [markdown]
# # Why DataLoader workers need the main guard
#
# The original answer's example creates a `DataLoader` with workers and iterates over it at the
# top level of the script. That runs on Linux up to Python 3.13, where workers are forked, and
# crashes wherever workers are started with "spawn" (Windows, macOS) or "forkserver" (Linux from
# Python 3.14). This program writes that code, and the same code with a main guard, to a
# temporary folder, runs each as its own Python process under each start method, and checks
# the exit codes and error messages from the outside.
# Run it with `python examples/data_loading/main_guard.py`.

# %%
import concurrent.futures
import multiprocessing
import pathlib
import subprocess
import sys
import tempfile
import textwrap
import time

start = time.perf_counter()

TIMEOUT_S = 150  # per child process; a normal run takes seconds
AVAILABLE = multiprocessing.get_all_start_methods()  # Windows has only "spawn"
print(f"Python {sys.version.split()[0]} on {sys.platform}")
print(f"start methods available here: {AVAILABLE}; default: {multiprocessing.get_start_method()}")

# %% [markdown]
# ## The two scripts
#
# The first is a reconstruction of the original answer's pattern: a `Dataset` class, a
# `DataLoader(..., shuffle=True, num_workers=...)`, and the loop, all at module level. (It uses
# 2 workers instead of the original's 4 to keep this program quick on two cores; the failure
# does not depend on the number.) The loop counts batches and prints the count, so that a run
# that finishes can be told apart from one that does not. The second script is the same code
# with the work moved into `main()`, called under the guard; the `Dataset` class stays at the
# top level, where the workers can import it.

# %%
ORIGINAL = '''
import torch
from torch.utils.data import DataLoader, Dataset


class MyDataset(Dataset):
    def __init__(self, data, labels):
        self.data = data
        self.labels = labels

    def __len__(self):
        return len(self.data)

    def __getitem__(self, idx):
        return self.data[idx], self.labels[idx]


data = torch.randn(1000, 10)
labels = torch.randint(0, 2, (1000,))
dataset = MyDataset(data, labels)
dataloader = DataLoader(dataset, batch_size=32, shuffle=True, num_workers=2)

num_batches = 0
for inputs, targets in dataloader:
    num_batches += 1  # the training step goes here
print(f"epoch done: {num_batches} batches")
'''

GUARDED = '''
import torch
from torch.utils.data import DataLoader, Dataset


class MyDataset(Dataset):
    def __init__(self, data, labels):
        self.data = data
        self.labels = labels

    def __len__(self):
        return len(self.data)

    def __getitem__(self, idx):
        return self.data[idx], self.labels[idx]


def main():
    data = torch.randn(1000, 10)
    labels = torch.randint(0, 2, (1000,))
    dataset = MyDataset(data, labels)
    dataloader = DataLoader(dataset, batch_size=32, shuffle=True, num_workers=2)

    num_batches = 0
    for inputs, targets in dataloader:
        num_batches += 1  # the training step goes here
    print(f"epoch done: {num_batches} batches")


if __name__ == "__main__":
    main()
'''


def with_start_method(source, method):
    """The script, preceded by the start method that another platform would use by default.

    `force=True` because under spawn and forkserver every worker runs these lines again.
    """
    header = textwrap.dedent(f"""\
        # Added by main_guard.py: start workers with "{method}", as the default on
        # Windows/macOS (spawn) or on Linux from Python 3.14 (forkserver) would.
        import multiprocessing
        multiprocessing.set_start_method("{method}", force=True)
        """)
    return header + source


# %% [markdown]
# ## Running them
#
# Each script runs in a fresh interpreter (`sys.executable`), so nothing in this process (or in
# the Jupyter kernel that renders this page) influences it. The runs go in parallel; every one
# has a timeout.

# %%
runs = [("original", "fork"), ("original", "spawn"), ("original", "forkserver"),
        ("guarded", "spawn"), ("guarded", "forkserver")]
runs = [(script, method) for script, method in runs if method in AVAILABLE]


def run_script(folder, script, method):
    path = folder / f"{script}_{method}.py"
    path.write_text(with_start_method(ORIGINAL if script == "original" else GUARDED, method))
    tick = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                              timeout=TIMEOUT_S, cwd=folder, check=False)  # failing is expected
        returncode, stdout, stderr = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired:
        returncode, stdout, stderr = None, "", f"timed out after {TIMEOUT_S} s"
    return {"script": script, "method": method, "returncode": returncode, "stdout": stdout,
            "stderr": stderr, "seconds": time.perf_counter() - tick}


with (tempfile.TemporaryDirectory() as tmp,
      concurrent.futures.ThreadPoolExecutor(max_workers=len(runs)) as pool):
    futures = [pool.submit(run_script, pathlib.Path(tmp), s, m) for s, m in runs]
    results = {(r["script"], r["method"]): r for r in (f.result() for f in futures)}


def outcome(result):
    if result["returncode"] == 0:
        return result["stdout"].strip().splitlines()[-1]
    if "bootstrapping phase" in result["stderr"]:
        return "RuntimeError: new process started before bootstrapping finished"
    return (result["stderr"].strip().splitlines() or ["(no output)"])[-1]


print(f"{'script':<10}{'start method':<14}{'exit code':>10}   outcome")
for (script, method), result in results.items():
    print(f"{script:<10}{method:<14}{result['returncode']!s:>10}   {outcome(result)}")

# %% [markdown]
# Under "fork" the worker is a copy of the running parent: it starts inside the DataLoader
# machinery and never executes the script, so the unguarded code works. Under "spawn" a worker
# is a new interpreter that imports the main script (as `__mp_main__`) to find `MyDataset`;
# "forkserver" does the same once, in its server process. Importing the unguarded script runs
# its top level again, which builds a `DataLoader` and asks for workers of its own, and
# `multiprocessing` refuses to start processes from a process that is still starting. The worker
# dies, and the parent reports that its worker exited unexpectedly. The guarded script imports
# cleanly: only the class definition and `main` are defined, nothing runs.
#
# The error the worker prints says exactly this:

# %%
spawn_error = results[("original", "spawn")]["stderr"]
message = spawn_error[spawn_error.index("An attempt has been made"):].splitlines()
print("\n".join(line.rstrip() for line in message[:12]))

# %% [markdown]
# ## Checks

# %%
for (script, method), result in results.items():
    code, stderr_tail = result["returncode"], result["stderr"][-600:]
    if script == "guarded" or method == "fork":
        assert code == 0, f"{script} under {method} should work, exit code {code}: {stderr_tail}"
        assert result["stdout"].strip().endswith("epoch done: 32 batches"), (
            f"{script} under {method}: unexpected output {result['stdout']!r}"
        )
    else:
        assert code not in (0, None), f"{script} under {method} should fail, exit code {code}"
        assert "bootstrapping phase" in result["stderr"], (
            f"{script} under {method}: the bootstrapping error is missing: {stderr_tail}"
        )
        assert "exited unexpectedly" in result["stderr"], (
            f"{script} under {method}: the DataLoader error is missing: {stderr_tail}"
        )
assert ("original", "spawn") in results and ("guarded", "spawn") in results, "spawn did not run"
print(f"wall time: {time.perf_counter() - start:.1f} s")
