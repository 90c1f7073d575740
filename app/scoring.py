"""Scoring processes: forked children that do the model's work while the event loop serves HTTP.

Tokenizing holds the GIL, so a thread cannot overlap it with request handling; a process can.
Each process is forked once the model is loaded (and ``gc.freeze()``-d, so parent and child share
its memory) and inherits it: only plain bytes cross (:mod:`app.jobs`), as length-prefixed
messages over a socket pair that the event loop reads without blocking and without helper
threads. (``ProcessPoolExecutor`` moves results through a management thread, whose fight with
the event loop for the GIL cost more than the scoring it took off the loop.)

Each process may take a few jobs at a time, so it starts the next as soon as it answers one. Every
job has a deadline: a process that misses it (hung, or stopped) is killed and replaced, and the
job fails with :class:`ScoringTimeoutError`. A process that dies (killed, out of memory) is replaced
and the jobs it held are sent again, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import socket
from collections import deque
from collections.abc import Sequence
from multiprocessing.process import BaseProcess

import numpy as np

from app.jobs import LENGTH, PING, SCORE, Jobs, decode_answer, encode_texts

logger = logging.getLogger("uvicorn.error.imdb_sentiment")


class ScoringProcessError(RuntimeError):
    """The scoring process could not do a job."""


class ScoringTimeoutError(ScoringProcessError):
    """The scoring process missed a job's deadline; it has been replaced."""


class ScoringProcess:
    """One forked child that answers jobs in the order they were sent.

    Several jobs may be out at once: the child reads the next while the server waits for the
    previous answer, so it never idles between jobs. One reader task matches the answers to
    the callers, first in, first out.
    """

    def __init__(self, jobs: Jobs, *, nice: int = 0, name: str = "imdb-sentiment-scoring") -> None:
        self._jobs = jobs
        self._nice = nice
        self._name = name
        self._process: BaseProcess | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiting: deque[asyncio.Future[bytes]] = deque()
        self._generation = 0  # which child this is: only the first caller to see it die restarts
        self._restart: asyncio.Future[None] | None = None
        self._ping: asyncio.Future[None] | None = None

    async def start(self) -> None:
        """Fork the child and connect to it."""
        ours, theirs = socket.socketpair()
        process = multiprocessing.get_context("fork").Process(
            target=_serve,
            args=(self._jobs, theirs, ours, self._nice),
            name=self._name,
            daemon=True,
        )
        process.start()
        theirs.close()
        reader, self._writer = await asyncio.open_connection(sock=ours)
        self._process, self._waiting = process, deque()
        self._reader = asyncio.ensure_future(_read_answers(reader, self._waiting))

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def busy(self) -> bool:
        return any(not answer.done() for answer in self._waiting)

    async def call(self, kind: bytes, payload: bytes, timeout: float) -> bytes:
        """Send one job and wait for its answer, at most ``timeout`` seconds."""
        if self._restart is not None and not self._restart.done():
            await asyncio.shield(self._restart)
        generation = self._generation
        try:
            return await self._round_trip(kind, payload, timeout)
        except ConnectionError:
            if generation == self._generation:  # the first caller to see the child die
                self._replace("the scoring process died; starting a new one")
            await asyncio.shield(self._restart)
            return await self._round_trip(kind, payload, timeout)

    async def predict_proba(self, texts: Sequence[str], timeout: float = 30.0) -> np.ndarray:
        return _scores(await self.call(SCORE, encode_texts(texts), timeout))

    async def ping(self, timeout: float) -> None:
        """Raise unless the child answers within ``timeout``; concurrent pings share one."""
        if self._ping is None or self._ping.done():
            self._ping = asyncio.ensure_future(self.call(PING, b"", timeout))
            # Retrieved here too, in case every caller went away before it failed.
            self._ping.add_done_callback(lambda ping: ping.cancelled() or ping.exception())
        await asyncio.shield(self._ping)

    async def _round_trip(self, kind: bytes, payload: bytes, timeout: float) -> bytes:
        if self._writer is None:  # never started, or a restart failed: (re)start it
            raise ConnectionError("the scoring process is not running")
        answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting.append(answer)  # in the order of the writes: no await in between
        try:
            self._writer.write(LENGTH.pack(len(payload) + 1) + kind + payload)
            await self._writer.drain()
            # On a timeout or a caller that goes away, wait_for cancels the answer: the reader
            # skips it, and no exception is left unretrieved.
            return await asyncio.wait_for(answer, timeout)
        except TimeoutError:
            self._replace(f"the scoring process missed its {timeout:g} s deadline; replacing it")
            raise ScoringTimeoutError(f"the model did not answer within {timeout:g} s") from None
        finally:
            answer.cancel()  # no-op once it has its answer

    def _replace(self, reason: str) -> None:
        logger.error(reason)
        self._generation += 1
        self.close(kill=True)
        self._restart = asyncio.ensure_future(self.start())
        self._restart.add_done_callback(_log_failed_restart)

    def close(self, kill: bool = False) -> None:
        """Stop the child (it holds no state worth a graceful exit) and the socket.

        ``kill``: SIGKILL at once, which also ends a stopped or hung child without waiting.
        """
        if self._process is not None:
            if kill:
                self._process.kill()
            else:
                self._process.terminate()
            self._process.join(timeout=5)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
        # RuntimeError: the event loop they belong to is already closed.
        if self._reader is not None:
            with contextlib.suppress(RuntimeError):
                self._reader.cancel()
        if self._writer is not None:
            with contextlib.suppress(RuntimeError):
                self._writer.close()
        _fail(self._waiting)
        self._process = self._writer = self._reader = None


