// activelearn labeling view: renders synced values, sends keys and clicks to Python.
const SVG = "http://www.w3.org/2000/svg";

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  for (const c of children) el.append(c);
  return el;
}

function lineChart(points, xKey, xLabel, width = 260, height = 140) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("class", "al-chart");
  const pts = points.filter((p) => p.accuracy !== null && p[xKey] !== null);
  const pad = 28;
  const xs = pts.map((p) => p[xKey]);
  const xMax = Math.max(1e-9, ...xs);
  const yMin = Math.min(0.5, ...pts.map((p) => p.accuracy));
  const X = (v) => pad + (v / xMax) * (width - pad - 8);
  const Y = (v) => height - pad - ((v - yMin) / (1 - yMin)) * (height - pad - 8);
  const path = pts.map((p, i) => `${i ? "L" : "M"}${X(p[xKey]).toFixed(1)},${Y(p.accuracy).toFixed(1)}`).join("");
  svg.innerHTML =
    `<line x1="${pad}" y1="${height - pad}" x2="${width - 8}" y2="${height - pad}" stroke="#999"/>` +
    `<line x1="${pad}" y1="8" x2="${pad}" y2="${height - pad}" stroke="#999"/>` +
    `<text x="${width / 2}" y="${height - 6}" text-anchor="middle">${xLabel}</text>` +
    `<text x="2" y="14">${(1).toFixed(2)}</text><text x="2" y="${height - pad}">${yMin.toFixed(2)}</text>` +
    `<path d="${path}" fill="none" stroke="#1f77b4" stroke-width="2"/>` +
    pts.map((p) => `<circle cx="${X(p[xKey]).toFixed(1)}" cy="${Y(p.accuracy).toFixed(1)}" r="2.5" fill="#1f77b4"/>`).join("");
  return svg;
}

