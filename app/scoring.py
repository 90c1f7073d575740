"""Score the API's micro-batches in a forked process, so the event loop keeps serving HTTP.

Tokenizing holds the GIL, so a thread cannot overlap it with request handling; a process can.
The process is forked once the model is loaded (and ``gc.freeze()``-d, so parent and child share
its memory) and inherits it: only the texts and the probabilities cross, as length-prefixed
messages (plain bytes, no pickle) over a socket pair that the event loop reads without blocking
and without helper threads.
(``ProcessPoolExecutor`` moves results through a management thread, whose fight with the event
loop for the GIL cost more than the scoring it took off the loop.)

Each process takes two batches at a time, so it starts the next as soon as it answers one (one at
a time, it idled ~8 % of the time waiting for the loop; with two, ~96 % busy, both measured before
the vectorized tokenizer made scoring faster). A scoring process that dies (killed, out of
memory) is replaced, and the batches it held are scored again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import struct
from collections import deque
from collections.abc import Sequence
from itertools import pairwise
from multiprocessing.process import BaseProcess

import numpy as np

from imdb_sentiment.bundle import SentimentModel

logger = logging.getLogger("uvicorn.error.imdb_sentiment")

_LENGTH = struct.Struct("!Q")
_SCORES, _FAILURE = b"S", b"F"


class ScoringProcessError(RuntimeError):
    """The scoring process could not score a batch."""


class ScoringProcess:
    """One forked child that answers ``model.predict_proba`` calls in the order they were sent.

    Several batches may be out at once: the child reads the next while the server waits for the
    previous answer, so it never idles between batches. One reader task matches the answers to
    the callers, first in, first out.
    """

    def __init__(self, model: SentimentModel) -> None:
        self._model = model
        self._process: BaseProcess | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiting: deque[asyncio.Future[bytes]] = deque()
        self._generation = 0  # which child this is: only the first caller to see it die restarts
        self._restart: asyncio.Future[None] | None = None

    async def start(self) -> None:
        """Fork the child (at start-up, before the server has threads) and connect to it."""
        ours, theirs = socket.socketpair()
        process = multiprocessing.get_context("fork").Process(
            target=_serve,
            args=(self._model, theirs, ours),
            name="imdb-sentiment-scoring",
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

    async def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        if self._restart is not None and not self._restart.done():
            await asyncio.shield(self._restart)
        generation = self._generation
        try:
            return await self._round_trip(texts)
        except ConnectionError:
            if generation == self._generation:  # the first caller to see the child die
                logger.error("the scoring process died; starting a new one to score the batch")
                self._generation += 1
                self.close()
                self._restart = asyncio.ensure_future(self.start())
            await asyncio.shield(self._restart)  # type: ignore[arg-type]
            return await self._round_trip(texts)

    async def _round_trip(self, texts: Sequence[str]) -> np.ndarray:
        if self._writer is None:  # never started, or a restart failed: (re)start it
            raise ConnectionError("the scoring process is not running")
        answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        payload = _encode(texts)
        self._waiting.append(answer)  # in the order of the writes: no await in between
        self._writer.write(_LENGTH.pack(len(payload)) + payload)
        await self._writer.drain()
        data = await answer
        if data[:1] == _FAILURE:
            raise ScoringProcessError(data[1:].decode())
        return np.frombuffer(data, dtype=np.float64, offset=1)

    def close(self) -> None:
        """Stop the child (SIGTERM: it holds no state worth a graceful exit) and the socket."""
        if self._process is not None:
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


async def _read_answers(
    reader: asyncio.StreamReader, waiting: deque[asyncio.Future[bytes]]
) -> None:
    """Hand each answer to the oldest waiting caller; fail them all when the child is gone."""
    try:
        while True:
            (size,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
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
    """``count`` scoring processes; each takes up to ``depth`` batches at a time."""

    def __init__(self, model: SentimentModel, count: int, depth: int = 2) -> None:
        if count < 1 or depth < 1:
            raise ValueError(f"a scoring pool needs count and depth >= 1, got {count}, {depth}")
        self.processes = [ScoringProcess(model) for _ in range(count)]
        self.depth = depth
        self._slots: asyncio.Queue[ScoringProcess] | None = None

    @property
    def capacity(self) -> int:
        """How many batches may be out at once."""
        return len(self.processes) * self.depth

    async def start(self) -> None:
        self._slots = asyncio.Queue()
        for process in self.processes:
            await process.start()
        for _ in range(self.depth):
            for process in self.processes:
                self._slots.put_nowait(process)

    async def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        if self._slots is None:
            raise ScoringProcessError("the scoring pool is not started")
        process = await self._slots.get()
        try:
            return await process.predict_proba(texts)
        finally:
            self._slots.put_nowait(process)

    def close(self) -> None:
        for process in self.processes:
            process.close()


def _serve(model: SentimentModel, connection: socket.socket, parents_end: socket.socket) -> None:
    """The child's loop: read a batch, score it, answer; exit when the server closes the socket."""
    parents_end.close()
    # The server owns Ctrl-C and shutdown; the child must not run its signal handlers (they
    # would write to the server's event-loop wake-up descriptor, which the fork shares).
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # Nor keep the server's descriptors open: a client connection the server closes must really
    # close (a replacement child is forked while clients are connected), and so must the
    # listening socket. Only stdio and our socket stay.
    keep = connection.fileno()
    os.closerange(3, keep)
    os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX"))
    with connection:
        while header := _receive(connection, _LENGTH.size):
            (size,) = _LENGTH.unpack(header)
            texts = _decode(_receive(connection, size))
            try:
                answer = _SCORES + model.predict_proba(texts).astype(np.float64).tobytes()
            except Exception as error:  # the server turns it into an error response
                answer = _FAILURE + f"{type(error).__name__}: {error}".encode()
            connection.sendall(_LENGTH.pack(len(answer)) + answer)


def _encode(texts: Sequence[str]) -> bytes:
    """Texts as their count, their UTF-8 byte lengths and their bytes (plain data, no pickle)."""
    encoded = [text.encode("utf-8", "surrogatepass") for text in texts]
    lengths = np.fromiter(map(len, encoded), dtype=np.uint32, count=len(encoded))
    return _LENGTH.pack(len(encoded)) + lengths.tobytes() + b"".join(encoded)


def _decode(payload: bytes) -> list[str]:
    (count,) = _LENGTH.unpack_from(payload)
    ends = np.cumsum(np.frombuffer(payload, np.uint32, count, _LENGTH.size), dtype=np.int64)
    data = memoryview(payload)[_LENGTH.size + 4 * count :]
    bounds = [0, *ends.tolist()]
    return [str(data[start:end], "utf-8", "surrogatepass") for start, end in pairwise(bounds)]


def _receive(connection: socket.socket, size: int) -> bytes:
    chunks, missing = [], size
    while missing:
        chunk = connection.recv(min(missing, 1 << 20))
        if not chunk:
            return b""
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)
