"""Model evaluation: published values, agreement with scikit-learn, conventions, and clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from services.analytics.__main__ import main as cli_main
from services.analytics.charts import metrics_chart
from services.analytics.errors import AnalyticsError
from services.analytics.metrics import entropy, evaluate, recalibrate
from services.analytics.metrics_types import MetricsResult
from services.settings import REPO_ROOT


def binary_table(n: int = 4000, seed: int = 0, base: float = 0.2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    p = rng.beta(1, 4, n)
    y = (rng.random(n) < p).astype(int)
    return pd.DataFrame({"label": y, "p": p})


def test_published_log_loss():
    table = pd.DataFrame({"y": ["no", "no", "no", "yes", "yes", "yes"], "p": [0.5, 0.9, 0.99, 0.1, 0.25, 0.999]})
    result = evaluate(table, "y", "p")
    assert result.positive_label == "yes"
    assert result.log_loss == pytest.approx(1.8817971, abs=1e-6)


def test_published_ndcg_with_linear_gain():
    table = pd.DataFrame({"q": ["a"] * 5, "rel": [10, 0, 0, 1, 5], "s": [0.1, 0.2, 0.3, 4, 70]})
    assert evaluate(table, "rel", "s", query="q", k=5).ndcg == pytest.approx(0.695694, abs=1e-6)


def test_recalibration_published_value_and_round_trip():
    assert recalibrate(np.array([0.5]), 0.1)[0] == pytest.approx(0.090909, abs=1e-6)
    p = np.linspace(0.01, 0.99, 50)
    inflated = p / (p + 0.1 * (1 - p))  # what a model trained with negatives kept at w = 0.1 predicts
    assert recalibrate(inflated, 0.1) == pytest.approx(p)


def test_normalized_entropy_is_one_minus_d2_log_loss():
    table = binary_table()
    result = evaluate(table, "label", "p")
    assert result.normalized_entropy == pytest.approx(1 - skm.d2_log_loss_score(table.label, table.p), abs=1e-6)
    assert result.normalized_entropy == pytest.approx(result.log_loss / entropy(table.label.mean()), abs=1e-6)


def test_binary_metrics_agree_with_scikit_learn():
    table = binary_table(seed=3)
    result = evaluate(table, "label", "p", threshold=0.3)
    y, p = table.label.to_numpy(), table.p.to_numpy()
    predicted = (p >= 0.3).astype(int)
    assert result.accuracy == pytest.approx(skm.accuracy_score(y, predicted), abs=1e-6)
    assert result.precision == pytest.approx(skm.precision_score(y, predicted), abs=1e-6)
    assert result.recall == pytest.approx(skm.recall_score(y, predicted), abs=1e-6)
    assert result.f1 == pytest.approx(skm.f1_score(y, predicted), abs=1e-6)
    assert result.roc_auc == pytest.approx(skm.roc_auc_score(y, p), abs=1e-6)
    assert result.pr_auc == pytest.approx(skm.average_precision_score(y, p), abs=1e-6)
    assert result.brier == pytest.approx(skm.brier_score_loss(y, p), abs=1e-6)
    assert result.calibration == pytest.approx(p.mean() / y.mean(), abs=1e-6)
    assert result.prediction_bias == pytest.approx(p.mean() - y.mean(), abs=1e-6)
    tn, fp, fn, tp = skm.confusion_matrix(y, predicted).ravel()
    assert result.confusion_matrix == {"tn": tn, "fp": fp, "fn": fn, "tp": tp}
    assert sum(row["rows"] for row in result.calibration_table) == len(table)


def test_best_f1_threshold_maximises_f1():
    table = binary_table(seed=5)
    best = evaluate(table, "label", "p", threshold="best-f1")
    for t in np.linspace(0.05, 0.95, 19):
        assert best.f1 >= skm.f1_score(table.label, table.p >= t) - 1e-9
    assert best.threshold_rule == "best-f1"


def test_accuracy_paradox_is_called_out():
    rng = np.random.default_rng(1)
    y = (rng.random(2000) < 0.01).astype(int)
    table = pd.DataFrame({"y": y, "p": rng.random(2000) * 0.2})  # never above 0.5: predicts one class
    result = evaluate(table, "y", "p")
    assert result.accuracy == pytest.approx(1 - y.mean(), abs=1e-6)
    assert any("equals the majority share" in line and "may be predicting" in line for line in result.summary)


def test_inflated_probabilities_get_a_recalibration_suggestion_that_works():
    rng = np.random.default_rng(2)
    p = rng.beta(1, 9, 20_000)
    y = (rng.random(p.size) < p).astype(int)
    inflated = p / (p + 0.1 * (1 - p))
    table = pd.DataFrame({"y": y, "p": inflated})
    result = evaluate(table, "y", "p")
    assert result.calibration > 2
    assert result.recalibration_w == pytest.approx(0.1, rel=0.15)
    assert any("recalibrate with w ≈" in line for line in result.summary)
    fixed = evaluate(table, "y", "p", sampling_rate=0.1)
    assert fixed.calibration == pytest.approx(1.0, abs=0.05)
    assert fixed.roc_auc == pytest.approx(result.roc_auc, abs=1e-9)  # ranking metrics do not change


def test_scores_outside_unit_interval_skip_probability_metrics_and_say_why():
    table = binary_table()
    table["logit"] = np.log(table.p / (1 - table.p))
    result = evaluate(table, "label", "logit")
    assert result.log_loss is None and result.threshold_rule == "best-f1"
    assert any("outside [0, 1]" in line for line in result.summary)
    with pytest.raises(AnalyticsError, match="outside \\[0, 1\\]"):
        evaluate(table, "label", "logit", sampling_rate=0.1)


@pytest.mark.parametrize(
    ("table", "y_true", "y_score", "words"),
    [
        (pd.DataFrame({"y": [1, 1, 1], "p": [0.2, 0.4, 0.9]}), "y", "p", "single class"),
        (pd.DataFrame({"y": [0, 1], "p": [0.2, 0.4]}), "label", "p", "no column 'label'"),
        (pd.DataFrame({"y": [0, 1, 0], "p": ["low", "high", "x"]}), "y", "p", "not numeric"),
        (pd.DataFrame({"y": [None, None], "p": [0.1, 0.2]}), "y", "p", "nothing to evaluate"),
    ],
)
def test_bad_input_gets_one_sentence(table, y_true, y_score, words):
    with pytest.raises(AnalyticsError, match=words) as raised:
        evaluate(table, y_true, y_score)
    assert "\n" not in str(raised.value)


def test_missing_column_lists_the_columns_and_the_closest():
    with pytest.raises(AnalyticsError) as raised:
        evaluate(pd.DataFrame({"label": [0, 1], "p": [0.1, 0.9]}), "labl", "p")
    assert "Did you mean 'label'?" in str(raised.value) and "label, p" in str(raised.value)


def test_multiclass_agrees_with_scikit_learn_and_names_the_weakest_class():
    rng = np.random.default_rng(4)
    y = rng.choice(["cat", "dog", "bird"], 600)
    predicted = np.where(rng.random(600) < 0.8, y, rng.choice(["cat", "dog", "bird"], 600))
    result = evaluate(pd.DataFrame({"y": y, "yhat": predicted}), "y", "yhat")
    assert result.task == "multiclass"
    assert result.macro["f1"] == pytest.approx(skm.f1_score(y, predicted, average="macro"), abs=1e-6)
    assert result.weighted["f1"] == pytest.approx(skm.f1_score(y, predicted, average="weighted"), abs=1e-6)
    assert any("weakest class" in line for line in result.summary)


@pytest.mark.parametrize("whole", [False, True])
def test_regression_agrees_with_scikit_learn(whole):
    # whole: ratings 1-5 predicted by numbers that are not whole are a regression too, not 5 classes
    rng = np.random.default_rng(6)
    y = rng.integers(1, 6, 500) if whole else rng.normal(10, 3, 500)
    predicted = y + rng.normal(0, 1, 500)
    result = evaluate(pd.DataFrame({"y": y, "yhat": predicted}), "y", "yhat")
    assert result.task == "regression"
    assert result.mae == pytest.approx(skm.mean_absolute_error(y, predicted), abs=1e-6)
    assert result.rmse == pytest.approx(skm.root_mean_squared_error(y, predicted), abs=1e-6)
    assert result.r2 == pytest.approx(skm.r2_score(y, predicted), abs=1e-6)


def test_ranking_mrr_map_and_hit_rate_by_hand():
    table = pd.DataFrame(
        {
            "q": ["a", "a", "a", "b", "b", "b", "c", "c"],
            "rel": [0, 1, 1, 1, 0, 0, 0, 0],  # query c has no relevant item: left out
            "s": [0.9, 0.8, 0.1, 0.2, 0.9, 0.5, 0.3, 0.4],
        }
    )
    result = evaluate(table, "rel", "s", query="q", k=2)
    # a: order 0,1,1 → first relevant at rank 2; AP@2 = (1/min(2,2)) * (P@2·1) = 0.25
    # b: order 0,0,1 → first relevant at rank 3; nothing in the top 2: AP@2 = 0, no hit
    assert result.mrr == pytest.approx((1 / 2 + 1 / 3) / 2)
    assert result.map == pytest.approx((0.25 + 0) / 2)
    assert result.hit_rate == pytest.approx(0.5)
    assert (result.queries, result.queries_without_relevant) == (2, 1)
    assert "min(k, relevant items" in result.conventions


def test_chart_is_a_png_under_the_limits():
    result = evaluate(binary_table(), "label", "p")
    png = metrics_chart(result)
    assert png.startswith(b"\x89PNG") and len(png) <= 1_000_000
    small = metrics_chart(result, max_bytes=48_000, dpi=80)
    assert len(small) <= 48_000


def test_card_charts_are_one_panel_wide_at_about_400_pixels():
    import io

    from PIL import Image

    from handlers.analytics import TEAMS_CHART_BYTES

    png = metrics_chart(evaluate(binary_table(), "label", "p"), max_bytes=TEAMS_CHART_BYTES, dpi=80)
    width, height = Image.open(io.BytesIO(png)).size
    assert 340 <= width <= 480 and height > width  # panels stacked, not side by side
    assert len(png) <= TEAMS_CHART_BYTES


def test_cli_json_has_the_documented_keys(tmp_path):
    path = tmp_path / "preds.parquet"
    binary_table().to_parquet(path)
    chart = tmp_path / "chart.png"
    result = subprocess.run(
        [sys.executable, "-m", "services.analytics", "metrics", str(path), "--y-true", "label", "--y-score", "p",
         "--json", "--chart", str(chart)],
        capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    for key in ("task", "n", "base_rate", "accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss",
                "normalized_entropy", "calibration", "brier", "summary"):  # fmt: skip
        assert key in document
    assert 0 < chart.stat().st_size <= 1_000_000


def test_cli_bad_column_exits_2_with_a_sentence(tmp_path, capsys):
    path = tmp_path / "preds.csv"
    binary_table().to_csv(path, index=False)
    code = cli_main(["metrics", str(path), "--y-true", "truth", "--y-score", "p"])
    assert code == 2 and "no column 'truth'" in capsys.readouterr().err  # an exception would fail the test


def test_labels_compare_equal_across_1_and_1_0_and_text():
    # one missing label makes pandas read the column as floats: 1.0 must still equal the prediction "1"
    table = pd.DataFrame({"y": [1, 2, 3, 1, 2, 3, None, 2], "yhat": ["1", "2", "3", "1", "2", "1", "2", "2"]})
    result = evaluate(table, "y", "yhat")
    assert result.task == "multiclass" and result.labels == ("1", "2", "3")
    assert result.accuracy == pytest.approx(6 / 7, abs=1e-6)


def test_zero_one_predictions_get_threshold_metrics_only():
    rng = np.random.default_rng(9)
    y = rng.integers(0, 2, 500)
    predicted = np.where(rng.random(500) < 0.8, y, 1 - y)
    result = evaluate(pd.DataFrame({"y": y, "p": predicted}), "y", "p")
    assert result.kind == "predicted classes"
    assert result.log_loss is None and result.normalized_entropy is None and result.roc_auc is None
    assert result.accuracy == pytest.approx(skm.accuracy_score(y, predicted), abs=1e-6)


def test_multiclass_log_loss_from_per_class_probability_columns():
    rng = np.random.default_rng(10)
    labels = rng.choice(["a", "b", "c"], 300)
    p = rng.dirichlet([1, 1, 1], 300)
    table = pd.DataFrame({"y": labels, "pred": np.array(["a", "b", "c"])[p.argmax(1)]})
    table[["p_a", "prob_b", "P_C"]] = p
    result = evaluate(table, "y", "pred")
    assert result.log_loss == pytest.approx(skm.log_loss(labels, p, labels=["a", "b", "c"]), abs=1e-6)
    assert any("Multiclass log loss" in line for line in result.summary)


def test_an_auc_far_below_one_half_hints_at_inverted_scores():
    rng = np.random.default_rng(11)
    s = rng.random(600)
    y = (rng.random(600) < 1 - s).astype(int)
    result = evaluate(pd.DataFrame({"y": y, "p": s}), "y", "p")
    assert result.roc_auc < 0.3 and result.inverted_hint
    assert any("may be inverted" in line for line in result.summary)
    fair = evaluate(binary_table(), "label", "p")
    assert not fair.inverted_hint and "inverted_hint" not in fair.to_dict()


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"label,p\n1,0.4\n0,1e309\n", "too large for a 64-bit float"),
        (b"", "is empty"),
        (b"label,p\n\xff\xfe1,0.2\n", "is not UTF-8 text"),
    ],
)
def test_cli_unreadable_tables_exit_2_with_a_sentence_and_no_exception_name(tmp_path, capsys, content, words):
    path = tmp_path / "preds.csv"
    path.write_bytes(content)
    code = cli_main(["metrics", str(path), "--y-true", "label", "--y-score", "p"])  # in process: an escaping
    err = capsys.readouterr().err  # exception fails the test (the subprocess form is test_cli_json_…)
    assert code == 2 and words in err
    assert not any(name in err for name in ("Traceback", "EmptyDataError", "UnicodeDecodeError"))


# Regression tests of issue 21 on scikit-learn's bundled Wisconsin breast-cancer data (Street, Wolberg and
# Mangasarian 1993; sklearn.datasets.load_breast_cancer, 569 tumours, target 0 malignant / 1 benign).


def breast_cancer(labels: tuple[object, object] = (1, 2)) -> pd.DataFrame:
    """The tumours with the label written as `labels` (malignant, benign) and a probability of 'benign' made
    from one published feature: 1 − the min–max scaled mean concave points (fewer concave points, benign)."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    points = data.data[:, list(data.feature_names).index("mean concave points")]
    p = 1 - (points - points.min()) / (points.max() - points.min())
    return pd.DataFrame({"label": np.where(data.target == 1, labels[1], labels[0]), "p": p})


