// activelearn labeling view: renders synced values, sends keys and clicks to Python. No state of its own
// beyond what is on screen: which item, why, what was stored, and the dashboard all come from the kernel.

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

const q = (name) => `\u2018${name}\u2019`;
const pct = (v, d = 1) => `${(100 * v).toFixed(d)}%`;
const plural = (n, unit) => `${n} ${unit}${n === 1 ? "" : "s"}`;
const duration = (minutes) => (minutes < 1 ? plural(Math.max(1, Math.round(60 * minutes)), "second")
  : plural(Math.round(minutes), "minute"));

function render({ model, el }) {
  const root = h("div", { class: "al-root", tabindex: "0", "data-lm-suppress-shortcuts": "true" });
  const title = h("div", { class: "al-title" });
  const progressText = h("div", { class: "al-progress" });
  const bar = h("div", { class: "al-bar" }, h("span"));
  const itemBox = h("div", { class: "al-item" });
  const buttons = h("div", { class: "al-buttons" });
  const actions = h("div", { class: "al-actions" });
  const confirm = h("div", { class: "al-confirm", "aria-live": "polite" });
  const reviewBox = h("div", { class: "al-review", hidden: "" });
  const recent = h("div", { class: "al-recent" });
  const picker = h("div", { class: "al-picker", hidden: "" });
  const status = h("div", { class: "al-status", "aria-live": "polite" });
  const error = h("div", { class: "al-error", role: "alert" });
  const info = h("div", { class: "al-info al-card" });
  const dash = h("div", { class: "al-dashboard al-card" });
  const main = h("section", { class: "al-main al-card" },
    h("header", { class: "al-head" }, title, progressText), bar, reviewBox, itemBox, buttons, actions, confirm, recent,
    picker,
    status, error);
  root.append(h("div", { class: "al-grid" }, main, h("aside", { class: "al-side" }, info, dash)));
  el.append(root);

  window.__activelearnLatencies = window.__activelearnLatencies || [];
  let pendingSince = null;
  const current = () => (model.get("item") || {}).id || null;
  const send = (msg) => {
    pendingSince = performance.now();
    model.send({ item_id: current(), ...msg });
  };

  root.addEventListener("keydown", (e) => {
    if (e.key === "Escape") { closeOverlays(); return; }
    if (e.ctrlKey || e.metaKey || e.altKey || e.key === "Tab") return;
    // Keep keys away from JupyterLab's command-mode shortcuts (1-6 would make headings).
    e.stopPropagation();
    e.preventDefault();
    if (e.repeat) return;
    send({ type: "key", key: e.key });
  });
  // Clicking anywhere in the widget gives it the keyboard, and keeps the notebook from taking focus.
  root.addEventListener("mousedown", (e) => e.stopPropagation());
  root.addEventListener("click", () => root.focus({ preventScroll: true }));

  let zoom = null;
  function closeOverlays() {
    picker.hidden = true;
    if (zoom) { zoom.remove(); zoom = null; }
  }

  function drawButtons() {
    buttons.replaceChildren();
    const classes = model.get("classes");
    const keys = model.get("class_keys");
    classes.forEach((c, i) => {
      const hint = keys[i] ? [h("kbd", {}, keys[i]), " "] : [];
      buttons.append(h("button", { class: "al-btn", "data-label": c, title: keys[i] ? `key ${keys[i]}` : c,
        onclick: () => send({ type: "label", label: c }) }, ...hint, c));
    });
    const reviewing = model.get("mode") === "review";
    const toggle = h("button", { class: "al-btn al-mode", onclick: () => send({ type: "mode" }) },
      ...(model.get("review_key") ? [h("kbd", {}, model.get("review_key")), " "] : []),
      reviewing ? "Back to labeling" : "Review labels");
    actions.replaceChildren(
      ...(reviewing ? [h("button", { class: "al-btn al-keep", onclick: () => send({ type: "keep" }) },
        h("kbd", {}, "k"), " Keep label")] : []),
      h("button", { class: "al-btn al-skip", onclick: () => send({ type: "skip" }) }, h("kbd", {}, "s"), " Skip"),
      h("button", { class: "al-btn al-undo", onclick: () => send({ type: "undo" }) }, h("kbd", {}, "u"), " Undo"),
      toggle,
      ...(reviewing ? [] : [h("button", { class: "al-btn al-retrain", onclick: () => model.send({ type: "retrain" }) },
        "Retrain now")]),
    );
  }

  function drawReview() {
    const r = model.get("review") || {};
    const reviewing = model.get("mode") === "review";
    root.classList.toggle("al-reviewing", reviewing);
    drawButtons();
    if (!reviewing || !r.id) {
      reviewBox.hidden = !reviewing;
      reviewBox.replaceChildren(reviewing ? h("span", {}, r.text || "") : "");
      return;
    }
    reviewBox.hidden = false;
    reviewBox.replaceChildren(
      h("div", { class: "al-review-head" }, `Reviewing label ${r.position} of ${r.total}`),
      h("div", {}, "Given: ", h("b", { class: "al-given" }, q(r.label)), r.annotator ? ` by ${r.annotator}` : "",
        " · the model, trained without it, suggests ", h("b", { class: "al-suggested" }, q(r.suggested))),
      h("div", { class: "al-small al-muted" },
        "Press the right class's key (or click it) to replace the label, k to keep it, s to skip."),
    );
  }

  function painted() {
    if (pendingSince === null) return;
    const t0 = pendingSince;
    pendingSince = null;
    requestAnimationFrame(() => window.__activelearnLatencies.push(performance.now() - t0));
  }

  let preparingTimer = null;
  function drawPreparing() {
    const started = performance.now();
    const line = h("div", { class: "al-preparing-text" }, "Preparing the pool…");
    itemBox.replaceChildren(h("div", { class: "al-preparing" }, h("div", { class: "al-spinner" }), line));
    clearInterval(preparingTimer);
    preparingTimer = setInterval(() => {
      if (!model.get("preparing")) { clearInterval(preparingTimer); return; }
      line.textContent = `Preparing the pool… ${Math.round((performance.now() - started) / 1000)} s ` +
        "(ranking the unlabeled items for the first time)";
    }, 500);
  }

  function showFull(src, alt) {
    closeOverlays();
    const img = h("img", { src, alt, class: "al-zoom-img" });
    zoom = h("div", { class: "al-zoom", title: "Click or press Esc to close",
      onclick: (e) => { e.stopPropagation(); closeOverlays(); } }, img);
    root.append(zoom);
  }

  function drawItem() {
    const item = model.get("item") || {};
    root.dataset.itemId = item.id || "";
    title.textContent = item.id ? `${model.get("mode") === "review" ? "review: " : ""}item ${item.title}` : "";
    title.title = item.id ? item.title : "";
    if (!item.id) {
      if (model.get("preparing")) drawPreparing();
      else itemBox.replaceChildren(h("div", { class: "al-done" }, "Nothing left to label."));
      painted();
      return;
    }
    if (item.kind === "image") {
      const img = h("img", { class: "al-image", alt: item.title });
      img.addEventListener("load", () => {
        // Small images are pixel art (digits): scale them up crisp. Photos fit the card; click for full size.
        if (img.naturalWidth <= 128 && img.naturalHeight <= 128) img.classList.add("al-pixel");
        else {
          img.classList.add("al-photo");
          img.title = "Click for full size";
          img.addEventListener("click", (e) => { e.stopPropagation(); showFull(img.src, item.title); });
        }
      });
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
        // The first item may be drawn before the view is attached: scroll once it has a layout.
        let tries = 0;
        const scroll = () => {
          if (box.isConnected && box.clientHeight > 0) box.scrollTop = Math.max(0, mark.offsetTop - 40);
          else if (tries++ < 120) requestAnimationFrame(scroll);
        };
        scroll();
      } else {
        box.textContent = item.text;
        itemBox.replaceChildren(box);
      }
      painted();
    }
  }

  function drawProgress() {
    const p = model.get("progress") || {};
    const budget = p.budget ? ` / ${p.budget}` : "";
    progressText.textContent = `Labeled: ${p.n_labels ?? 0}${budget} · unlabeled left: ${p.n_pool ?? "?"}`;
    const total = p.budget || ((p.n_labels ?? 0) + (p.n_pool ?? 0)) || 1;
    bar.firstChild.style.width = `${Math.min(100, (100 * (p.n_labels ?? 0)) / total).toFixed(1)}%`;
  }

  function drawInfo() {
    const i = model.get("info") || {};
    const guesses = i.guesses || [];
    let guess;
    if (!guesses.length) guess = h("span", { class: "al-muted" }, "no model yet");
    else if (i.calibrated) {
      guess = h("span", {}, ...guesses.map(([c, p], k) =>
        h("span", { class: k ? "al-guess al-muted" : "al-guess" }, `${q(c)} ${pct(p, 0)}`)));
    } else {
      guess = h("span", {}, h("span", { class: "al-guess" }, q(guesses[0][0])),
        h("span", { class: "al-muted al-small" },
          " (no percentage: not enough held-out or audit items to check the model's confidence yet)"));
    }
    const why = i.why || {};
    const r = model.get("review") || {};
    if (model.get("mode") === "review" && r.id) {
      info.replaceChildren(
        h("div", { class: "al-label" }, "Given label"), h("div", { class: "al-guesses" }, q(r.label)),
        h("div", { class: "al-label" }, "Model suggests"), h("div", { class: "al-guesses" }, q(r.suggested)),
        h("div", { class: "al-label" }, "Why this label is shown"), h("div", { class: "al-why" }, r.why || "–"),
      );
      return;
    }
    info.replaceChildren(
      h("div", { class: "al-label" }, i.guess_version ? `Model's guess (model v${i.guess_version})` : "Model's guess"),
      h("div", { class: "al-guesses" }, guess),
      h("div", { class: "al-label" }, "Why this item"), h("div", { class: "al-why" }, why.text || "–"),
      h("div", { class: "al-version al-muted al-small" },
        [why.detail, model.get("training") ? "training a new model…" : ""].filter(Boolean).join(" · ")),
    );
  }

  function drawConfirm() {
    const c = model.get("confirm") || {};
    if (!c.id) { confirm.replaceChildren(); return; }
    confirm.replaceChildren(
      h("span", { class: "al-check" }, "\u2713 "),
      c.kept ? `Kept: ${c.title} ${q(c.label)} (stored)`
        : c.changed_from
          ? `Changed: ${c.title} ${q(c.changed_from)} \u2192 ${q(c.label)} (stored)`
          : `Stored: ${c.title} \u2192 ${q(c.label)}`);
  }

  function openPicker(entry) {
    const classes = model.get("classes");
    picker.replaceChildren(
      h("span", { class: "al-small" }, `Change ${entry.title} (now ${q(entry.label)}) to: `),
      ...classes.map((c) => h("button", { class: c === entry.label ? "al-btn al-mini al-current" : "al-btn al-mini",
        "data-label": c, onclick: (e) => {
          e.stopPropagation();
          picker.hidden = true;
          root.focus({ preventScroll: true });  // the clicked button is hidden now: keys stay with the widget
          if (c !== entry.label) model.send({ type: "change", item_id: entry.id, label: c });
        } }, c)),
      h("button", { class: "al-btn al-mini al-cancel", onclick: (e) => {
        e.stopPropagation(); picker.hidden = true; root.focus({ preventScroll: true }); } }, "Cancel"),
    );
    picker.dataset.item = entry.id;
    picker.hidden = false;
  }

  function drawRecent() {
    const entries = model.get("recent") || [];
    if (!entries.length) { recent.replaceChildren(); picker.hidden = true; return; }
    recent.replaceChildren(h("span", { class: "al-small al-muted" }, "Recent (click to change): "),
      ...entries.map((e) => h("button", { class: "al-chip", "data-item": e.id, title: `Change the label of ${e.title}`,
        onclick: (ev) => { ev.stopPropagation(); root.focus({ preventScroll: true }); openPicker(e); } },
        `${e.title} \u2192 ${e.label}`)));
    if (!picker.hidden && !entries.some((e) => e.id === picker.dataset.item)) picker.hidden = true;
  }

  // A chart's SVG is parsed again only when its text changed (a redraw of the numbers keeps the figures).
  const figures = {};
  function chartFigure(name, svg) {
    const have = figures[name];
    if (have && have.svg === svg) return have.fig;
    const fig = h("figure", { class: "al-figure" });
    fig.innerHTML = svg;  // SVG rendered by matplotlib in the kernel, no network
    figures[name] = { svg, fig };
    return fig;
  }

  // The dashboard and its charts change together after a retrain: one redraw, when the browser is idle,
  // so that a key press and the next item come first.
  let dashboardDue = null;
  function scheduleDashboard() {
    if (dashboardDue !== null) return;
    const run = () => { dashboardDue = null; drawDashboard(); };
    dashboardDue = window.requestIdleCallback ? { idle: requestIdleCallback(run, { timeout: 300 }) }
      : { timer: setTimeout(run, 30) };
  }
  function cancelDashboard() {
    if (dashboardDue === null) return;
    if (dashboardDue.idle !== undefined) cancelIdleCallback(dashboardDue.idle);
    else clearTimeout(dashboardDue.timer);
    dashboardDue = null;
  }

  function drawDashboard() {
    const d = model.get("dashboard") || {};
    const charts = model.get("charts") || {};
    const fmt = (v, digits = 1) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits));
    const meta = d.model_version ? [`model v${d.model_version} trained on ${d.trained_on ?? 0} labels`] : ["no model yet"];
    if (d.cost !== undefined && d.cost !== null) meta.push(`cost ${Number(d.cost).toFixed(2)}`);
    else if (d.hours !== undefined && d.hours !== null) meta.push(`${fmt(d.hours, 2)} hours labeling`);
    if (d.seconds_per_label !== null && d.seconds_per_label !== undefined) meta.push(`${fmt(d.seconds_per_label)} s per label`);
    const chartBox = h("div", { class: "al-charts" });
    for (const name of ["labels", "cost"]) {
      if (!charts[name]) { delete figures[name]; continue; }
      chartBox.append(chartFigure(name, charts[name]));
    }
    dash.replaceChildren(
      h("div", { class: "al-dash-title" }, d.title || "Accuracy"),
      h("div", { class: "al-big" }, d.accuracy === null || d.accuracy === undefined ? "–" : pct(d.accuracy)),
      h("div", { class: "al-interval al-muted al-small" }, d.interval || ""),
      h("div", { class: "al-meta" }, meta.join(" · ")),
      h("div", { class: "al-proj" }, `Labels to ${fmt(100 * (d.target ?? 0), 0)}%: ${d.projection || "–"}`),
      ...(d.advice ? [h("div", { class: d.advice.stop ? "al-advice al-advice-stop" : "al-advice" },
        h("b", {}, "Advice: "), d.advice.reason,
        d.advice.minutes_to_target !== null && d.advice.minutes_to_target > 0
          ? ` About ${duration(d.advice.minutes_to_target)} more to the target at your pace.` : "")] : []),
      ...(d.saved ? [h("div", { class: "al-saved" }, d.saved.text)] : []),
      chartBox,
    );
  }

  function drawStatus() {
    status.textContent = model.get("status");
    error.textContent = model.get("error");
  }

  drawButtons();
  drawItem();
  drawProgress();
  drawInfo();
  drawConfirm();
  drawRecent();
  drawDashboard();
  drawReview();
  drawStatus();
  model.on("change:classes", drawButtons);
  model.on("change:item", drawItem);
  model.on("change:preparing", drawItem);
  model.on("change:info", drawInfo);
  model.on("change:training", drawInfo);
  model.on("change:progress", drawProgress);
  model.on("change:confirm", drawConfirm);
  model.on("change:recent", drawRecent);
  model.on("change:dashboard", scheduleDashboard);
  model.on("change:charts", scheduleDashboard);
  model.on("change:status", drawStatus);
  model.on("change:mode", () => { drawReview(); drawItem(); drawInfo(); });
  model.on("change:review", () => { drawReview(); drawInfo(); });
  model.on("change:error", drawStatus);
  // Ask for every value once more now that this view listens: a front end that ran the notebook before the
  // page connected (Voila) may have missed a value a background thread set in between.
  model.send({ type: "sync" });
  return () => { clearInterval(preparingTimer); cancelDashboard(); };
}

export default { render };
