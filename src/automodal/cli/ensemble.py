"""Ensemble search over models that predicted the same rows: member sets drawn lazily, best-ranked first (or at
random with probability `temperature`), each tried with several Dirichlet weightings, the lowest loss kept."""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Choice:
    members: tuple              # indices into the candidate models
    weights: np.ndarray
    loss: float


def member_sets(ranked: int, max_size: int, temperature: float, rng: np.random.Generator):
    """Member sets (tuples of rank positions 0..ranked-1), each once: with probability 1 - temperature the next
    set by the sum of its ranks (the best single model first), else a random one. Sets are made as they are
    needed, never enumerated up front."""
    max_size = max(1, min(max_size, ranked))
    total = sum(math.comb(ranked, k) for k in range(1, max_size + 1))
    seen, heap, pushed = set(), [(0, (0,))], {(0,)}
    while len(seen) < total:
        chosen = None
        if rng.random() < temperature:
            size = int(rng.integers(1, max_size + 1))
            chosen = tuple(sorted(rng.choice(ranked, size=size, replace=False).tolist()))
        while chosen is None or chosen in seen:
            if not heap:        # every ranked set was tried; only random ones were left, and they are all seen
                return
            _, chosen = heapq.heappop(heap)
            _push_successors(heap, pushed, chosen, ranked, max_size)
        seen.add(chosen)
        yield chosen


def _push_successors(heap, pushed, members: tuple, ranked: int, max_size: int):
    """Each set is reached once: from (.., i) by moving its last member to i + 1, or by adding member i + 1."""
    if members[-1] + 1 >= ranked:
        return
    successors = [members[:-1] + (members[-1] + 1,)]
    if len(members) < max_size:
        successors.append(members + (members[-1] + 1,))
    for successor in successors:
        if successor not in pushed:
            pushed.add(successor)
            heapq.heappush(heap, (sum(successor), successor))


def search(outputs: list, loss, budget: int, weights_budget: int, max_size: int, temperature: float,
           weights_temperature: float, seed: int) -> Choice:
    """outputs: each model's predictions on the selection rows; loss(prediction) -> float (lower is better)."""
    rng = np.random.default_rng(seed)
    losses = np.array([loss(o) for o in outputs])
    order = np.argsort(losses, kind="stable")
    best = Choice((int(order[0]),), np.ones(1), float(losses[order[0]]))
    spent = 0
    for ranks in member_sets(len(outputs), max_size, temperature, rng):
        members = tuple(int(order[r]) for r in ranks)
        if weights_budget == 0 or len(members) == 1:
            weightings = [np.full(len(members), 1.0 / len(members))]
        else:
            concentration = np.maximum((1.0 / np.maximum(losses[list(members)], 1e-12)) * (1 - weights_temperature),
                                       1e-3)
            weightings = [rng.dirichlet(concentration) for _ in range(weights_budget)]
        for weights in weightings:
            if spent >= budget:
                return best
            spent += 1
            value = loss(combine([outputs[m] for m in members], weights))
            if value < best.loss:
                best = Choice(members, weights, float(value))
    return best


def combine(outputs: list, weights: np.ndarray) -> np.ndarray:
    return sum(w * o for w, o in zip(weights, outputs))