def test_labels_1_and_2_make_the_larger_label_positive_and_the_card_says_so():
    from handlers.analytics_cards import evaluation_card

    table = breast_cancer((1, 2))
    result = evaluate(table, "label", "p")
    assert result.positive_label == "2" and result.roc_auc > 0.9
    assert result.roc_auc == pytest.approx(skm.roc_auc_score(table["label"], table["p"]), abs=1e-6)
    assert result.gini == pytest.approx(2 * skm.roc_auc_score(table["label"], table["p"]) - 1, abs=1e-6)
    assert "for the positive class '2'" in result.summary[0] and "weak" not in result.summary[0]
    card = json.dumps(evaluation_card(result, "tumours.csv", None))
    assert "positive class '2'" in card
    chosen = evaluate(table, "label", "p", positive="1")  # malignant as the positive class: the scores invert
    assert chosen.positive_label == "1" and chosen.roc_auc == pytest.approx(1 - result.roc_auc, abs=1e-6)
    with pytest.raises(AnalyticsError, match="positive='3' is not a label of y_true"):
        evaluate(table, "label", "p", positive="3")


def test_accuracy_below_the_majority_share_and_ne_above_one_are_worded_as_such():
    """Inverted probabilities on the tumours: accuracy far below the majority share, NE far above 1."""
    table = breast_cancer((0, 1)).assign(p=lambda f: 1 - f["p"])
    result = evaluate(table, "label", "p")
    assert result.accuracy < result.majority_share - 0.1 and result.normalized_entropy > 1
    said = " ".join(result.summary)
    assert f"Accuracy {result.accuracy:.3f} is below the majority share {result.majority_share:.3f}" in said
    assert "equals the majority share" not in said and "no better than predicting the base rate" not in said
    assert f"Normalized entropy {result.normalized_entropy:.3f}: worse than predicting the base rate" in said


