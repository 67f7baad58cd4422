"""post: calibrate each model's stored class probabilities and ensemble the models that predicted the same test
rows. Reads what train / predict stored; writes new files beside them (originals kept) and reports."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd

from ...data.types import CLASSIFICATION
from ...learners.segmentation import masks
from ...learners.segmentation import metrics as mask_metrics
from ...persistence import PROCESSORS_FILE
from .. import calibration, image_ensemble, image_tasks
from ..ensemble import combine, search
from ..options import OptionError
from ..tasks import TaskData
from ..workspace import WorkspaceError, read_json, write_json, write_parquet
from .base import Scheduler, Step

PIXELS_PER_IMAGE = 4096     # pixels per selection image that the segmentation ensemble search scores


def proba_columns(frame: pd.DataFrame) -> list:
    return [c for c in frame.columns if c.startswith("proba_")]


class PostprocessScheduler(Scheduler):
    subroutines = ("calibrate", "ensemble")

    def prepare(self):
        prior = self.options.prior          # its type is checked; a list's length depends on the task
        for pivot in self.task_list():
            task = TaskData(self.project, pivot)
            if not isinstance(prior, str) and task.info["classes"] is not None and not task.image_task:
                try:
                    calibration.check_prior(prior, len(task.info["classes"]))
                except ValueError as error:
                    raise OptionError(f"{error} Task {pivot} has classes {task.info['classes']}.") from None
            if not self.groups(pivot):
                raise WorkspaceError(f"task {pivot} has no stored predictions: run automodal train (or predict) "
                                     "with predict in mode.subroutines first.")

    def groups(self, pivot: str) -> dict:
        """{task (or nested variant): [folds]} of the pivot's models with stored predictions; the models of one
        task predicted the same test rows."""
        groups = {}
        for record in self.project.model_records(pivot):
            if os.path.exists(os.path.join(self.project.predictions_dir(record["task"], record["fold"]),
                                           "test.parquet")):
                groups.setdefault(record["task"], []).append(record["fold"])
        return {task: sorted(folds) for task, folds in sorted(groups.items())}

    def plan(self) -> list:
        steps = []
        for pivot in self.task_list():
            problem_type = TaskData(self.project, pivot).info["problem_type"]
            classification = problem_type in CLASSIFICATION
            for task, folds in self.groups(pivot).items():
                if image_tasks.is_image_task(problem_type):
                    steps += self.image_plan(task, folds, problem_type)
                    continue
                if "calibrate" in self.options.subroutines:
                    if classification:
                        steps += [Step(f"calibrate:{task}:fold{f}", lambda t=task, f=f: self.calibrate(t, f))
                                  for f in folds]
                    else:
                        self.log(f"{task}: regression, so no calibration (the ensemble still applies)")
                if "ensemble" in self.options.subroutines:
                    steps.append(Step(f"ensemble:{task}", lambda t=task, f=folds: self.ensemble(t, f)))
        return steps

    def image_plan(self, task: str, folds: list, problem_type: str) -> list:
        """detection: boxes fused across folds; segmentation: per-pixel probabilities averaged. Calibration is of
        table classifiers' class probabilities per row, so image tasks skip it with a note."""
        steps = []
        if "calibrate" in self.options.subroutines:
            what = "its boxes' scores" if problem_type == image_tasks.DETECTION else "its per-pixel probabilities"
            self.log(f"{task}: calibrate is skipped: it calibrates the class probabilities of table classification "
                     f"tasks, and {task} is {problem_type} ({what} are left as the models gave them); the ensemble "
                     "still applies")
        if "ensemble" in self.options.subroutines:
            action = self.ensemble_boxes if problem_type == image_tasks.DETECTION else self.ensemble_masks
            steps.append(Step(f"ensemble:{task}", lambda t=task, f=folds: action(t, f)))
        return steps

    # ---------------------------------------------------------------- calibrate
    def _split(self, task: TaskData, fold: int, split: str, calibrated: bool = False):
        """(predictions frame, class index of each row or None) of one stored split, or (None, None)."""
        name = f"{split}.calibrated.parquet" if calibrated else f"{split}.parquet"
        path = os.path.join(self.project.predictions_dir(task.name, fold), name)
        if not os.path.exists(path):
            return None, None
        frame = pd.read_parquet(path)
        labels = task.labels(split, frame["row"])
        if labels is None or labels.isna().any():
            return frame, None
        classes = [c[len("proba_"):] for c in proba_columns(frame)]
        return frame, labels.astype(str).map({c: i for i, c in enumerate(classes)}).to_numpy()

    def prior(self, task: TaskData, fold: int, val_proba, val_y, classes: int) -> np.ndarray:
        prior = self.options.prior
        if prior == "val":
            return np.clip(calibration.class_shares(val_y, classes), calibration.EPS, None)
        if prior == "test":
            frame, y = self._split(task, fold, "test")
            if y is None:
                raise WorkspaceError(f"mode.prior=test: {task.name} fold {fold} has no labelled test predictions.")
            return np.clip(calibration.class_shares(y, classes), calibration.EPS, None)
        if prior == "quantify":
            frame, _ = self._split(task, fold, "unlabeled")
            if frame is None:
                raise WorkspaceError(f"mode.prior=quantify estimates the prior on the unlabeled split; {task.name} "
                                     f"fold {fold} has no unlabeled predictions.")
            return calibration.quantify(val_proba, val_y, frame[proba_columns(frame)].to_numpy())
        return calibration.check_prior(prior, classes)

    def calibrate(self, task_name: str, fold: int):
        from rich.table import Table

        task = TaskData(self.project, task_name)
        val, val_y = self._split(task, fold, "val")
        if val is None or val_y is None:
            raise WorkspaceError(f"{task_name} fold {fold} has no labelled validation predictions to calibrate on.")
        columns = proba_columns(val)
        classes = [c[len("proba_"):] for c in columns]
        val_proba = val[columns].to_numpy()
        prior = self.prior(task, fold, val_proba, val_y, len(columns))
        temperature, bias = calibration.fit_affine(val_proba, val_y, prior)
        report, curves = {}, {}
        for split in ("val", "test", "unlabeled"):
            frame, y = self._split(task, fold, split)
            if frame is None:
                continue
            before = frame[columns].to_numpy()
            after = calibration.apply_affine(before, temperature, bias, prior)
            calibrated = frame.copy()
            calibrated[columns] = after
            calibrated["prediction"] = np.asarray(classes, dtype=object)[after.argmax(axis=1)]
            write_parquet(calibrated, os.path.join(self.project.predictions_dir(task_name, fold),
                                                   f"{split}.calibrated.parquet"))
            if y is not None:
                report[split] = {"log_loss_before": calibration.log_loss(before, y),
                                 "log_loss_after": calibration.log_loss(after, y),
                                 "ece_before": calibration.expected_calibration_error(before, y),
                                 "ece_after": calibration.expected_calibration_error(after, y)}
                curves[f"{split} before"], curves[f"{split} after"] = (before, y), (after, y)
        plot = os.path.join(self.project.metrics, task_name, f"fold{fold}.reliability.png")
        os.makedirs(os.path.dirname(plot), exist_ok=True)
        calibration.reliability_diagram(plot, curves)
        write_json(os.path.join(self.project.metrics, task_name, f"fold{fold}.calibration.json"), {
            "task": task_name, "fold": fold, "temperature": temperature, "bias": bias.tolist(),
            "prior": prior.tolist(), "prior_source": self.options.prior if isinstance(self.options.prior, str)
            else "list", "classes": classes, "splits": report, "reliability_diagram": plot})
        table = Table(title=f"{task_name}/fold{fold}: calibration (T = {temperature:.3f})")
        for column in ("split", "log loss before", "after", "ECE before", "after"):
            table.add_column(column)
        for split, values in report.items():
            table.add_row(split, *(f"{values[k]:.4f}" for k in ("log_loss_before", "log_loss_after", "ece_before",
                                                                 "ece_after")))
        self.console.print(table)
        self.log(f"  reliability diagram: {plot}")

    # ---------------------------------------------------------------- ensemble
    def _member_frame(self, task: str, fold: int, split: str) -> pd.DataFrame | None:
        directory = self.project.predictions_dir(task, fold)
        for name in (f"{split}.calibrated.parquet", f"{split}.parquet"):    # calibrated predictions when there
            if os.path.exists(os.path.join(directory, name)):
                return pd.read_parquet(os.path.join(directory, name)).sort_values("row").reset_index(drop=True)
        return None

    def ensemble(self, task_name: str, folds: list):
        task = TaskData(self.project, task_name)
        classification = task.info["problem_type"] in CLASSIFICATION
        frames = [self._member_frame(task_name, f, "test") for f in folds]
        rows = frames[0]["row"].to_numpy()
        if any(not np.array_equal(f["row"].to_numpy(), rows) for f in frames):
            raise WorkspaceError(f"the models of {task_name} predicted different test rows; predict again with "
                                 "one run of automodal predict.")
        truth = task.labels("test", rows)
        labelled = truth.notna().to_numpy()
        columns = proba_columns(frames[0]) if classification else ["prediction"]
        outputs = [f[columns].to_numpy(dtype=np.float64)[labelled] for f in frames]
        classes = [c[len("proba_"):] for c in columns]
        y = truth[labelled].astype(str).map({c: i for i, c in enumerate(classes)}).to_numpy() if classification \
            else truth[labelled].to_numpy(dtype=np.float64)
        order = np.random.default_rng(int(self.config.seed)).permutation(len(y))
        cut = max(1, int(round(self.options.eval_frac * len(y))))
        select, held = order[:cut], order[cut:]

        def loss_on(rows_):
            if classification:
                return lambda o: calibration.log_loss(o[rows_], y[rows_])
            return lambda o: float(np.mean((o[rows_, 0] - y[rows_]) ** 2))

        choice = search(outputs, loss_on(select), self.options.budget, self.options.weights_budget,
                        self.options.max_ensemble_size, self.options.temperature, self.options.weights_temperature,
                        int(self.config.seed))
        members = [outputs[m] for m in choice.members]
        held_scores = scores(combine(members, choice.weights)[held], y[held], classification) if len(held) else {}
        member_scores = {f"{task_name}/fold{folds[m]}": scores(outputs[m][held], y[held], classification)
                         for m in range(len(outputs))} if len(held) else {}
        directory = os.path.join(self.project.predictions, task_name, "ensemble")
        for split in ("test", "unlabeled"):
            parts = [self._member_frame(task_name, folds[m], split) for m in choice.members]
            if any(p is None for p in parts):
                continue
            mixed = combine([p[columns].to_numpy(dtype=np.float64) for p in parts], choice.weights)
            out = pd.DataFrame({"row": parts[0]["row"].to_numpy(), "split": split})
            if classification:
                out["prediction"] = np.asarray(classes, dtype=object)[mixed.argmax(axis=1)]
                for i, column in enumerate(columns):
                    out[column] = mixed[:, i]
            else:
                out["prediction"] = mixed[:, 0]
            write_parquet(out, os.path.join(directory, f"{split}.parquet"))
        write_json(os.path.join(self.project.metrics, task_name, "ensemble.json"), {
            "task": task_name, "members": [f"{task_name}/fold{folds[m]}" for m in choice.members],
            "weights": [float(w) for w in choice.weights], "selection_loss": choice.loss,
            "selection_rows": int(len(select)), "held_out_rows": int(len(held)), "held_out": held_scores,
            "members_held_out": member_scores, "eval_frac": self.options.eval_frac})
        self.log(f"  {task_name}: ensemble of {', '.join(f'fold{folds[m]}' for m in choice.members)} with weights "
                 f"{', '.join(f'{w:.2f}' for w in choice.weights)}; selection loss {choice.loss:.4f}; held out: "
                 + ", ".join(f"{k} {v:.4f}" for k, v in held_scores.items()))


    # ---------------------------------------------------------------- ensembles of image tasks
    def ensemble_boxes(self, task_name: str, folds: list):
        """Weighted box fusion of the detectors of the task's folds: the best max_ensemble_size by validation
        score, weighed equally; scored against each member on the labelled test images."""
        task = TaskData(self.project, task_name)
        records = {r["fold"]: r for r in self.project.model_records(task_name) if r["task"] == task_name}
        ranked = sorted(folds, key=lambda f: -records[f]["val_score"] if records[f]["greater_is_better"]
                        else records[f]["val_score"])[:self.options.max_ensemble_size]
        weights = np.full(len(ranked), 1.0 / len(ranked))
        classes = list(task.info["classes"])
        index = {str(c): i for i, c in enumerate(classes)}
        category_ids = task.dataset.get("category_ids") or list(range(1, len(classes) + 1))
        directory = os.path.join(self.project.predictions, task_name, "ensemble")
        report = {}
        for split in ("test", "unlabeled"):
            parts = [self._member_frame(task_name, f, split) for f in ranked]
            if any(p is None for p in parts):
                continue
            rows = _same_rows(parts, task_name)
            members = [[_boxes_of(cell, fmt, index) for cell, fmt in zip(p["bboxes"], p["bbox_format"])]
                       for p in parts]
            fused = [image_ensemble.fuse_boxes([m[i] for m in members], weights) for i in range(len(rows))]
            boxes = [[{"class": classes[c], "class_id": c, "bbox": [round(v, 2) for v in box],
                       "score": round(score, 4)} for box, score, c in image] for image in fused]
            frame = task.test_frame() if split == "test" else task.unlabeled_frame()
            ids = frame.set_index("__row__")["image_id"].reindex(rows).tolist() if "image_id" in frame.columns \
                else list(rows)
            image_tasks.write_boxes(directory, split, rows, parts[0]["image"].tolist(), boxes, "xyxy", ids,
                                    category_ids)
            truth = task.labels(split, rows)
            if split == "test" and truth is not None and truth.notna().all():
                targets = [[(b[:4], 1.0, index[str(b[4])]) for b in image_tasks.rois(cell)] for cell in truth]
                report = {"held_out": _detection_scores([[(b, s, c) for b, s, c in f] for f in fused], targets),
                          "members_held_out": {f"{task_name}/fold{f}": _detection_scores(m, targets)
                                               for f, m in zip(ranked, members)},
                          "held_out_rows": int(len(rows))}
        write_json(os.path.join(self.project.metrics, task_name, "ensemble.json"), {
            "task": task_name, "method": "weighted box fusion", "iou_threshold": image_ensemble.IOU_THRESHOLD,
            "members": [f"{task_name}/fold{f}" for f in ranked], "weights": weights.tolist(), **report})
        held = report.get("held_out", {})
        self.log(f"  {task_name}: weighted box fusion of {', '.join(f'fold{f}' for f in ranked)}"
                 + (f"; on the test images map {held['map']:.4f}, map_50 {held['map_50']:.4f} (members: "
                    + ", ".join(f"{m['map']:.4f}" for m in report["members_held_out"].values()) + ")"
                    if held else ""))

    def ensemble_masks(self, task_name: str, folds: list):
        """Weighted means of the folds' per-pixel class probabilities: member sets and weights searched as for
        tables (mode.budget, weights_budget, max_ensemble_size, temperature, weights_temperature), by the pixel log
        loss on sampled pixels of eval_frac of the labelled test images; the rest estimate iou, dice and ber."""
        task = TaskData(self.project, task_name)
        labels = read_json(os.path.join(self.project.model_dir(task_name, folds[0]), PROCESSORS_FILE))["labels"]
        frames = [self._member_frame(task_name, f, "test") for f in folds]
        rows = _same_rows(frames, task_name)
        directories = [self.project.predictions_dir(task_name, f) for f in folds]
        members = []
        for directory in directories:
            stored = image_tasks.read_probabilities(directory, "test")
            members.append([stored[int(r)] for r in rows])
        truth_paths = task.labels("test", rows)
        labelled = np.flatnonzero(truth_paths.notna().to_numpy())
        if not len(labelled):
            raise WorkspaceError(f"the test images of {task_name} have no masks, so no ensemble can be chosen; "
                                 "create the task with a labelled data.NAME.test.")
        truth = {i: masks.encode_mask(masks.read_mask(truth_paths[i], task.label), labels, truth_paths[i], task.label)
                 for i in labelled}
        order = labelled[np.random.default_rng(int(self.config.seed)).permutation(len(labelled))]
        cut = max(1, int(round(self.options.eval_frac * len(order))))
        select, held = order[:cut], order[cut:]
        picks = image_ensemble.pixel_sample([truth[i] for i in select], PIXELS_PER_IMAGE, int(self.config.seed))
        y = np.concatenate([truth[i].ravel()[pick] for i, pick in zip(select, picks)])
        outputs = [image_ensemble.sampled([member[i] for i in select], picks) for member in members]
        choice = search(outputs, lambda o: calibration.log_loss(o, y), self.options.budget,
                        self.options.weights_budget, self.options.max_ensemble_size, self.options.temperature,
                        self.options.weights_temperature, int(self.config.seed))
        chosen = [members[m] for m in choice.members]
        classes = labels["num_classes"]
        held_scores, member_scores = {}, {}
        if len(held):
            held_truth = [truth[i] for i in held]
            mixed = image_ensemble.mean_probabilities([[m[i] for i in held] for m in chosen], choice.weights)
            held_scores = _mask_scores(mixed, held_truth, classes)
            member_scores = {f"{task_name}/fold{f}": _mask_scores([m[i] for i in held], held_truth, classes)
                             for f, m in zip(folds, members)}
        directory = os.path.join(self.project.predictions, task_name, "ensemble")
        for split in ("test", "unlabeled"):
            parts = [self._member_frame(task_name, folds[m], split) for m in choice.members]
            if any(p is None for p in parts):
                continue
            split_rows = _same_rows(parts, task_name)
            stored = [image_tasks.read_probabilities(directories[m], split) for m in choice.members]
            mixed = image_ensemble.mean_probabilities([[s[int(r)] for r in split_rows] for s in stored],
                                                      choice.weights)
            image_tasks.write_masks(directory, split, split_rows, parts[0]["image"].tolist(), mixed, labels)
        write_json(os.path.join(self.project.metrics, task_name, "ensemble.json"), {
            "task": task_name, "method": "weighted mean of per-pixel class probabilities",
            "members": [f"{task_name}/fold{folds[m]}" for m in choice.members],
            "weights": [float(w) for w in choice.weights], "selection_loss": choice.loss,
            "selection_rows": int(len(select)), "selection_pixels": int(len(y)), "held_out_rows": int(len(held)),
            "held_out": held_scores, "members_held_out": member_scores, "eval_frac": self.options.eval_frac})
        self.log(f"  {task_name}: mean of {', '.join(f'fold{folds[m]}' for m in choice.members)} with weights "
                 f"{', '.join(f'{w:.2f}' for w in choice.weights)}; pixel log loss {choice.loss:.4f}; held out: "
                 + ", ".join(f"{k} {v:.4f}" for k, v in held_scores.items()))


