// nstyle's web app: choose the mode (paint, or photo to photo), pick the pictures, paint where
// each painting goes (masks.js) or give segmentations, set the options (the form is generated
// from GET /api/options), start a job, watch it by Server-Sent Events, download the result.
"use strict";

const $ = (id) => document.getElementById(id);
const FINAL = ["done", "failed", "cancelled"];
const SESSION_KEY = "nstyle.jobs";

const state = {
  content: null, // {blob, name, url}
  styles: [], // [{blob, name, url}]
  masks: null, // a MaskPainter: where each painting goes
  photo: false, // photo to photo (the Options field "photo", shown as the mode switch)
  modeField: null, // that field, as GET /api/options describes it
  segs: { content: null, style: null }, // the label images: {file, url}
  inputs: new Map(), // field name -> {field, el}
  job: null, // {id, version, totals: [], final}
  source: null,
  clock: null,
  network: null,
};

// ------------------------------------------------------------------ helpers
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

async function getJSON(path, init) {
  const response = await fetch(path, init);
  let body = {};
  try {
    body = await response.json();
  } catch (_) {
    body = { error: `${response.status} ${response.statusText}` };
  }
  return { ok: response.ok, status: response.status, body };
}

function showError(message) {
  const box = $("error");
  box.textContent = `error: ${message}`;
  box.hidden = false;
}

function hideError() {
  $("error").hidden = true;
}

function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function number(value) {
  if (!Number.isFinite(value)) return "–";
  const abs = Math.abs(value);
  if (abs !== 0 && (abs >= 1e5 || abs < 1e-2)) return value.toExponential(2).replace("e+", "e");
  return value.toPrecision(4);
}

function networkName(description) {
  return description ? description.split(/,| from /)[0] : null;
}

// ------------------------------------------------------------------ the form
function shown(value) {
  if (value === null || value === undefined) return "";
  return Array.isArray(value) ? value.join(" ") : String(value);
}

function buildField(field) {
  const id = `opt-${field.name}`;
  const info = el("span", { class: "info", title: field.help }, "?");
  let input;
  if (field.type === "bool") {
    input = el("input", { type: "checkbox", id, name: field.name });
    input.checked = Boolean(field.default);
    return {
      input,
      node: el("div", { class: "field toggle" }, input, el("label", { for: id, title: field.help }, field.label, info)),
    };
  }
  if (field.choices) {
    input = el("select", { id, name: field.name });
    if (field.nullable) input.append(el("option", { value: "" }, "default"));
    for (const choice of field.choices) input.append(el("option", { value: choice }, choice));
    input.value = shown(field.default);
  } else if ((field.type === "int" || field.type === "float") && !field.many) {
    input = el("input", {
      type: "number",
      id,
      name: field.name,
      step: field.type === "int" ? "1" : "any",
      placeholder: field.nullable ? "default" : null,
    });
    input.value = shown(field.default);
  } else {
    input = el("input", {
      type: "text",
      id,
      name: field.name,
      placeholder: field.nullable ? "default" : null,
      spellcheck: "false",
    });
    input.value = shown(field.default);
  }
  const wide = field.many || (field.type === "str" && !field.choices) ? " wide" : "";
  return {
    input,
    node: el("div", { class: `field${wide}` }, el("label", { for: id, title: field.help }, field.label, info), input),
  };
}

// Each field in its place: the mode's switch, the mode's own fields, the main ones, more.
const SECTIONS = { photo: "photo-options", main: "main-options", more: "more-options" };

function buildForm(fields) {
  for (const field of fields) {
    const section = field.section || (field.main ? "main" : "more");
    if (section === "mode") {
      state.modeField = field;
      continue;
    }
    const { input, node } = buildField(field);
    state.inputs.set(field.name, { field, el: input, section });
    input.addEventListener("input", () => input.classList.toggle("changed", valueOf(field, input) !== null));
    input.addEventListener("change", () => input.classList.toggle("changed", valueOf(field, input) !== null));
    $(SECTIONS[section]).append(node);
  }
}