def test_a_threshold_outside_zero_one_is_refused_for_probabilities():
    table = breast_cancer((0, 1))
    for threshold in (1.5, -0.2, 50):
        with pytest.raises(AnalyticsError, match=r"outside \[0, 1\]"):
            evaluate(table, "label", "p", threshold=threshold)
    scores = table.assign(p=lambda f: f["p"] * 40 - 10)  # scores, not probabilities: any threshold is a cut
    assert evaluate(scores, "label", "p", threshold=15).threshold == 15


def test_ece_equals_the_weighted_gap_of_scikit_learns_uniform_calibration_curve():
    from sklearn.calibration import calibration_curve

    table = breast_cancer((0, 1))
    result = evaluate(table, "label", "p")
    observed, predicted = calibration_curve(table["label"], table["p"], n_bins=10, strategy="uniform")
    counts = np.histogram(table["p"], bins=np.linspace(0, 1, 11))[0]
    expected = float(np.sum(counts[counts > 0] / len(table) * np.abs(observed - predicted)))
    assert result.ece == pytest.approx(expected, abs=1e-6)
    assert any(f"Expected calibration error {result.ece:.3f}" in line for line in result.summary)


NUMBER = r"(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)"


def _check_sentence(line: str) -> None:
    """Assert that the comparison word of a generated sentence matches the numbers it states."""
    import re

    def order(a: str, b: str) -> str:
        return "below" if float(a) < float(b) else "equal to" if float(a) == float(b) else "above"

    if m := re.search(rf"Accuracy {NUMBER} (is below|equals|is only just above) the majority share {NUMBER}", line):
        word = {"is below": "below", "equals": "equal to", "is only just above": "above"}[m[2]]
        assert order(m[1], m[3]) == word, line
    if m := re.search(rf"Normalized entropy {NUMBER}: (the model removes|no better|worse)", line):
        word = {"the model removes": "below", "no better": "equal to", "worse": "above"}[m[2]]
        assert order(m[1], "1") == word, line
    if m := re.search(rf"R² {NUMBER}: (the model explains|no better|worse)", line):
        word = {"the model explains": "above", "no better": "equal to", "worse": "below"}[m[2]]
        assert order(m[1], "0") == word, line
    if m := re.search(rf"RMSE {NUMBER}, (below|equal to|above) {NUMBER}", line):
        assert order(m[1], m[3]) == m[2], line
    if m := re.search(rf"log loss {NUMBER} from the per-class probabilities, (below|equal to|above) {NUMBER}", line):
        assert order(m[1], m[3]) == m[2], line
    if m := re.search(rf"ROC AUC {NUMBER} \(Gini {NUMBER}\).*the ranking is ([a-z ]+) —", line):
        auc, quality = float(m[1]), m[3]
        assert float(m[2]) == pytest.approx(2 * auc - 1, abs=1.5e-3), line
        expected = ("strong" if auc >= 0.9 else "good" if auc >= 0.8 else "useful" if auc >= 0.7 else "weak" if
                    auc > 0.5 else "no better than chance" if auc == 0.5 else "worse than chance")  # fmt: skip
        assert quality == expected, line
    calibration = rf"Calibration {NUMBER}: predictions average (only )?{NUMBER}× the observed rate \(too (high|low)\)"
    if m := re.search(calibration, line):
        assert (float(m[1]) > 1.1) if m[4] == "high" else (float(m[1]) < 0.9), line
    if m := re.search(rf"Calibration {NUMBER}: on average the probabilities are within 10%", line):
        assert 0.9 <= float(m[1]) <= 1.1, line


