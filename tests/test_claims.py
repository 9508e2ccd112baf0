import pytest

from rtsu_lib.claims import (claims_frame, comparison_verdict, memorisation_verdict, record_claim,
                             transform_verdict)
from rtsu_lib.results import ResultsStore


@pytest.mark.parametrize("train,test,expected", [
    (0.99, 0.51, "reproduced"), (0.70, 0.49, "partly"), (0.55, 0.50, "not reproduced"),
    (0.99, 0.70, "not reproduced"), (0.95, 0.45, "reproduced"),
])
def test_memorisation_rule(train, test, expected):
    assert memorisation_verdict(train, test, chance=0.5) == expected


def test_a_short_run_that_has_not_started_fitting_is_inconclusive_not_a_failure():
    assert memorisation_verdict(0.55, 0.50, chance=0.5, full_length=False) == "inconclusive"
    assert memorisation_verdict(0.55, 0.50, chance=0.5, full_length=True) == "not reproduced"
    assert memorisation_verdict(0.70, 0.50, chance=0.5, full_length=False) == "partly"
    assert memorisation_verdict(0.99, 0.80, chance=0.5, full_length=False) == "not reproduced"


def test_comparison_rule():
    chance = {"c10": 0.1, "c100": 0.01}
    others = {"c10": {"relu": 0.60, "crelu": 0.62}, "c100": {"relu": 0.30, "crelu": 0.31}}
    assert comparison_verdict({"c10": 0.615, "c100": 0.35}, others, chance) == "reproduced"
    assert comparison_verdict({"c10": 0.50, "c100": 0.35}, others, chance) == "partly"
    assert comparison_verdict({"c10": 0.50, "c100": 0.20}, others, chance) == "not reproduced"
    flat = {"c10": {"relu": 0.12}, "c100": {"relu": 0.05}}
    assert comparison_verdict({"c10": 0.1, "c100": 0.01}, flat, chance) == "inconclusive"


def test_transform_rule_counts_only_fitted_variants():
    chance = {"binary": 0.5, "labels": 0.1, "noise": 0.1}
    clean = {"binary": 0.99, "labels": 0.9, "noise": 0.3}  # noise is not fitted (below 0.55)
    verdict, works = transform_verdict({"binary": 0.95, "labels": 0.85, "noise": 0.0}, clean, chance)
    assert (verdict, works) == ("reproduced", ["binary", "labels"])
    verdict, works = transform_verdict({"binary": 0.95, "labels": 0.2, "noise": 0.3}, clean, chance)
    assert (verdict, works) == ("partly", ["binary"])
    assert transform_verdict({"binary": 0.5, "labels": 0.1, "noise": 0.3}, clean, chance)[0] == "not reproduced"
    assert transform_verdict(clean, {"binary": 0.6, "labels": 0.2, "noise": 0.2}, chance)[0] == "inconclusive"


def test_claims_are_stored_per_profile_and_verdicts_checked(tmp_path):
    store = ResultsStore(tmp_path)
    record_claim("quick", "a", figure="Fig. 1", paper="p", ours="o", verdict="partly", rule="r", store=store)
    record_claim("paper", "a", figure="Fig. 1", paper="p", ours="o", verdict="reproduced", rule="r", store=store)
    assert claims_frame("quick", store)["verdict"].tolist() == ["partly"]
    with pytest.raises(ValueError, match="verdict='maybe'"):
        record_claim("quick", "b", figure="F", paper="p", ours="o", verdict="maybe", rule="r", store=store)