// ------------------------------------------------------------------ the mode
// Words for the pictures of step 2 in the mode: paintings, or reference photos.
function nouns() {
  return state.photo ? { one: "reference", many: "references" } : { one: "painting", many: "paintings" };
}

function setMode(photo) {
  state.photo = photo;
  document.body.classList.toggle("photo-mode", photo);
  $("mode-paint").setAttribute("aria-checked", String(!photo));
  $("mode-photo").setAttribute("aria-checked", String(photo));
  showMasks();
  updateStart();
}

// A label image chosen (or removed: null) for the photo ("content") or the reference ("style").
function setSegmentation(kind, file) {
  const old = state.segs[kind];
  if (old) URL.revokeObjectURL(old.url);
  state.segs[kind] = file ? { file, url: URL.createObjectURL(file) } : null;
  const thumb = $(`${kind}-seg-thumb`);
  thumb.hidden = !file;
  if (file) thumb.src = state.segs[kind].url;
  $(`${kind}-seg-name`).textContent = file ? file.name : "none";
  $(`${kind}-seg-remove`).hidden = !file;
  showMasks();
}

function initMode() {
  $("mode-paint").addEventListener("click", () => setMode(false));
  $("mode-photo").addEventListener("click", () => setMode(true));
  for (const kind of ["content", "style"]) {
    $(`${kind}-seg-input`).addEventListener("change", (event) => {
      const [file] = event.target.files;
      event.target.value = "";
      if (file) setSegmentation(kind, file);
    });
    $(`${kind}-seg-remove`).addEventListener("click", () => setSegmentation(kind, null));
  }
  setMode(Boolean(state.modeField && state.modeField.default));
}

// The text to send for a field, or null when it keeps its default (omitted fields keep
// the server's defaults, so a model left alone may fall back as the command line does).
function valueOf(field, input) {
  if (field.type === "bool") return input.checked === Boolean(field.default) ? null : String(input.checked);
  const text = input.value.trim();
  if (field.type === "float" && !field.many && text !== "" && field.default !== null) {
    if (Number(text) === Number(field.default)) return null;
  }
  return text === shown(field.default) ? null : text;
}

// ------------------------------------------------------------------ the pictures
function setContent(blob, name) {
  if (state.content) URL.revokeObjectURL(state.content.url);
  state.content = { blob, name, url: URL.createObjectURL(blob) };
  const preview = $("content-preview");
  // A photo the browser cannot show (HEIC, in most browsers) is still read by the server.
  preview.onerror = () => {
    preview.hidden = true;
    $("content-name").textContent = `${name} (no preview in this browser)`;
  };
  preview.src = state.content.url;
  preview.hidden = false;
  $("content-hint").hidden = true;
  $("content-name").textContent = name;
  $("content-name").hidden = false;
  $("content-drop").classList.add("filled");
  state.masks.setPhoto(state.content.url);
  updateStart();
}

function addStyle(blob, name) {
  state.styles.push({ blob, name, url: URL.createObjectURL(blob) });
  renderStyles();
}

function renderStyles() {
  const list = $("style-list");
  list.replaceChildren();
  state.styles.forEach((style, index) => {
    list.append(
      el(
        "div",
        { class: "style-item", title: style.name },
        el("img", { src: style.url, alt: style.name }),
        tinted(el("span", { class: "colour", "aria-hidden": "true" }, String(index + 1)), index),
        el("span", { class: "label" }, style.name),
        el(
          "button",
          {
            type: "button",
            class: "remove",
            "aria-label": `remove ${style.name}`,
            onclick: () => {
              URL.revokeObjectURL(style.url);
              state.masks.remove(index);
              state.styles.splice(index, 1);
              renderStyles();
            },
          },
          "×",
        ),
      ),
    );
  });
  state.masks.setCount(state.styles.length);
  showMasks();
  updateStart();
}

function images(files) {
  return Array.from(files || []).filter((file) => !file.type || file.type.startsWith("image/"));
}

function dropZone(zone, onFiles) {
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    onFiles(images(event.dataTransfer.files));
  });
}