def test_every_generated_sentence_agrees_with_the_numbers_it_states():
    """Sentences generated over a grid of values (around every boundary the wording uses) are each checked
    against the numbers they print; then the real evaluations of this file's data sets too."""
    from services.analytics.metrics_wording import explain

    binary = evaluate(breast_cancer((0, 1)), "label", "p")
    regression = evaluate(pd.DataFrame({"y": np.linspace(0, 10, 50), "s": np.linspace(0, 10, 50) ** 1.1}), "y", "s")
    grid = [0.0, 0.2, 0.4994, 0.4996, 0.5, 0.5004, 0.6999, 0.7, 0.7726, 0.773, 0.7734, 0.7781, 0.8, 0.8999, 0.9,
            0.9951, 0.9996, 1.0, 1.0004, 1.0996, 1.1004, 1.105, 2.543]  # fmt: skip
    checked = 0
    for a in grid:
        for b in grid:
            cases = [
                replace(binary, accuracy=min(a, 1.0), majority_share=min(max(b, 0.5), 1.0), normalized_entropy=a,
                        roc_auc=min(a, 1.0), calibration=b),
                replace(regression, r2=a - 0.5, rmse=a, baseline={"rmse_of_mean": b, "mae_of_median": b}),
                MetricsResult(task="multiclass", n=3, rows_dropped=0, columns={}, labels=("a", "b", "c"),
                              accuracy=min(a, 1.0), majority_share=min(b, 1.0), majority_label="a",
                              macro={"f1": 0.5}, log_loss=a, log_loss_of_class_shares=b,
                              per_class=({"label": "a", "f1": 0.5, "support": 3},)),
            ]  # fmt: skip
            for result in cases:
                for line in explain(result):
                    _check_sentence(line)
                    checked += 1
    assert checked > 3000


def test_the_false_sentences_of_issue_21_are_not_generated():
    from services.analytics.metrics_wording import accuracy_sentence, normalized_entropy_sentence

    assert accuracy_sentence(0.255, 0.773, "the majority class").startswith("Accuracy 0.255 is below the majority")
    assert normalized_entropy_sentence(2.543).startswith("Normalized entropy 2.543: worse than predicting")


def test_cli_takes_positive(tmp_path, capsys):
    breast_cancer((1, 2)).to_csv(tmp_path / "tumours.csv", index=False)
    code = cli_main(["metrics", str(tmp_path / "tumours.csv"), "--y-true", "label", "--y-score", "p",
                     "--positive", "1", "--json"])  # fmt: skip
    out = capsys.readouterr()
    assert code == 0, out.err
    assert json.loads(out.out)["positive_label"] == "1"