function render({ model, el }) {
  const root = h("div", { class: "al-root", tabindex: "0", "data-lm-suppress-shortcuts": "true" });
  const itemBox = h("div", { class: "al-item" });
  const title = h("div", { class: "al-title" });
  const buttons = h("div", { class: "al-buttons" });
  const actions = h("div", { class: "al-actions" });
  const info = h("div", { class: "al-info" });
  const status = h("div", { class: "al-status" });
  const error = h("div", { class: "al-error" });
  const dash = h("div", { class: "al-dashboard" });
  const left = h("div", { class: "al-left" }, title, itemBox, buttons, actions, status, error);
  root.append(left, h("div", { class: "al-right" }, info, dash));
  el.append(root);

  window.__activelearnLatencies = window.__activelearnLatencies || [];
  let pendingSince = null;
  const current = () => (model.get("item") || {}).id || null;
  const send = (msg) => {
    pendingSince = performance.now();
    model.send({ ...msg, item_id: current() });
  };

  root.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.key === "Tab" || e.key === "Escape") return;
    // Keep keys away from JupyterLab's command-mode shortcuts (1-6 would make headings).
    e.stopPropagation();
    e.preventDefault();
    if (e.repeat) return;
    send({ type: "key", key: e.key });
  });
  // Clicking anywhere in the widget gives it the keyboard, and keeps the notebook from taking focus.
  root.addEventListener("mousedown", (e) => e.stopPropagation());
  root.addEventListener("click", () => root.focus({ preventScroll: true }));

  function drawButtons() {
    buttons.replaceChildren();
    const classes = model.get("classes");
    const keys = model.get("class_keys");
    classes.forEach((c, i) => {
      const hint = keys[i] ? [h("kbd", {}, keys[i]), " "] : [];
      buttons.append(h("button", { class: "al-btn", "data-label": c, title: keys[i] ? `key ${keys[i]}` : c,
        onclick: () => send({ type: "label", label: c }) }, ...hint, c));
    });
    actions.replaceChildren(
      h("button", { class: "al-btn al-skip", onclick: () => send({ type: "skip" }) }, h("kbd", {}, "s"), " Skip"),
      h("button", { class: "al-btn al-undo", onclick: () => send({ type: "undo" }) }, h("kbd", {}, "u"), " Undo"),
      h("button", { class: "al-btn al-retrain", onclick: () => model.send({ type: "retrain" }) }, "Retrain now"),
    );
  }

  function painted() {
    if (pendingSince === null) return;
    const t0 = pendingSince;
    pendingSince = null;
    requestAnimationFrame(() => window.__activelearnLatencies.push(performance.now() - t0));
  }

  function drawItem() {
    const item = model.get("item") || {};
    root.dataset.itemId = item.id || "";
    title.textContent = item.id ? `item ${item.title}` : "";
    if (!item.id) {
      itemBox.replaceChildren(h("div", { class: "al-done" }, "Nothing left to label."));
      painted();
      return;
    }
    if (item.kind === "image") {
      const img = h("img", { class: "al-image", alt: item.title });
      img.src = item.src;
      itemBox.replaceChildren(img);
      img.decode().then(painted, painted);
    } else if (item.kind === "table") {
      const table = h("table", { class: "al-table" });
      for (const [k, v] of item.table) table.append(h("tr", {}, h("th", {}, k), h("td", {}, v)));
      itemBox.replaceChildren(table);
      painted();
    } else {
      const box = h("div", { class: "al-text" });
      const [a, b] = item.focus || [0, 0];
      if (b > a) {  // long text: mark the passage most like the texts labeled as the model's guess, scroll to it
        const mark = h("mark", { class: "al-focus", title: item.focus_reason || "" }, item.text.slice(a, b));
        box.append(document.createTextNode(item.text.slice(0, a)), mark, document.createTextNode(item.text.slice(b)));
        itemBox.replaceChildren(box);
        box.scrollTop = Math.max(0, mark.offsetTop - box.offsetTop - 40);
      } else {
        box.textContent = item.text;
        itemBox.replaceChildren(box);
      }
      painted();
    }
  }

  function drawInfo() {
    const i = model.get("info") || {};
    const p = model.get("progress") || {};
    const budget = p.budget ? ` / ${p.budget}` : "";
    const guesses = (i.guesses || []).map(([c, pr]) => `${c} ${(100 * pr).toFixed(0)}%`).join(", ");
    const why = i.strategy
      ? `${i.strategy}${i.rank ? `, rank ${i.rank} of ${i.queue}` : ""}` +
        (i.score !== null && i.score !== undefined ? `, ${i.score_name} score ${i.score.toFixed(3)}` : "")
      : "";
    info.replaceChildren(
      h("div", { class: "al-progress" }, `Labeled: ${p.n_labels ?? 0}${budget} · unlabeled left: ${p.n_pool ?? "?"}`),
      h("div", {}, `Model guesses: ${guesses || "no model yet"}`),
      h("div", {}, `Why this item: ${why}`),
      h("div", { class: "al-version" }, `Ranked by model version ${i.model_version ?? 0}` +
        (model.get("training") ? " · training a new one…" : "")),
    );
  }

  function drawDashboard() {
    const hist = model.get("history") || [];
    const st = model.get("stats") || {};
    const fmt = (v, d = 1) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));
    const hasCost = hist.some((r) => r.cost !== null);
    dash.replaceChildren(
      h("div", { class: "al-dash-title" }, st.has_test ? "Held-out test accuracy"
        : st.audit ? `Audit estimate: ${(100 * st.audit.accuracy).toFixed(0)}% ` +
          `(95% CI ${(100 * st.audit.low).toFixed(0)}-${(100 * st.audit.high).toFixed(0)}%, n=${st.audit.n} random items)`
        : "No test labels yet: accuracy unknown until audit items are labeled"),
      lineChart(hist, "n_labels", "labels"),
      lineChart(hist, hasCost ? "cost" : "hours", hasCost ? "cost" : "hours labeling"),
      h("div", {}, `Seconds per label: median ${fmt(st.median_seconds)}, last 20 ${fmt(st.median_seconds_last_20)}`),
      h("div", {}, `Projected labels to ${fmt(100 * (st.target ?? 0), 0)}%: ${fmt(st.projected_labels, 0)}`),
    );
  }

  drawButtons();
  drawItem();
  drawInfo();
  drawDashboard();
  status.textContent = model.get("status");
  error.textContent = model.get("error");
  model.on("change:classes", drawButtons);
  model.on("change:item", () => { drawItem(); });
  model.on("change:info", drawInfo);
  model.on("change:progress", drawInfo);
  model.on("change:training", drawInfo);
  model.on("change:history", drawDashboard);
  model.on("change:stats", drawDashboard);
  model.on("change:status", () => { status.textContent = model.get("status"); });
  model.on("change:error", () => { error.textContent = model.get("error"); });
}

export default { render };