async function loadSamples() {
  const { ok, body } = await getJSON("/api/samples");
  if (!ok || !body.length) return;
  for (const [kind, box, use] of [
    ["photo", $("content-samples"), setContent],
    ["painting", $("style-samples"), addStyle],
  ]) {
    const samples = body.filter((sample) => sample.kind === kind);
    if (!samples.length) continue;
    box.append(el("span", { class: "caption" }, "Samples"));
    for (const sample of samples) {
      box.append(
        el(
          "button",
          {
            type: "button",
            class: "sample",
            dataset: { sample: sample.name },
            title: `use the bundled ${sample.name}`,
            onclick: async () => {
              const response = await fetch(sample.url);
              if (response.ok) use(await response.blob(), sample.name);
            },
          },
          el("img", { src: sample.url, alt: "" }),
          sample.name.replace(/\.[a-z]+$/i, ""),
        ),
      );
    }
  }
}

// ------------------------------------------------------------------ where each painting goes
function tinted(node, index) {
  node.style.setProperty("--colour", maskColour(index));
  return node;
}

// The mask tools as the painter stands: the paintings to choose from, the tool, undo.
function showMasks() {
  const masks = state.masks;
  const ready = state.content !== null && state.styles.length > 0;
  const { one, many } = nouns();
  $("mask-editor").hidden = !ready;
  $("mask-hint").hidden = ready;
  $("mask-hint").textContent = state.photo
    ? "Choose a photo and a reference, then paint the regions: where each reference's look goes (or upload a mask for it). Where nothing is painted, the photo keeps its own look."
    : "Choose a photo and a painting, then paint where each painting goes (or upload a mask for it). Where nothing is painted, the photo is kept.";
  const segs = state.photo && (state.segs.content || state.segs.style);
  $("masks-summary").textContent = segs ? "segmentations" : masks.ops.length ? `${many}' regions` : "optional";
  $("form").classList.toggle("masking", $("masks").open);
  const swatches = $("mask-swatches");
  swatches.replaceChildren();
  state.styles.forEach((style, index) => {
    const chosen = index === masks.current;
    const swatch = el(
      "button",
      {
        type: "button",
        class: "swatch",
        role: "radio",
        "aria-checked": String(chosen),
        dataset: { painting: String(index) },
        title: `paint where ${style.name} goes (${index + 1}): its ${one}'s region`,
        onclick: () => masks.select(index),
      },
      el("img", { src: style.url, alt: "" }),
      el("span", {}, String(index + 1)),
    );
    swatches.append(tinted(swatch, index));
  });
  $("mask-brush").setAttribute("aria-pressed", String(masks.tool === "brush"));
  $("mask-eraser").setAttribute("aria-pressed", String(masks.tool === "erase"));
  $("mask-size").value = String(masks.size);
  $("mask-undo").disabled = !masks.ops.length;
  $("mask-clear").disabled = !masks.ops.length;
  const name = state.styles[masks.current] ? state.styles[masks.current].name : "";
  const shown = `${one[0].toUpperCase()}${one.slice(1)} ${masks.current + 1} (${name})`;
  $("mask-note").textContent =
    masks.tool === "erase"
      ? "The eraser takes the photo back to as it was photographed."
      : state.photo
        ? `A region: ${shown}'s look goes where you paint; where nothing is painted, the photo keeps its own look.`
        : `${shown} goes where you paint; the photo is kept where nothing is painted.`;
}

function typing(target) {
  if (!(target instanceof HTMLElement)) return false;
  const field = ["INPUT", "SELECT", "TEXTAREA"].includes(target.tagName) && target.type !== "range";
  return target.isContentEditable || field;
}

// Keys while the masks are open: Ctrl+Z undo, B brush, E eraser, [ ] size, 1-8 a painting.
function maskKeys(event) {
  const masks = state.masks;
  if (!$("masks").open || $("mask-editor").hidden || typing(event.target) || event.altKey) return;
  const key = event.key.toLowerCase();
  const command = event.ctrlKey || event.metaKey;
  if (command && key === "z" && !event.shiftKey) masks.undo();
  else if (command) return;
  else if (key === "b") masks.setTool("brush");
  else if (key === "e") masks.setTool("erase");
  else if (key === "[" || key === "]") masks.setSize(masks.size + (key === "]" ? 4 : -4));
  else if (/^[1-8]$/.test(key) && Number(key) <= state.styles.length) masks.select(Number(key) - 1);
  else return;
  event.preventDefault();
}

