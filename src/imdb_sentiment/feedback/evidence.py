"""Production evidence for ``imdb-sentiment promote``, beside the offline validation gate.

- **Shadow agreement** (``--min-shadow-agreement X``): how often the candidate, scored in the
  shadow of the serving champion, gave the champion's label on live ``/predict`` traffic. Read
  from a running service's ``/metrics`` (or a JSON file of the same figures); the figures must be
  about this candidate (the challenger's bundle version) or they do not count.
- **Feedback accuracy** (``--min-feedback-accuracy Y``): the candidate's accuracy on the texts
  users labelled through ``POST /feedback``. Users only ever saw the champion's answers, so the
  stored texts are scored again with the candidate bundle (fetched and verified like any served
  bundle) and compared with the users' labels. The lower bound of the 95 % Wilson interval must
  reach Y, so a handful of lucky rows cannot pass the gate.

Missing evidence refuses the promotion, as low evidence does: a gate that was asked for and
could not be checked has not been passed.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field

from imdb_sentiment.feedback.report import wilson_low
from imdb_sentiment.feedback.shadow_source import read_shadow


@dataclass
class Evidence:
    passed: bool = True
    lines: list[str] = field(default_factory=list)

    def refuse(self, line: str) -> None:
        self.passed = False
        self.lines.append(f"REFUSED: {line}")

    def accept(self, line: str) -> None:
        self.lines.append(f"ok: {line}")


def check_shadow(evidence: Evidence, source: str | None, minimum: float, bundle: str) -> None:
    if source is None:
        evidence.refuse(
            "--min-shadow-agreement needs --shadow URL_OR_FILE (the service's /metrics)"
        )
        return
    try:
        shadow = read_shadow(source)
    except (OSError, ValueError) as error:
        evidence.refuse(f"no shadow figures from {source}: {error}")
        return
    total = shadow.agree + shadow.disagree
    where = f"{source}: {shadow.agree} of {total} agree, challenger {shadow.challenger_version}"
    if shadow.challenger_version != bundle:
        evidence.refuse(f"the shadow figures are about another challenger ({where}), not {bundle}")
    elif not total:
        evidence.refuse(f"the challenger has not scored any traffic yet ({where})")
    elif shadow.agree / total < minimum:
        evidence.refuse(f"shadow agreement {shadow.agree / total:.4f} < {minimum} ({where})")
    else:
        evidence.accept(f"shadow agreement {shadow.agree / total:.4f} >= {minimum} ({where})")


def check_feedback(
    evidence: Evidence, db_url: str, minimum: float, registry_uri: str, bundle: str
) -> None:
    from imdb_sentiment.bundle import BundleError, load_bundle
    from imdb_sentiment.feedback.database import create_feedback_engine, iter_feedback, safe_url
    from imdb_sentiment.registry import RegistryError, fetch_registered_bundle

    try:
        engine = create_feedback_engine(db_url)
        texts, labels = [], []
        for rows in iter_feedback(engine):
            texts += [row.text for row in rows]
            labels += [row.label for row in rows]
        engine.dispose()
    except Exception as error:  # SQLAlchemy's errors: the database is the evidence's source
        evidence.refuse(f"cannot read feedback from {safe_url(db_url)}: {type(error).__name__}")
        return
    if not texts:
        evidence.refuse(f"no feedback rows in {safe_url(db_url)}")
        return
    try:
        model = load_bundle(fetch_registered_bundle(registry_uri))
    except (BundleError, RegistryError, OSError) as error:
        evidence.refuse(f"cannot load the candidate {registry_uri}: {error}")
        return
    predicted = model.predict(texts)
    correct = sum(p == label for p, label in zip(predicted, labels, strict=True))
    low = wilson_low(correct, len(texts)) or 0.0
    figures = (
        f"candidate {bundle} right on {correct} of {len(texts)} user-labelled texts in "
        f"{safe_url(db_url)} (accuracy {correct / len(texts):.4f}, 95% lower bound {low:.4f})"
    )
    if low < minimum:
        evidence.refuse(f"feedback accuracy lower bound {low:.4f} < {minimum}: {figures}")
    else:
        evidence.accept(f"feedback accuracy lower bound {low:.4f} >= {minimum}: {figures}")


def evidence_gate(
    *,
    min_shadow_agreement: float | None,
    shadow_source: str | None,
    min_feedback_accuracy: float | None,
    feedback_db: str,
) -> Callable[[str, str, str], tuple[bool, str]] | None:
    """The check ``registry.promote`` runs on its candidate: (name, version, bundle version) ->
    (passed, what was used). None when no production evidence was asked for."""
    if min_shadow_agreement is None and min_feedback_accuracy is None:
        return None

    def gate(name: str, version: str, bundle: str) -> tuple[bool, str]:
        evidence = Evidence()
        if min_shadow_agreement is not None:
            check_shadow(evidence, shadow_source, min_shadow_agreement, bundle)
        if min_feedback_accuracy is not None:
            uri = f"models:/{name}/{version}"
            check_feedback(evidence, feedback_db, min_feedback_accuracy, uri, bundle)
        return evidence.passed, "production evidence:\n  " + "\n  ".join(evidence.lines)

    return gate


def _share(value: str) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not a share between 0 and 1")
    return number


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``promote``'s gate options: --fail-if-not-promoted and the production evidence."""
    parser.add_argument(
        "--fail-if-not-promoted",
        action="store_true",
        help="exit with status 3 when the candidate is not promoted (for CI gates); "
        "evidence asked for and missing or low always exits 3",
    )
    parser.add_argument(
        "--min-shadow-agreement",
        type=_share,
        metavar="X",
        help="also require the candidate's label to agree with the champion's on at least this "
        "share of live traffic it shadow-scored (read from --shadow)",
    )
    parser.add_argument(
        "--shadow",
        metavar="URL_OR_FILE",
        help="the serving service's http(s)://.../metrics, or a JSON file of its shadow figures",
    )
    parser.add_argument(
        "--min-feedback-accuracy",
        type=_share,
        metavar="Y",
        help="also require the candidate's accuracy on users' feedback labels (95%% lower bound) "
        "to reach this",
    )
    parser.add_argument(
        "--feedback-db", help="feedback store URL (default: $IMDB_SENTIMENT_FEEDBACK_DB)"
    )


def asked_for(args: argparse.Namespace) -> bool:
    """Whether ``promote`` was asked for production evidence."""
    return args.min_shadow_agreement is not None or args.min_feedback_accuracy is not None


def gate_from_args(args: argparse.Namespace) -> Callable[[str, str, str], tuple[bool, str]] | None:
    from imdb_sentiment.feedback.commands import configured_url

    return evidence_gate(
        min_shadow_agreement=args.min_shadow_agreement,
        shadow_source=args.shadow,
        min_feedback_accuracy=args.min_feedback_accuracy,
        feedback_db=args.feedback_db or configured_url(),
    )
