# %% [markdown]
# # Why DataLoader workers need the main guard
#
# The original answer's example creates a `DataLoader` with workers and iterates over it at the
# top level of the script. That runs on Linux up to Python 3.13, where workers are forked, and
# crashes wherever workers are started with "spawn" (Windows, macOS) or "forkserver" (Linux from
# Python 3.14). This program writes that code, and the same code with a main guard, to a
# temporary folder, runs each as its own Python process under each start method, and checks
# the exit codes and error messages from the outside. It also times the guarded script's
# epochs, to show what starting the workers costs under each start method.
# Run it with `python examples/data_loading/main_guard.py`.

# %%
import concurrent.futures
import multiprocessing
import pathlib
import re
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
# The first is the original answer's code, quoted whole (its Chinese comments translated): a
# `Dataset` over `range(100)`, a `DataLoader(batch_size=10, num_workers=4)` and a loop that does
# nothing, all at module level. One line is added at the end, a print, so that a run that
# finishes can be told apart from one that does not. The second script is the fix: the same
# `Dataset` class at the top level, where the workers can import it, and the work in `main()`,
# called under the guard. It times each of two epochs, so that the cost of starting the workers
# under each start method can be read off. (It uses 2 workers, not 4, to keep this program
# quick on two cores: under "spawn" every worker of every epoch imports torch again.)

# %%
ORIGINAL = '''
from torch.utils.data import DataLoader, Dataset

# Create a custom Dataset class to load the data
class MyDataset(Dataset):
    def __init__(self, data):
        self.data = data

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        return self.data[index]

# Create a DataLoader object, using num_workers to set the number of workers
my_data = range(100)
my_dataset = MyDataset(my_data)
my_dataloader = DataLoader(my_dataset, batch_size=10, num_workers=4)

# Iterate over the DataLoader object, loading data asynchronously
for batch in my_dataloader:
    # Process the batch data here
    pass
print(f"epoch done: {len(my_dataloader)} batches")  # added by main_guard.py
'''

GUARDED = '''
import time

from torch.utils.data import DataLoader, Dataset


class MyDataset(Dataset):  # top level: spawned workers import it from this file
    def __init__(self, data):
        self.data = data

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        return self.data[index]


def main():  # runs only when the file is executed, never when a worker imports it
    my_dataset = MyDataset(range(100))
    my_dataloader = DataLoader(my_dataset, batch_size=10, num_workers=2)
    for epoch in (1, 2):
        tick = time.perf_counter()
        for batch in my_dataloader:
            pass  # process the batch here
        seconds = time.perf_counter() - tick
        print(f"epoch {epoch}: {len(my_dataloader)} batches in {seconds:.3f} s")


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
# the Jupyter kernel that renders this page) influences it. The three runs of the original go
# in parallel, then the three runs of the guarded script; every one has a timeout.

# %%
METHODS = [method for method in ("fork", "spawn", "forkserver") if method in AVAILABLE]


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


results = {}
with tempfile.TemporaryDirectory() as tmp:
    for script in ("original", "guarded"):  # the guarded runs are timed: not beside the others
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(METHODS)) as pool:
            futures = [pool.submit(run_script, pathlib.Path(tmp), script, m) for m in METHODS]
            results.update({(script, f.result()["method"]): f.result() for f in futures})


def outcome(result):
    if result["returncode"] == 0:
        lines = result["stdout"].strip().splitlines()
        return lines[-1] if result["script"] == "original" else f"{len(lines)} epochs done"
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
# under "forkserver" the script is imported too (by each worker, or once by the server process:
# see the timings below). Importing the unguarded script runs
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
# ## What starting the workers costs
#
# The guarded script has no `persistent_workers`, so each of its two epochs starts its two
# workers afresh, and the time of an epoch is mostly the time to start them (the work itself,
# ten batches of ten numbers, is negligible). The times depend on the machine and on what
# else it runs; the comparisons between start methods do not.

# %%
EPOCH_LINE = re.compile(r"epoch (\d+): (\d+) batches in ([0-9.]+) s")
epoch_seconds = {}  # start method -> [seconds of epoch 1, seconds of epoch 2]
for method in METHODS:
    matches = EPOCH_LINE.findall(results[("guarded", method)]["stdout"])
    epoch_seconds[method] = [float(seconds) for _, _, seconds in matches]

print("guarded script: seconds per epoch; every epoch starts its 2 workers")
print(f"{'start method':<14}{'epoch 1':>9}{'epoch 2':>9}")
for method, times in epoch_seconds.items():
    print(f"{method:<14}" + "".join(f"{t:>9.3f}" for t in times))

# %% [markdown]
# Under "fork" starting the workers costs little: each is a copy of the running process, with
# torch already imported. Under "spawn" every epoch starts two new interpreters, each of which
# imports torch and the script again, so the second epoch costs about as much as the first,
# many times what an epoch costs under "fork". "forkserver" forks its workers from a server
# process that is meant to import the main script once, so that later workers start cheaply;
# but until a CPython fix in 2025 (issues gh-126631 and gh-137996) the server never imported it,
# and every worker imported torch and the script itself, as under "spawn". The table shows
# which of the two the Python that ran this page does (its version is printed at the top).
# Without `persistent_workers`, the start-up is paid in every epoch (and in every pass over a
# validation loader); with `persistent_workers=True` it is paid once.
#
# ## Checks

# %%
for (script, method), result in results.items():
    code, stderr_tail = result["returncode"], result["stderr"][-600:]
    if script == "guarded" or method == "fork":
        assert code == 0, f"{script} under {method} should work, exit code {code}: {stderr_tail}"
        expected = "epoch done: 10 batches" if script == "original" else "epoch 2: 10 batches"
        assert expected in result["stdout"], (
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
for method, times in epoch_seconds.items():
    assert len(times) == 2, f"guarded under {method}: expected two timed epochs, got {times}"
# Timings: only comparisons made in this run, with wide margins. Fork exists wherever
# forkserver does (not on Windows, where only spawn runs and there is nothing to compare).
if "fork" in epoch_seconds:
    fork_2, spawn_2 = epoch_seconds["fork"][1], epoch_seconds["spawn"][1]
    assert spawn_2 > 5 * fork_2, (
        f"a spawn epoch should cost far more than a fork epoch: {spawn_2:.3f} s vs {fork_2:.3f} s"
    )
spawn_1, spawn_2 = epoch_seconds["spawn"]
assert spawn_2 > spawn_1 / 3, (
    f"under spawn the second epoch should cost about as much as the first (new workers again): "
    f"{spawn_2:.3f} s vs {spawn_1:.3f} s"
)
if "forkserver" in epoch_seconds:
    # Epoch 1 starts the server as well as the workers: costly with or without the CPython fix.
    fork_1, forkserver_1 = epoch_seconds["fork"][0], epoch_seconds["forkserver"][0]
    assert forkserver_1 > 5 * fork_1, (
        f"the first forkserver epoch should cost far more than a fork epoch: "
        f"{forkserver_1:.3f} s vs {fork_1:.3f} s"
    )
print(f"wall time: {time.perf_counter() - start:.1f} s")
