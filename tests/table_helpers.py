"""Generated tables whose answer is known, shared by unit and integration tests."""

import numpy as np
import pandas as pd


def flights(rows=6000, seed=0, together=True):
    """Whether a flight is late: the weather of its date (month and day together), or the month and the day each
    on its own, plus a carrier effect and an unrelated distance."""
    rng = np.random.default_rng(seed)
    month, day = rng.integers(1, 13, rows), rng.integers(1, 29, rows)
    carrier = rng.choice(["AA", "UA", "DL"], rows)
    weather = np.random.default_rng(7).normal(size=(13, 29)) if together else \
        np.add.outer(np.random.default_rng(7).normal(size=13), np.random.default_rng(8).normal(size=29))
    score = 1.5 * weather[month, day] + 0.5 * (carrier == "UA") + rng.normal(size=rows)
    return pd.DataFrame({"month": month, "day": day, "carrier": carrier, "distance": rng.integers(100, 3000, rows),
                         "late": np.where(score > 0.5, "yes", "no")})
