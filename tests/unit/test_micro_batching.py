"""The server's micro-batcher: requests that wait when the model is free share one batch, and steady clients that
the last batch answered are waited for a moment, so that they share the next batch instead of taking turns."""

import asyncio
import time

import pytest

from automodal.serving.app import CATCH_UP_LIMIT, MicroBatcher

MODEL_SECONDS = 0.02


class SlowLearner:
    class_labels = None

    def served(self, frame, kind):
        time.sleep(MODEL_SECONDS)
        return list(range(len(frame)))


async def clients(count: int, requests: int) -> tuple:
    batcher = MicroBatcher(SlowLearner(), max_batch_rows=256, max_wait_ms=0.0)
    batcher.start()

    async def client(k: int):
        for _ in range(requests):
            answer = await batcher.submit([{"x": 1.0}], "predict")
            assert len(answer["predictions"]) == 1
            await asyncio.sleep(0.0002 * (1 + k))   # the network and the client's own work, a little unequal

    started = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(count)))
    elapsed = time.perf_counter() - started
    await batcher.stop()
    return batcher.batches, batcher.rows, elapsed


def test_steady_clients_share_one_batch():
    # the catch-up wait is at most 2 ms: a machine busy with other work (the suite's idle Ray workers) can delay the
    # event loop past it now and then, so the best of three runs is judged; taking turns gives about 4 every time
    ratios = []
    for _ in range(3):
        batches, rows, _ = asyncio.run(clients(8, 10))
        assert rows == 80
        ratios.append(rows / batches)
        if ratios[-1] > 5:
            break
    assert max(ratios) > 5, ratios


@pytest.fixture
def waits(monkeypatch) -> list:
    """The timeouts of every wait the batcher makes for more requests."""
    recorded, wait_for = [], asyncio.wait_for

    async def recording(awaitable, timeout):
        recorded.append(timeout)
        return await wait_for(awaitable, timeout)

    monkeypatch.setattr(asyncio, "wait_for", recording)
    return recorded


def test_a_lone_client_is_never_held_back(waits):
    # the catch-up wait is for the other clients the last batch answered: a lone client's request has nobody to wait
    # for, so the batcher never waits (a wall-clock bound would judge the machine instead)
    batches, rows, _ = asyncio.run(clients(1, 10))
    assert batches == rows == 10
    assert waits == []


def test_steady_clients_are_waited_for_a_moment_at_most(waits):
    asyncio.run(clients(8, 10))
    assert waits and all(0 < wait <= CATCH_UP_LIMIT for wait in waits), waits