function initMasks() {
  const nodes = { box: $("mask-box"), photo: $("mask-photo"), view: $("mask-canvas"), cursor: $("mask-cursor") };
  state.masks = new MaskPainter(nodes, showMasks);
  $("masks").addEventListener("toggle", showMasks);
  $("mask-brush").addEventListener("click", () => state.masks.setTool("brush"));
  $("mask-eraser").addEventListener("click", () => state.masks.setTool("erase"));
  $("mask-size").addEventListener("input", (event) => state.masks.setSize(Number(event.target.value)));
  $("mask-undo").addEventListener("click", () => state.masks.undo());
  $("mask-clear").addEventListener("click", () => state.masks.clear());
  $("mask-input").addEventListener("change", async (event) => {
    const [file] = event.target.files;
    event.target.value = "";
    if (file) await state.masks.upload(file);
  });
  document.addEventListener("keydown", maskKeys);
  showMasks();
}

// ------------------------------------------------------------------ a job
function running() {
  return state.job !== null && !state.job.final;
}

function updateStart() {
  const ready = state.content !== null && state.styles.length > 0;
  const { one, many } = nouns();
  $("start").disabled = !ready || running();
  $("start-note").textContent = running()
    ? "A picture is being painted"
    : !state.content
      ? `Choose a photo and a ${one}`
      : !state.styles.length
        ? `Choose at least one ${one}`
        : `${state.styles.length} ${state.styles.length > 1 ? many : one}, ready`;
}

async function start(event) {
  event.preventDefault();
  hideError();
  if (!state.content || !state.styles.length || running() || $("start").disabled) return;
  $("start").disabled = true;
  const form = new FormData();
  form.append("content", state.content.blob, state.content.name);
  for (const style of state.styles) form.append("style", style.blob, style.name);
  try {
    for (const mask of await state.masks.masks(state.styles.map((style) => style.name), nouns().one)) {
      form.append("mask", mask.blob, mask.name); // one per painting, in the same order
    }
  } catch (error) {
    showError(error.message);
    updateStart();
    return;
  }
  if (state.photo) {
    // the label images: the server says what is wrong with them (or with one alone)
    if (state.segs.content) form.append("content_segmentation", state.segs.content.file, state.segs.content.file.name);
    if (state.segs.style) form.append("style_segmentation", state.segs.style.file, state.segs.style.file.name);
  }
  const mode = state.modeField;
  if (mode && state.photo !== Boolean(mode.default)) form.append(mode.name, String(state.photo));
  for (const [name, { field, el: input, section }] of state.inputs) {
    if (section === "photo" && !state.photo) continue; // the mode's own fields, shown in it
    const value = valueOf(field, input);
    if (value !== null) form.append(name, value);
  }
  const { ok, body } = await getJSON("/api/jobs", { method: "POST", body: form });
  if (!ok) {
    showError(body.error || "the server refused the job");
    updateStart();
    return;
  }
  remember(body.id);
  follow(body.id);
}

function resetStage() {
  $("readout").hidden = true;
  $("progress").hidden = false;
  $("losses").replaceChildren();
  $("spark").replaceChildren();
  $("bar").style.width = "0";
  $("download").hidden = true;
  $("download-format").hidden = true;
  $("note").textContent = "";
  for (const thumb of document.querySelectorAll(".thumb")) thumb.classList.remove("current");
}

function follow(id) {
  if (state.source) state.source.close();
  resetStage();
  state.job = { id, version: 0, totals: [], lastEpoch: 0, final: false };
  updateStart();
  const source = new EventSource(`/api/jobs/${id}/events`);
  state.source = source;
  source.onmessage = (event) => show(JSON.parse(event.data));
  source.onerror = async () => {
    if (state.source !== source || !state.job || state.job.final) return;
    const { ok, body } = await getJSON(`/api/jobs/${id}`);
    if (!ok) {
      source.close();
      finish();
      showError(body.error);
    }
  };
}

