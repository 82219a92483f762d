"""Agreement between annotators: pure functions of a labels table.

``labels`` is what :meth:`Session.labels` returns (``item_id, label,
annotator, audit`` ...); audit labels are left out, and only items that
several annotators labeled count.
"""

import pandas as pd

from .metrics import fleiss_kappa

__all__ = ["multi_labels", "agreement", "disagreements"]


def multi_labels(labels):
    """The non-audit labels of items labeled more than once."""
    labels = labels[~labels["audit"].astype(bool)]
    return labels[labels.duplicated("item_id", keep=False)].copy()


def agreement(labels, class_names):
    """Agreement on the items several annotators labeled.

    Parameters
    ----------
    labels : pandas.DataFrame
        ``item_id, label, annotator, audit``.
    class_names : list of str

    Returns
    -------
    dict
        ``method`` ("cohen" for two annotators, "fleiss" for more),
        ``kappa`` (None without overlap), ``n_items``, ``annotators``,
        ``observed`` (share of agreeing pairs).
    """
    from sklearn.metrics import cohen_kappa_score

    multi = multi_labels(labels)
    annotators = sorted(multi["annotator"].unique().tolist())
    out = {"method": None, "kappa": None, "n_items": int(multi["item_id"].nunique()), "annotators": annotators,
           "observed": None}
    if out["n_items"] == 0:
        return out
    if len(annotators) == 2:
        wide = multi.pivot_table(index="item_id", columns="annotator", values="label", aggfunc="last").dropna()
        a, b = wide[annotators[0]], wide[annotators[1]]
        out.update(method="cohen", n_items=len(wide), observed=float((a == b).mean()),
                   kappa=float(cohen_kappa_score(a, b, labels=class_names)))
        return out
    counts = multi.groupby("item_id")["label"].value_counts().unstack(fill_value=0)
    m = counts.sum(axis=1)
    counts = counts[m == m.max()]  # Fleiss' kappa: the same number of raters on every item
    kappa, observed = fleiss_kappa(counts.to_numpy(float))
    out.update(method="fleiss", n_items=len(counts), observed=observed, kappa=kappa)
    return out


def disagreements(labels, resolve):
    """Items whose annotators gave different labels.

    Parameters
    ----------
    labels : pandas.DataFrame
    resolve : callable
        ``resolve(item_id) -> (item id as the dataset has it, resolved class name or None)``.

    Returns
    -------
    pandas.DataFrame
        ``item_id``, ``labels`` (by annotator), ``resolved``.
    """
    rows = []
    for item_id, g in multi_labels(labels).groupby("item_id", sort=False):
        if g["label"].nunique() > 1:
            own_id, resolved = resolve(item_id)
            rows.append({"item_id": own_id, "labels": dict(zip(g["annotator"], g["label"])), "resolved": resolved})
    return pd.DataFrame(rows, columns=["item_id", "labels", "resolved"])
