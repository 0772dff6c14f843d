"""`eval`'s figures on hand-made outcomes: what counts as right for each kind of label."""

from policybot.model import Candidate, MatchResult, Status
from policybot.quality.evaluate import Question, Report, evaluate


def result(status: Status, entry: str | None = None, special: str | None = None,
           candidates: tuple[str, ...] = ()) -> MatchResult:
    return MatchResult("q", "q", status, 60.0, entry, tuple(Candidate(c, 60.0) for c in candidates),
                       special_id=special)


def test_figures_for_every_kind_of_label() -> None:
    cases = [
        (Question("a", "entry-a"), result(Status.ANSWERED, "entry-a")),
        (Question("b", "entry-b"), result(Status.AMBIGUOUS, candidates=("entry-b", "entry-c"))),
        (Question("c", "none"), result(Status.OUT_OF_SCOPE)),
        (Question("d", "none"), result(Status.UNANSWERED)),
        (Question("e", "emergency", kind="crisis"), result(Status.EMERGENCY, special="poisoning,crisis")),
        (Question("f", "emergency", kind="medical"), result(Status.EMERGENCY, special="crisis")),
        (Question("g", "not-emergency", family="idiom"), result(Status.ANSWERED, "entry-a")),
        (Question("h", "not-emergency", family="past"), result(Status.EMERGENCY, special="medical")),
    ]
    answers = {q.q: r for q, r in cases}
    report: Report = evaluate([q for q, _ in cases], lambda text: answers[text])
    f = report.figures()
    assert (f["in_scope"], f["accuracy"], f["reached"]) == (2, 50.0, 100.0)
    assert f["did_you_mean"] == 50.0 and f["told_out_of_scope"] == 50.0 and f["rejection"] == 100.0
    # the medical emergency got only the crisis reply: a miss of its kind
    assert f["emergency_recall"] == 50.0 and report.recall_by_kind() == {"crisis": (1, 1), "medical": (0, 1)}
    assert f["false_emergencies"] == 1 and report.false_by()["by_family"] == {"past": 1}
    assert f["confident_wrong"] == 0.0  # a look-alike answered from the knowledge base is fine


def test_english_accuracy_counts_in_scope_english_questions_only() -> None:
    cases = [
        (Question("is the checkup free", "entry-a"), result(Status.ANSWERED, "entry-a")),
        (Question("where do I book", "entry-b"), result(Status.AMBIGUOUS, candidates=("entry-b",))),
        (Question("体检免费吗", "entry-a"), result(Status.UNANSWERED)),
        (Question("what is the weather", "none"), result(Status.OUT_OF_SCOPE)),
    ]
    answers = {q.q: r for q, r in cases}
    report = evaluate([q for q, _ in cases], lambda text: answers[text])
    assert len(report.english) == 2 and report.figures()["english_accuracy"] == 50.0
