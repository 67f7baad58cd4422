"""export_onnx: ONNX Runtime reproduces the predictor's outputs on tabular and text networks."""

import numpy as np
import onnxruntime as ort
import pandas as pd

from automodal import MultiModalPredictor
from checkpoints import build_text_checkpoint
from conftest import fast
from text_helpers import review


def logits(predictor, frame):
    return predictor._learner.model.logits(frame).numpy()


def run_onnx(data: bytes, predictor, frame, truncate=False):
    from automodal.learners.tabular.onnx import example_batch

    batch = example_batch(predictor._learner.model, frame, truncate)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run(None, {k: v.numpy() for k, v in batch.items()})[0]


def test_tabular_export_matches_and_is_written_to_a_file(mixed_frame, tmp_path):
    predictor = MultiModalPredictor(label="label", path=str(tmp_path / "m"), verbosity=0).fit(
        mixed_frame, hyperparameters=fast(**{"optimization.max_epochs": 2}))
    rows = mixed_frame.drop(columns="label")
    data = predictor.export_onnx(rows.head(16))
    assert isinstance(data, bytes)
    other = rows.iloc[100:150]                                  # rows (and a batch size) it was not traced on
    np.testing.assert_allclose(run_onnx(data, predictor, other), logits(predictor, other), atol=1e-4)
    assert not predictor._learner.model.net.training                    # the predictor still predicts in eval mode
    written = predictor.export_onnx(rows, path=str(tmp_path / "exported.onnx"), batch_size=8,
                                    truncate_long_and_double=True)
    with open(written, "rb") as handle:
        truncated = handle.read()
    np.testing.assert_allclose(run_onnx(truncated, predictor, other, truncate=True), logits(predictor, other),
                               atol=1e-4)


def test_text_export_takes_any_number_of_tokens(tmp_path):
    rng = np.random.default_rng(0)
    positive = rng.random(80) < 0.5
    frame = pd.DataFrame({"review": [review(rng, p) for p in positive], "liked": np.where(positive, "y", "n")})
    checkpoint = build_text_checkpoint(str(tmp_path / "bert"))
    predictor = MultiModalPredictor(label="liked", path=str(tmp_path / "t"), verbosity=0).fit(
        frame, hyperparameters=fast(**{"model.names": ["hf_text"], "model.hf_text.checkpoint_name": checkpoint,
                                        "optimization.max_epochs": 1}))
    rows = frame.drop(columns="liked")
    data = predictor.export_onnx(rows.head(4))
    longer = pd.DataFrame({"review": ["the dress " * 12 + "great", "bad"]})   # other lengths than traced
    np.testing.assert_allclose(run_onnx(data, predictor, longer), logits(predictor, longer), atol=1e-4)


TORCH_FREE = """
import sys
sys.modules["torch"] = None                      # any import of torch now fails
import numpy as np, pandas as pd
from automodal.onnx_predictor import OnnxPredictor
onnx = OnnxPredictor(sys.argv[1])
rows = pd.read_csv(sys.argv[2])
print(onnx.predict_proba(rows).to_json(orient="values"))
print(list(onnx.predict(rows)))
"""


def predict_without_torch(tmp_path, rows: pd.DataFrame) -> tuple:
    """OnnxPredictor on tmp_path/exported in a process where torch cannot be imported: (probabilities, labels)."""
    import json
    import subprocess
    import sys

    rows.to_csv(tmp_path / "rows.csv", index=False)
    (tmp_path / "run.py").write_text(TORCH_FREE)
    run = subprocess.run([sys.executable, str(tmp_path / "run.py"), str(tmp_path / "exported"),
                          str(tmp_path / "rows.csv")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    proba_line, labels_line = run.stdout.strip().splitlines()[-2:]
    return np.array(json.loads(proba_line)), labels_line


def test_an_exported_directory_predicts_without_torch(mixed_frame, tmp_path):
    predictor = MultiModalPredictor(label="label", path=str(tmp_path / "m"), verbosity=0).fit(
        mixed_frame, hyperparameters=fast(**{"optimization.max_epochs": 2}))
    rows = mixed_frame.drop(columns="label").head(40)
    exported = predictor.export_onnx(rows, path=str(tmp_path / "exported"))
    assert exported.endswith("model.onnx")
    proba, labels_line = predict_without_torch(tmp_path, rows)
    np.testing.assert_allclose(proba, predictor.predict_proba(rows).to_numpy(), atol=1e-4)
    assert labels_line == str(list(predictor.predict(rows)))


def test_an_exported_text_predictor_predicts_without_torch(tmp_path):
    rng = np.random.default_rng(1)
    positive = rng.random(80) < 0.5
    frame = pd.DataFrame({"review": [review(rng, p) for p in positive], "stars": rng.integers(1, 6, 80),
                          "liked": np.where(positive, "y", "n")})
    checkpoint = build_text_checkpoint(str(tmp_path / "bert"))
    predictor = MultiModalPredictor(label="liked", path=str(tmp_path / "t"), verbosity=0).fit(
        frame, hyperparameters=fast(**{"model.hf_text.checkpoint_name": checkpoint, "optimization.max_epochs": 1}))
    rows = frame.drop(columns="liked")
    predictor.export_onnx(rows.head(8), path=str(tmp_path / "exported"))
    proba, _ = predict_without_torch(tmp_path, rows)
    np.testing.assert_allclose(proba, predictor.predict_proba(rows).to_numpy(), atol=1e-4)


def test_an_exported_image_predictor_predicts_without_torch(tmp_path):
    from image_helpers import bright_dark_frame, save_tiny_checkpoint

    frame = bright_dark_frame(tmp_path / "images", 48, seed=0, numerical=True)
    checkpoint = save_tiny_checkpoint(tmp_path / "vit")
    predictor = MultiModalPredictor(label="label", path=str(tmp_path / "m"), verbosity=0).fit(
        frame, hyperparameters=fast(**{"model.names": ["timm_image", "numerical_mlp", "fusion_mlp"],
                                        "model.timm_image.checkpoint_name": checkpoint,
                                        "optimization.max_epochs": 1, "env.per_gpu_batch_size": 16}))
    rows = frame.drop(columns="label")
    rows.loc[3, "image"] = str(tmp_path / "gone.png")          # a missing image: a black one in both paths
    predictor.export_onnx(rows.head(8), path=str(tmp_path / "exported"))
    proba, _ = predict_without_torch(tmp_path, rows)
    np.testing.assert_allclose(proba, predictor.predict_proba(rows).to_numpy(), atol=1e-4)