function show(status) {
  const job = state.job;
  if (!job || status.id !== job.id) return;
  const badge = $("state");
  badge.textContent = status.state;
  badge.dataset.state = status.state;
  $("epoch").innerHTML = "";
  if (status.epoch) {
    $("epoch").append("epoch ", el("b", {}, String(status.epoch)), ` / ${status.max_epochs}`);
  }
  $("scale").textContent = status.scale[1] > 1 ? `scale ${status.scale[0]}/${status.scale[1]}` : "";
  $("bar").style.width = `${Math.min(100, (100 * status.epoch) / status.max_epochs)}%`;
  showLosses(status);
  if (status.network) {
    state.network = status.network;
    showServer();
  }
  if (status.picture > job.version) {
    job.version = status.picture;
    showPicture(`/api/jobs/${job.id}/image?v=${status.picture}`, status.picture);
  }
  tick(status);
  const note = $("note");
  if (status.state === "queued") {
    note.textContent = status.position > 1 ? `waiting: ${status.position - 1} job(s) before this one` : "starting…";
  } else if (status.state === "running") {
    note.textContent = status.network ? `on ${networkName(status.network)}` : "";
  }
  if (FINAL.includes(status.state)) {
    state.source.close();
    finish();
    if (status.state === "done") {
      note.textContent = `finished: ${status.reason}`;
      offerDownload(job.id);
      addThumb(status, true);
    } else if (status.state === "failed") {
      note.textContent = "";
      showError(status.error);
    } else {
      note.textContent = `cancelled at epoch ${status.epoch}`;
    }
  }
}

// The finished picture's download, in the format chosen beside the link.
function offerDownload(id) {
  const link = $("download");
  const choice = $("download-format");
  const point = () => {
    link.href = `/api/jobs/${id}/image?download=1&format=${choice.value}`;
  };
  choice.onchange = point;
  point();
  link.setAttribute("download", "");
  link.hidden = false;
  choice.hidden = false;
}

function finish() {
  state.job.final = true;
  clearInterval(state.clock);
  state.clock = null;
  $("cancel").hidden = true;
  updateStart();
}

function tick(status) {
  const base = status.elapsed;
  const since = performance.now();
  clearInterval(state.clock);
  const draw = () => {
    const extra = status.state === "running" ? (performance.now() - since) / 1000 : 0;
    $("elapsed").textContent = status.state === "queued" ? "" : clock(base + extra);
  };
  draw();
  if (status.state === "running") state.clock = setInterval(draw, 500);
  $("cancel").hidden = !(status.state === "running" || status.state === "queued");
}

function showLosses(status) {
  const losses = status.losses || {};
  const sum = (prefix) =>
    Object.entries(losses)
      .filter(([name]) => name.startsWith(prefix))
      .reduce((total, [, value]) => total + value, 0);
  if (!Object.keys(losses).length) return;
  const style = sum("style_");
  const content = sum("content_");
  $("readout").hidden = false;
  const list = $("losses");
  list.replaceChildren();
  for (const [name, value] of [
    ["style", style],
    ["content", content],
    ["total", style + content],
  ]) {
    list.append(el("div", {}, el("dt", {}, name), el("dd", {}, number(value))));
  }
  const job = state.job;
  if (status.epoch > job.lastEpoch && Number.isFinite(style + content)) {
    job.lastEpoch = status.epoch;
    job.totals.push(style + content);
    spark(job.totals);
  }
}