def _scores(data: bytes) -> np.ndarray:
    try:
        scores = decode_answer(data)
    except RuntimeError as error:
        raise ScoringProcessError(str(error)) from None
    assert isinstance(scores, np.ndarray)
    return scores


def _log_failed_restart(restart: asyncio.Future[None]) -> None:
    if not restart.cancelled() and restart.exception() is not None:
        logger.error("could not start a scoring process: %s", restart.exception())


async def _read_answers(
    reader: asyncio.StreamReader, waiting: deque[asyncio.Future[bytes]]
) -> None:
    """Hand each answer to the oldest waiting caller; fail them all when the child is gone."""
    try:
        while True:
            (size,) = LENGTH.unpack(await reader.readexactly(LENGTH.size))
            data = await reader.readexactly(size)
            answer = waiting.popleft()
            if not answer.done():
                answer.set_result(data)
    except (ConnectionError, asyncio.IncompleteReadError):
        _fail(waiting)


def _fail(waiting: deque[asyncio.Future[bytes]]) -> None:
    while waiting:
        answer = waiting.popleft()
        if not answer.done():
            answer.set_exception(ConnectionError("the scoring process died"))


class ScoringPool:
    """``count`` scoring processes; each takes up to ``depth`` jobs at a time."""

    def __init__(
        self,
        jobs: Jobs,
        count: int,
        *,
        depth: int = 2,
        timeout: float = 30.0,
        nice: int = 0,
        name: str = "imdb-sentiment-scoring",
    ) -> None:
        if count < 1 or depth < 1:
            raise ValueError(f"a scoring pool needs count and depth >= 1, got {count}, {depth}")
        self.processes = [ScoringProcess(jobs, nice=nice, name=name) for _ in range(count)]
        self.depth = depth
        self.timeout = timeout
        self._slots: asyncio.Queue[ScoringProcess] | None = None

    @property
    def capacity(self) -> int:
        """How many jobs may be out at once."""
        return len(self.processes) * self.depth

    async def start(self) -> None:
        self._slots = asyncio.Queue()
        for process in self.processes:
            await process.start()
        for _ in range(self.depth):
            for process in self.processes:
                self._slots.put_nowait(process)

    async def call(self, kind: bytes, payload: bytes) -> bytes:
        if self._slots is None:
            raise ScoringProcessError("the scoring pool is not started")
        process = await self._slots.get()
        try:
            return await process.call(kind, payload, self.timeout)
        finally:
            self._slots.put_nowait(process)

    async def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return _scores(await self.call(SCORE, encode_texts(texts)))

    async def ping(self, timeout: float) -> None:
        """Every idle process must answer within ``timeout``; a busy one has its job deadline."""
        await asyncio.gather(
            *(process.ping(timeout) for process in self.processes if not process.busy)
        )

    def close(self) -> None:
        for process in self.processes:
            process.close()


def _serve(jobs: Jobs, connection: socket.socket, parents_end: socket.socket, nice: int) -> None:
    """The child's loop: read a job, do it, answer; exit when the server closes the socket."""
    parents_end.close()
    # The server owns Ctrl-C and shutdown; the child must not run its signal handlers (they
    # would write to the server's event-loop wake-up descriptor, which the fork shares).
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if nice:
        os.nice(nice)  # heavy work yields the CPU to the processes serving single reviews
    # Nor keep the server's descriptors open: a client connection the server closes must really
    # close (a replacement child is forked while clients are connected), and so must the
    # listening socket. Only stdio and our socket stay.
    keep = connection.fileno()
    os.closerange(3, keep)
    os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX"))
    with connection:
        while header := _receive(connection, LENGTH.size):
            (size,) = LENGTH.unpack(header)
            message = _receive(connection, size)
            answer = jobs.answer(message[:1], message[1:])
            connection.sendall(LENGTH.pack(len(answer)) + answer)


def _receive(connection: socket.socket, size: int) -> bytes:
    chunks, missing = [], size
    while missing:
        chunk = connection.recv(min(missing, 1 << 20))
        if not chunk:
            return b""
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)
