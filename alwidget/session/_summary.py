"""What the session says in words: the model in the header, why a label is doubted, the end of the pool.

Plain functions over public state (the learner's, the curves'), so the front
end only draws text the session wrote and tests read it without a browser.
"""

from __future__ import annotations

__all__ = ["doubt_words", "model_words", "plural", "pool_summary"]


def plural(n: int, word: str, words: str | None = None) -> str:
    """``"1 label"``, ``"2 labels"``."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


def model_words(learner) -> str:
    """The model in a user's words: ``"model trained on 2 labels, spread to 65 similar clips"``."""
    if learner.model_ is None:
        return "no model yet"
    text = f"model trained on {plural(int(learner.n_labels_fit_), 'label')}"
    n_pseudo = int(getattr(learner.model_, "n_pseudo_", 0) or 0)
    if n_pseudo:  # the "spread" model: unlabelled clips near the labelled ones took part
        text += f", spread to {plural(n_pseudo, 'similar clip')}"
    return text


def doubt_words(given, predicted, p_predicted: float, p_given: float) -> str:
    """Why a label is doubted in label review: what a model that never saw the clip says of it."""
    if predicted == given:
        return f"held-out model agrees, but only {p_given:.0%} sure"
    return f"held-out model says {predicted} ({p_predicted:.0%})"


def pool_summary(learner, accuracy: str, *, n_eval: int = 0) -> dict:
    """The end of the pool: what was done and what to do next (``{"title", "lines", "next"}``).

    ``accuracy`` is the accuracy line (an estimate with its interval, or why
    there is none); ``n_eval`` held-out clips are never shown.
    """
    counts = {str(c): int(k) for c, k in learner.label_counts().items()}
    n_skipped, n_unsure = int(learner.n_skipped), int(getattr(learner, "n_unsure", 0))
    per_class = " \u00b7 ".join(f"{c} {k}" for c, k in counts.items()) or "none"
    lines = [f"{plural(int(learner.n_labeled), 'label')}: {per_class}"]
    if accuracy:
        lines.append(accuracy)
    answered = [plural(n_skipped, "clip") + " skipped"] if n_skipped else []
    if n_unsure:
        answered.append(f"{n_unsure} marked unsure")
    if answered:
        lines.append(" \u00b7 ".join(answered))
    if n_eval:
        lines.append(f"{plural(n_eval, 'held-out clip')} kept for testing, never shown")
    steps = []
    if learner.n_labeled >= 2:
        steps.append("review your labels, most doubtful first (r, or 'review labels')")
    steps.append("export the labels: learner.export_labels('labels.csv')")
    if n_skipped:
        steps.append(f"revisit the {plural(n_skipped, 'skipped clip')}: learner.skipped_idx lists them")
    if n_unsure:
        steps.append(f"settle the {plural(n_unsure, 'unsure clip')}: learner.unsure_idx lists them")
    return {"title": "every clip is labelled or set aside", "lines": lines, "next": steps}
