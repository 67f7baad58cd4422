"""Checkpoint averaging (model soups) and weight loading; free of Lightning so prediction never imports it."""

from __future__ import annotations

from safetensors.torch import load_file


def state_to_cpu(net) -> dict:
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in net.state_dict().items()}


def average_states(paths: list) -> dict:
    states = [load_file(p) for p in paths]
    averaged = {}
    for key, first in states[0].items():
        if first.is_floating_point():
            averaged[key] = sum(s[key] for s in states) / len(states)
        else:
            averaged[key] = first
    return averaged


def soup(entries: list, method: str, evaluate) -> tuple[dict, dict]:
    """Pick the final weights from the top-k entries, (score, step, path, ...) best first; evaluate(state) returns a
    score where higher is better.

    greedy_soup adds checkpoints from best to worst while the averaged score does not drop, and stops at the first
    that lowers it (the later, worse checkpoints are not tried), so it never scores below the best single one.
    """
    paths = [entry[2] for entry in entries]
    if method == "best" or len(paths) == 1:
        return load_file(paths[0]), {"method": method, "used": 1, "score": entries[0][0]}
    if method == "uniform_soup":
        state = average_states(paths)
        return state, {"method": method, "used": len(paths), "score": evaluate(state)}
    chosen = [paths[0]]
    best_state = load_file(paths[0])
    best_score = evaluate(best_state)
    for path in paths[1:]:
        candidate = average_states(chosen + [path])
        candidate_score = evaluate(candidate)
        if candidate_score < best_score:
            break
        chosen.append(path)
        best_state, best_score = candidate, candidate_score
    return best_state, {"method": method, "used": len(chosen), "score": best_score}


def choose_weights(net, entries: list, method: str, evaluate) -> dict:
    """Load the final weights into net: a soup of the kept checkpoints by `method` (optimization.
    top_k_average_method), or the weights net has when the method is "last" or nothing was kept. evaluate(state=None)
    scores net (after loading state, when given), higher is better. Returns {"method", "used", "score"}."""
    if not entries or method == "last":
        return {"method": "last", "used": 0, "score": evaluate()}
    state, info = soup(entries, method, evaluate)
    load_state(net, state)
    return info


def load_state(net, state: dict):
    """The weights in net, which takes their floating dtype: a network trained in 64 bits or a "-true" precision is
    rebuilt in 32 bits, and predicts in the precision it trained in once its weights are back."""
    dtype = next((v.dtype for v in state.values() if v.is_floating_point()), None)
    if dtype is not None and any(p.is_floating_point() and p.dtype != dtype for p in net.parameters()):
        net.to(dtype)
    missing, unexpected = net.load_state_dict({k: v for k, v in state.items()}, strict=False)
    if unexpected or [m for m in missing if not m.endswith("offsets")]:
        raise RuntimeError(f"checkpoint does not match the model: missing {missing}, unexpected {unexpected}")
    return net

