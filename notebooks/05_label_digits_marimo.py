# Label scikit-learn's digits with activelearn in marimo:
#     marimo run notebooks/05_label_digits_marimo.py     (the app: runs at once)
#     marimo edit notebooks/05_label_digits_marimo.py    (the notebook: press Run, bottom right, to run it)
# The same session and widget as notebooks/01_label_digits.ipynb, wrapped with mo.ui.anywidget.
# The store, labels.db, is kept beside this file.
import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full")


@app.cell
def _():
    import marimo as mo

    import activelearn as al
    return al, mo


@app.cell
def _(mo):
    mo.md("""
    # Label digits with activelearn

    Click into the labeling view below and label with the digit keys: press the digit you see
    (`7` stores "7"; `s` skips, `u` undoes). Every label is stored in `labels.db`, beside this
    file, the moment you give it; run the app again and you continue where you stopped. The model
    retrains in the background every 10 labels; the dashboard shows held-out test accuracy against
    labels and cost.
    """)
    return


@app.cell
def _(al, mo):
    _store = mo.notebook_dir() / "labels.db"
    session = al.Session(al.load_digits(), store=str(_store), annotator="me",
                         cost_per_hour=30.0)
    return (session,)


@app.cell
def _(mo, session):
    widget = mo.ui.anywidget(
        session.widget(retrain_every=10, target=0.95, budget=300))
    widget
    return (widget,)


@app.cell
def _(mo):
    mo.md("""
    Your labels and the learning curve they bought are in the session too (in a cell of your own,
    in `marimo edit`): `session.labels()` (item, label, annotator, time, seconds) and
    `session.history` (one row per retrain: accuracy, cost, model version).
    `session.export("labels.csv")` writes them out.
    """)
    return


if __name__ == "__main__":
    app.run()
