"""gunicorn's settings file (read from the working directory, as gunicorn does): how a web worker stops."""
import logging
import os
import signal
import sys


def post_fork(server, worker):
    """Let a worker act on the first quit signal only (runs in the worker before it installs its handlers).

    Ctrl-C reaches every process of the foreground group, so a worker gets SIGINT from the terminal and, at the
    same moment, SIGQUIT from the master. gthread's quit handler shuts its thread pool down under the pool's
    lock, which is not reentrant: when the second signal's handler ran inside the first's, while it held that
    lock, the worker waited on itself until the master killed it after --graceful-timeout (30 s by default).
    """
    quit_now = worker.handle_quit

    def handle_quit_once(sig, frame):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGQUIT, signal.SIG_IGN)
        quit_now(sig, frame)

    worker.handle_quit = handle_quit_once  # the worker installs self.handle_quit for SIGINT and SIGQUIT


def worker_exit(server, worker):
    """End a worker without the interpreter's teardown, as multiprocessing ends its forked children.

    That teardown frees the whole loaded app object by object: 3-9 s of a stopping worker on a busy 2-core
    machine, longer than the launcher's and the tests' stop budgets, for memory the kernel frees anyway.
    Logs are flushed first.
    """
    if os.getpid() != worker.pid:
        return  # gunicorn also calls this in the master, for a worker that had already gone
    ending = sys.exc_info()[1]
    if not isinstance(ending, SystemExit):
        return  # not on the way out: leave it to gunicorn
    code = ending.code if isinstance(ending.code, int) else 0 if ending.code is None else 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    # The exit status is kept: the master halts on a worker that could not boot (3) or load the app (4).
    os._exit(code)
