import aws_cdk as cdk
import pytest

from chime_speaker_search import CallLeg
from chime_speaker_search.call_leg import resolve_call_leg


def test_enum_values_are_the_api_strings() -> None:
    assert CallLeg.CALLER.value == "Caller"
    assert CallLeg.CALLEE.value == "Callee"
    assert [leg.value for leg in CallLeg] == ["Caller", "Callee"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [(CallLeg.CALLER, "Caller"), (CallLeg.CALLEE, "Callee"), ("Caller", "Caller"), ("Callee", "Callee")],
)
def test_accepts_the_enum_or_its_exact_string(given: CallLeg | str, expected: str) -> None:
    assert resolve_call_leg(given) == expected


@pytest.mark.parametrize("bad", ["caller", "CALLEE", "", "Agent", " Caller", None, 1])
def test_anything_else_names_the_allowed_values(bad: object) -> None:
    with pytest.raises(ValueError, match=r"call_leg: .* allowed values are 'Caller', 'Callee'"):
        resolve_call_leg(bad)  # type: ignore[arg-type]


def test_an_unresolved_token_passes_to_run_time_validation() -> None:
    stack = cdk.Stack()
    leg = cdk.CfnParameter(stack, "Leg", allowed_values=["Caller", "Callee"]).value_as_string
    assert resolve_call_leg(leg) == leg