function spark(values) {
  const svg = $("spark");
  svg.replaceChildren();
  if (values.length < 2) return;
  const logs = values.map((v) => Math.log10(Math.max(v, 1e-30)));
  const low = Math.min(...logs);
  const high = Math.max(...logs);
  const span = high - low || 1;
  const points = logs.map((v, i) => [(200 * i) / (logs.length - 1), 36 - (32 * (v - low)) / span]);
  const line = points.map(([x, y], i) => `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join("");
  const ns = "http://www.w3.org/2000/svg";
  const area = document.createElementNS(ns, "path");
  area.setAttribute("class", "area");
  area.setAttribute("d", `${line}L200,40L0,40Z`);
  const path = document.createElementNS(ns, "path");
  path.setAttribute("class", "line");
  path.setAttribute("d", line);
  svg.append(area, path);
}

function showPicture(url, version) {
  const next = new Image();
  next.onload = () => {
    const live = $("live");
    live.src = url;
    live.dataset.version = String(version);
    live.hidden = false;
    $("empty").hidden = true;
  };
  next.src = url;
}

async function cancel() {
  if (!state.job) return;
  $("cancel").disabled = true;
  const { ok, body } = await getJSON(`/api/jobs/${state.job.id}`, { method: "DELETE" });
  $("cancel").disabled = false;
  if (!ok) showError(body.error);
  else $("note").textContent = "cancelling at the end of this epoch…";
}

// ------------------------------------------------------------------ the session's strip
function remember(id) {
  const ids = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "[]");
  ids.push(id);
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(ids.slice(-50)));
}

function addThumb(status, current) {
  $("strip-empty").hidden = true;
  const strip = $("strip");
  const old = strip.querySelector(`[data-job="${status.id}"]`);
  if (old) old.remove();
  const names = status.names || { content: "", styles: [] };
  const size = status.size ? `${status.size[0]}×${status.size[1]} px, ` : "";
  const thumb = el(
    "button",
    {
      type: "button",
      class: `thumb${current ? " current" : ""}`,
      dataset: { job: status.id },
      title: `${size}${names.content} in the style of ${names.styles.join(", ")}`,
      onclick: () => revisit(status),
    },
    el("img", { src: `/api/jobs/${status.id}/image?v=${status.picture}`, alt: "a finished picture" }),
    el("span", {}, `${status.epoch} epochs · ${clock(status.elapsed)}`),
  );
  strip.prepend(thumb);
}

function revisit(status) {
  if (running()) return;
  if (state.source) state.source.close();
  resetStage();
  state.job = { id: status.id, version: status.picture, totals: [], lastEpoch: 0, final: true };
  showPicture(`/api/jobs/${status.id}/image?v=${status.picture}`, status.picture);
  $("state").textContent = status.state;
  $("state").dataset.state = status.state;
  $("epoch").textContent = `${status.epoch} epochs`;
  $("scale").textContent = "";
  $("elapsed").textContent = clock(status.elapsed);
  $("bar").style.width = "100%";
  showLosses(status);
  $("note").textContent = `${status.names.content} · ${status.names.styles.join(", ")}`;
  offerDownload(status.id);
  const thumb = document.querySelector(`[data-job="${status.id}"]`);
  if (thumb) thumb.classList.add("current");
}

async function restoreSession() {
  const ids = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "[]");
  for (const id of ids) {
    const { ok, body } = await getJSON(`/api/jobs/${id}`);
    if (ok && body.state === "done") addThumb(body, false);
  }
}

// ------------------------------------------------------------------ start-up
function showServer() {
  const parts = [state.device, networkName(state.network)].filter(Boolean);
  const box = $("server");
  box.textContent = parts.join(" · ");
  box.title = state.network || "the device the server runs on";
}

async function init() {
  initMasks();
  const { ok, body } = await getJSON("/api/options");
  if (!ok) {
    showError(body.error || "cannot read the options");
    return;
  }
  state.device = body.device;
  state.network = body.network;
  showServer();
  buildForm(body.fields);
  initMode();

  $("content-input").addEventListener("change", (event) => {
    const [file] = images(event.target.files);
    if (file) setContent(file, file.name);
    event.target.value = "";
  });
  $("style-input").addEventListener("change", (event) => {
    for (const file of images(event.target.files)) addStyle(file, file.name);
    event.target.value = "";
  });
  dropZone($("content-drop"), (files) => files[0] && setContent(files[0], files[0].name));
  dropZone($("style-drop"), (files) => files.forEach((file) => addStyle(file, file.name)));
  $("form").addEventListener("submit", start);
  $("cancel").addEventListener("click", cancel);
  updateStart();
  await Promise.all([loadSamples(), restoreSession()]);
  document.body.dataset.ready = "true";
}

init();
