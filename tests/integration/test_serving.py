"""The HTTP server on loopback with a real client: predictions equal the predictor's, concurrent requests share
micro-batches, and bad requests get a 4xx naming the column without taking the server down."""

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pandas as pd
import pytest

from automodal import MultiModalPredictor
from conftest import fast


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    import uvicorn

    from automodal.serving.app import create_app

    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                          "colour": rng.choice(["red", "green", "blue"], size=n),
                          "day": pd.date_range("2024-01-01", periods=n).strftime("%Y-%m-%d")})
    frame["label"] = np.where(frame.x1 + (frame.colour == "red") > 0.3, "yes", "no")
    path = str(tmp_path_factory.mktemp("served") / "model")
    predictor = MultiModalPredictor(label="label", path=path, verbosity=0).fit(
        frame, hyperparameters=fast(**{"optimization.max_epochs": 3}))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(predictor, max_wait_ms=30.0, max_rows=50), host="127.0.0.1",
                                           port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    yield url, predictor, frame.drop(columns="label")
    server.should_exit = True
    thread.join(timeout=10)


def records(frame):
    return frame.to_dict(orient="records")


def test_predictions_equal_the_predictors(served):
    url, predictor, rows = served
    reply = httpx.post(f"{url}/predict", json=records(rows.head(20)))
    assert reply.status_code == 200
    assert reply.json()["predictions"] == list(predictor.predict(rows.head(20)))
    proba = httpx.post(f"{url}/predict_proba", json={"rows": records(rows.head(5))}).json()
    assert proba["classes"] == ["no", "yes"]
    np.testing.assert_allclose(proba["probabilities"], predictor.predict_proba(rows.head(5)).to_numpy(), atol=1e-6)
    meta = httpx.get(f"{url}/metadata").json()
    assert meta["label"] == "label" and meta["column_types"]["colour"] == "categorical"


def test_concurrent_requests_share_micro_batches(served):
    url, predictor, rows = served
    before = httpx.get(f"{url}/metadata").json()
    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda i: httpx.post(f"{url}/predict", json=records(rows.iloc[[i]])), range(32)))
    assert all(r.status_code == 200 for r in replies)
    assert [r.json()["predictions"][0] for r in replies] == list(predictor.predict(rows.head(32)))
    after = httpx.get(f"{url}/metadata").json()
    assert after["rows"] - before["rows"] == 32
    assert after["batches"] - before["batches"] < 32               # several requests per prediction


ROW = {"x1": 1.0, "x2": 0.0, "colour": "red", "day": "2024-03-01"}


def test_a_date_column_takes_dates_and_a_number_column_takes_a_missing_value_marker(served):
    url, predictor, _ = served
    rows = [ROW, {**ROW, "x1": "?"}]
    reply = httpx.post(f"{url}/predict", json=rows)
    assert reply.status_code == 200, reply.json()
    assert reply.json()["predictions"] == list(predictor.predict(pd.DataFrame(rows)))


@pytest.mark.parametrize("body, status, message", [
    ([{"x1": 1.0, "colour": "red", "day": "2024-03-01"}], 422, "missing column(s) ['x2']"),
    ([{**ROW, "x1": "abc"}], 422, "column 'x1' takes numbers"),
    ([{**ROW, "x1": True}], 422, "column 'x1' takes numbers; got True"),
    ([{**ROW, "colour": "purple"}], 422, "column 'colour' has category 'purple'"),
    ([{**ROW, "day": "soon"}], 422, "column 'day' takes dates"),
    ({"rows": "nope"}, 422, "JSON list of records"),
    ([ROW] * 51, 413, "the limit is 50"),
])
def test_bad_requests_get_a_4xx_naming_the_problem_and_the_server_stays_up(served, body, status, message):
    url, _, rows = served
    reply = httpx.post(f"{url}/predict", json=body)
    assert reply.status_code == status and message in reply.json()["error"]
    assert httpx.post(f"{url}/predict", content=b"{not json").status_code == 400
    assert httpx.get(f"{url}/health").json() == {"status": "ok"}
    assert httpx.post(f"{url}/predict", json=records(rows.head(2))).status_code == 200
