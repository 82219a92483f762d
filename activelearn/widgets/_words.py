"""What the view says to a person: why an item was picked, and errors as plain sentences.

A person never sees a Python exception's text (class names, tracebacks, API hints such as
"Pass overwrite=True"): every error the view can meet maps to a sentence here.
"""

from ..exceptions import (AlreadyLabeledError, LeasedError, StoreUnavailableError, TestItemError, TrainingError,
                          UnknownItemError, UnknownLabelError)

__all__ = ["why_text", "plain_error"]


def _q(name):
    return f"\u2018{name}\u2019"


def why_text(strategy, source, score=None, score_name=None, guesses=(), model_version=0, rank=None, queue=None):
    """One or two sentences saying why this item is shown, from the strategy that actually picked it.

    Returns
    -------
    dict
        ``{"text": sentence, "detail": small print (model version, rank)}``.
    """
    strategy = str(strategy or "")
    top = [g[0] for g in guesses[:2]]
    detail = []
    audit = source == "audit" or strategy.startswith("audit")
    if audit:
        text = ("Drawn at random to check the model honestly: this label measures accuracy and is never "
                "trained on.")
    elif source == "published" or strategy == "published":
        text = f"Next in the team's ranking, published by the trainer from model v{model_version}."
    elif strategy in ("typiclust", "kmeans"):
        text = ("Typical of a group of similar items the labels don't cover yet: early on, examples of every "
                "kind teach the model more than its own uncertainty.")
    elif strategy in ("kcenter", "diverse"):
        text = "Unlike anything labeled so far: it covers a part of the data no label is near."
    elif strategy == "random":
        text = "Drawn at random: every unlabeled item had the same chance."
    elif strategy == "margin" and score is not None and len(top) == 2:
        gap = abs(float(score))
        torn = "is torn between" if gap < 0.25 else "hesitates between"
        text = (f"The model {torn} {_q(top[0])} and {_q(top[1])} (gap {gap:.2f} between its two best "
                "scores): of the items left, this is one it is least sure about.")
    elif strategy == "entropy" and score is not None:
        text = (f"The model's scores are spread over several classes here (entropy {float(score):.2f}): "
                "one of the items it is least sure about.")
    elif strategy == "least_confident" and score is not None:
        text = (f"The model's best guess is weak here (its top score is {1 - float(score):.2f}): one of the "
                "items it is least sure about.")
    elif strategy == "bald":
        text = "The model's variants disagree most about this item: a label here settles the most."
    elif strategy in ("margin", "entropy", "least_confident"):
        text = "One of the items the model is least sure about."
    else:
        text = f"Picked by the {_q(strategy)} strategy" + (
            f" ({score_name} {float(score):.2f})." if score is not None and score_name else ".")
    if not audit:  # drawn at random, an audit item was picked by no model
        detail.append(f"ranked at model v{model_version}" if model_version  # the guess may be a newer model's
                      else "ranked before the first model")
    if rank and queue:
        detail.append(f"{rank} of {queue} in this batch")
    return {"text": text, "detail": " · ".join(detail)}


def plain_error(exc, doing="That"):
    """A sentence a person can act on for an error met while ``doing`` something; never the exception text."""
    if isinstance(exc, StoreUnavailableError):
        if "write lock" in str(exc):
            return ("The label store is busy: another program holds its write lock. Nothing was written; "
                    "what you labeled before is safe.")
        return "The label store cannot be reached right now. Nothing was written; what you labeled before is safe."
    if isinstance(exc, UnknownLabelError):
        return f"{doing}: that is not one of the classes of this project; nothing was stored."
    if isinstance(exc, TestItemError):
        return f"{doing}: this item is in the held-out test set, which is never labeled; nothing was stored."
    if isinstance(exc, (AlreadyLabeledError, LeasedError)):
        return f"{doing}: someone else labeled this item (or holds it) meanwhile; nothing was changed."
    if isinstance(exc, UnknownItemError):
        return f"{doing}: this item is not in the dataset any more; nothing was stored."
    if isinstance(exc, TrainingError):
        return "Retraining failed; the previous model is kept and no label is lost."
    return f"{doing} did not work; nothing was changed. Try again, or restart the kernel if it keeps happening."