def scores(output: np.ndarray, y: np.ndarray, classification: bool) -> dict:
    from sklearn.metrics import accuracy_score, r2_score, roc_auc_score

    if not classification:
        return {"rmse": float(np.sqrt(np.mean((output[:, 0] - y) ** 2))), "r2": float(r2_score(y, output[:, 0]))}
    result = {"log_loss": calibration.log_loss(output, y), "accuracy": float(accuracy_score(y, output.argmax(1)))}
    if output.shape[1] == 2 and len(np.unique(y)) == 2:
        result["roc_auc"] = float(roc_auc_score(y, output[:, 1]))
    return result


# ---------------------------------------------------------------- image tasks
def _same_rows(frames: list, task_name: str) -> np.ndarray:
    rows = frames[0]["row"].to_numpy()
    if any(not np.array_equal(f["row"].to_numpy(), rows) for f in frames):
        raise WorkspaceError(f"the models of {task_name} predicted different test images; predict again with one "
                             "run of automodal predict.")
    return rows


def _boxes_of(cell: str, fmt: str, index: dict) -> list:
    """A stored bboxes cell as [(x1, y1, x2, y2), score, class index of the task]."""
    out = []
    for box in json.loads(cell):
        x1, y1, a, b = box["bbox"]
        out.append(([x1, y1, a, b] if fmt == "xyxy" else [x1, y1, x1 + a, y1 + b], box["score"],
                    index[str(box["class"])]))
    return out


def _box_tensors(boxes: list) -> dict:
    import torch    # deferred: torch loads in 3 s (measured) and only the detection ensemble needs it here

    return {"boxes": torch.tensor([b for b, _, _ in boxes], dtype=torch.float32).reshape(-1, 4),
            "scores": torch.tensor([s for _, s, _ in boxes], dtype=torch.float32),
            "labels": torch.tensor([c + 1 for _, _, c in boxes], dtype=torch.int64)}


def _detection_scores(outputs: list, truth: list) -> dict:
    # deferred: the detection metrics load torch (3 s measured), which table tasks' post does without
    from ...learners.detection.metrics import METRICS, detection_scores

    return detection_scores([_box_tensors(o) for o in outputs], [_box_tensors(t) for t in truth], list(METRICS))


def _mask_scores(proba: list, truth: list, classes: int) -> dict:
    matrix = sum(mask_metrics.confusion_matrix(p.argmax(0), t, classes) for p, t in zip(proba, truth))
    return {name: float(getattr(mask_metrics, f"{name}_from_confusion")(matrix)) for name in ("iou", "dice", "ber")}
