"""The claims table: each figure page records its claim, our numbers and a verdict in the store.

Verdicts follow fixed rules, stated here and on the claims page, never tuned to a result:
  - memorisation claims (the network fits labels it cannot generalise from):
    ``reproduced`` when final train accuracy >= 0.95 and test accuracy is within 0.05 of chance;
    ``partly`` when train accuracy is at least 0.10 above chance (fitting under way) and test is
    within 0.05 of chance; ``inconclusive`` when train accuracy is below that and the run was
    shorter than the paper's (it may not have had time to start fitting); ``not reproduced``
    otherwise (test accuracy away from chance, or no fitting after the paper's number of epochs);
  - comparison rule (Fig. 2): per dataset, RTSU's test accuracy is within 1 point of the best
    other activation; ``inconclusive`` when no run is 10 points above chance (nothing learned yet);
  - transform rule (Figs. 6-11): a transform *works* on a fitted variant when it keeps at least
    90 % of the accuracy on the clean training images and stays 10 points above chance; a variant
    counts as fitted when its clean training accuracy is at least halfway from chance to 100 %.
    ``reproduced`` when it works on every fitted variant, ``partly`` on some, ``not reproduced``
    on none, ``inconclusive`` when no variant is fitted.
"""

import pandas as pd

from .results import ResultsStore
from .storage import read_json, write_json

FIT_THRESHOLD = 0.95
CHANCE_TOLERANCE = 0.05
FITTING_UNDER_WAY = 0.10
COMPARISON_TOLERANCE = 0.01
KEPT_SHARE = 0.9
PAPER_NUM_EPOCHS = 100  # Figs. 3-4 train for 100 epochs
VERDICTS = ("reproduced", "partly", "not reproduced", "inconclusive")


def memorisation_verdict(train_acc: float, test_acc: float, chance: float, full_length: bool = True) -> str:
    """``full_length``: the run had at least the paper's number of epochs (``PAPER_NUM_EPOCHS``)."""
    if abs(test_acc - chance) > CHANCE_TOLERANCE:
        return "not reproduced"
    if train_acc >= FIT_THRESHOLD:
        return "reproduced"
    if train_acc >= chance + FITTING_UNDER_WAY:
        return "partly"
    return "not reproduced" if full_length else "inconclusive"


def comparison_verdict(rtsu_test: dict, others_test: dict, chance: dict) -> str:
    """``rtsu_test[dataset]`` against ``others_test[dataset][activation]`` (final test accuracies)."""
    learned = [max([rtsu_test[d], *others_test[d].values()]) >= chance[d] + FITTING_UNDER_WAY for d in rtsu_test]
    if not all(learned):
        return "inconclusive"
    holds = [rtsu_test[d] >= max(others_test[d].values()) - COMPARISON_TOLERANCE for d in rtsu_test]
    return "reproduced" if all(holds) else ("partly" if any(holds) else "not reproduced")


def is_fitted(clean_train_acc: float, chance: float) -> bool:
    return clean_train_acc >= chance + 0.5 * (1 - chance)


def transform_works(transformed_acc: float, clean_train_acc: float, chance: float) -> bool:
    return transformed_acc >= KEPT_SHARE * clean_train_acc and transformed_acc >= chance + FITTING_UNDER_WAY


def transform_verdict(transformed: dict, clean: dict, chance: dict) -> tuple[str, list]:
    """Verdict over variants for one transform, and the fitted variants it works on."""
    fitted = [v for v in clean if is_fitted(clean[v], chance[v])]
    if not fitted:
        return "inconclusive", []
    works = [v for v in fitted if transform_works(transformed[v], clean[v], chance[v])]
    verdict = "reproduced" if len(works) == len(fitted) else ("partly" if works else "not reproduced")
    return verdict, works


def record_claim(profile: str, claim_id: str, *, figure: str, paper: str, ours: str, verdict: str, rule: str,
                 store: ResultsStore | None = None):
    """Write (or replace) one row of the claims table for ``profile``."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict={verdict!r} is not allowed: must be one of {VERDICTS}")
    store = store or ResultsStore()
    row = {"claim": claim_id, "figure": figure, "paper": paper, "ours": ours, "verdict": verdict, "rule": rule,
           "profile": profile}
    write_json(store.evaluation_path(f"claim-{profile}-{claim_id}"), row)
    return row


def claims_frame(profile: str, store: ResultsStore | None = None) -> pd.DataFrame:
    store = store or ResultsStore()
    rows = [read_json(path) for path in sorted((store.root / "evaluations").glob(f"claim-{profile}-*.json"))]
    columns = ["figure", "claim", "paper", "ours", "verdict", "rule"]
    return pd.DataFrame(rows, columns=columns + ["profile"])[columns]
