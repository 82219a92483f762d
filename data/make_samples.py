"""Write the sample data that ships in data/ (run from the project root: python data/make_samples.py).

* data/digits_images/<digit>/<index>.png: 500 of scikit-learn's bundled 8x8 digits (50 per class) as
  8-bit grey PNGs, in class sub-folders, plus data/digits_unlabeled/ with 100 more in one flat folder.
* data/short_texts.csv: 480 short English sentences about four topics (sports, weather, cooking,
  computing), composed by this script from its own word lists; columns id, text, topic.

Deterministic (fixed seeds); re-running rewrites the same files.
"""

import csv
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def write_digits():
    from PIL import Image
    from sklearn.datasets import load_digits

    bunch = load_digits()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(bunch.target))
    per_class = {c: 0 for c in range(10)}
    labeled, flat = [], []
    for i in order:
        c = int(bunch.target[i])
        if per_class[c] < 50:
            per_class[c] += 1
            labeled.append(i)
        elif len(flat) < 100:
            flat.append(i)
    for i in labeled:
        d = HERE / "digits_images" / str(bunch.target[i])
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray((bunch.images[i] * 255 / 16).astype(np.uint8), mode="L").save(d / f"{i:04d}.png")
    d = HERE / "digits_unlabeled"
    d.mkdir(parents=True, exist_ok=True)
    for i in flat:
        Image.fromarray((bunch.images[i] * 255 / 16).astype(np.uint8), mode="L").save(d / f"{i:04d}.png")


TOPICS = {
    "sports": (["The home team", "Our striker", "The goalkeeper", "The coach", "The marathon runner",
                "The tennis champion", "The young sprinter", "The basketball squad"],
               ["won the final", "scored twice in the second half", "broke the national record",
                "trained hard before the match", "lost on penalties", "signed a new contract",
                "was sent off after a foul", "celebrated the championship title"],
               ["in front of a sold-out stadium", "after extra time", "despite a knee injury",
                "at the season opener", "against their old rivals", "during the league playoffs"]),
    "weather": (["Heavy rain", "A cold front", "The afternoon sun", "Thick fog", "A strong wind",
                 "Light snow", "A summer storm", "The morning frost"],
                ["is expected tonight", "will move across the coast", "brought flooding to the valley",
                 "kept temperatures below zero", "cleared by midday", "caused delays on the roads",
                 "will ease by the weekend", "raised the humidity"],
                ["according to the forecast", "in the northern hills", "over the whole region",
                 "with gusts near the shore", "for the rest of the week", "after a dry spell"]),
    "cooking": (["Slowly simmer the sauce", "Knead the dough", "Roast the vegetables", "Whisk the eggs",
                 "Season the soup", "Grill the fish", "Bake the bread", "Chop the fresh herbs"],
                ["with garlic and olive oil", "until it turns golden", "for about twenty minutes",
                 "with a pinch of salt", "in a hot oven", "before adding the butter",
                 "with lemon and pepper", "until the onions are soft"],
                ["and serve it warm", "for a family dinner", "as the recipe says", "in a cast iron pan",
                 "before tasting it", "and let it rest"]),
    "computing": (["The new laptop", "Our database server", "The software update", "The compiler",
                   "The web browser", "The graphics card", "The cloud backup", "The mobile app"],
                  ["crashed after the upgrade", "runs twice as fast", "needs more memory",
                   "fixed a security bug", "failed to install the driver", "synced the files overnight",
                   "reduced the battery drain", "rebooted during the test"],
                  ["on the old operating system", "according to the release notes", "in the latest version",
                   "after the patch", "on every machine in the office", "without losing any data"]),
}


def write_texts(n_per_topic=120):
    rng = np.random.default_rng(1)
    rows, seen = [], set()
    for topic, (subjects, verbs, tails) in TOPICS.items():
        count = 0
        while count < n_per_topic:
            s = f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(tails)}."
            if s in seen:
                continue
            seen.add(s)
            rows.append((topic, s))
            count += 1
    order = rng.permutation(len(rows))
    with open(HERE / "short_texts.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "text", "topic"])
        for k, i in enumerate(order):
            w.writerow([f"t{k:04d}", rows[i][1], rows[i][0]])


if __name__ == "__main__":
    write_digits()
    write_texts()
    print("wrote", HERE / "digits_images", HERE / "digits_unlabeled", HERE / "short_texts.csv")
