// huashi studio: the page. Plain JavaScript, no build step; it talks only to the studio's /api.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { runs: [], run: null, form: null, init: null, mask: null, job: null, jobEvents: null, families: [] };

// --- the token (from the URL `huashi studio --token` printed), kept as a same-site cookie -------
(function takeToken() {
  const match = location.hash.match(/token=([^&]+)/);
  if (match) {
    const token = decodeURIComponent(match[1]);
    document.cookie = `huashi_token=${encodeURIComponent(token)}; path=/; SameSite=Strict`;
    sessionStorage.setItem("huashi_token", token);
    history.replaceState(null, "", location.pathname);
  }
})();

const CLIENT = Math.random().toString(36).slice(2, 14);  // this tab: the paint queue's client

async function api(path, options = {}) {
  const headers = Object.assign({ "X-Huashi-Client": CLIENT }, options.headers || {});
  const token = sessionStorage.getItem("huashi_token");
  if (token) headers["X-Huashi-Token"] = token;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(options.json);
  }
  const response = await fetch(path, { method: options.method || "GET", headers, body: options.body });
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) throw new Error((body && body.detail) || `${response.status} ${response.statusText}`);
  return body;
}

function toast(text, error = false) {
  const box = $("toast");
  box.textContent = text;
  box.className = "toast" + (error ? " error" : "");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => box.classList.add("hidden"), error ? 7000 : 3000);
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  for (const child of children.flat()) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function showTab(name) {
  document.querySelectorAll("nav button").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
  document.querySelectorAll(".tab").forEach((s) => s.classList.toggle("active", s.id === name));
  if (name === "runs") loadRunList();
  if (name === "train") loadJobs();
  if (name === "latents") return loadLatents();
  return null;
}
document.querySelectorAll("nav button").forEach((b) => b.addEventListener("click", () => showTab(b.dataset.tab)));

const fmtSeconds = (s) => (s == null ? "–" : s < 90 ? `${Math.round(s)} s` : s < 5400 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`);
const uid = () => Math.random().toString(36).slice(2, 12);

// --- Paint ------------------------------------------------------------------------------------

async function loadRuns(select) {
  const [runs, zoo] = await Promise.all([api("/api/runs"), api("/api/zoo")]);
  state.runs = runs;
  state.zoo = zoo;
  const paintable = state.runs.filter((r) => r.trained && r.makes_images !== false);
  const box = $("p-run");
  const groups = [];
  if (paintable.length) groups.push(el("optgroup", { label: "Your runs" }, ...paintable.map((r) => el("option", { value: r.name }, `${r.name} · ${r.family}`))));
  for (const [key, title] of Object.entries(zoo.groups)) {
    const members = zoo.painters.filter((p) => p.group === key);
    if (members.length) groups.push(el("optgroup", { label: `Zoo · ${title}` }, ...members.map((p) => el("option", { value: p.name }, `${p.name} · ${p.family}`))));
  }
  // feature networks (classifier, clip) paint nothing from seeds but dream on an image
  const networks = [...state.runs.filter((r) => r.trained && r.makes_images === false), ...(zoo.networks || [])];
  if (networks.length) groups.push(el("optgroup", { label: "DeepDream an image (feature networks)" }, ...networks.map((r) => el("option", { value: r.name }, `${r.name} · ${r.family}`))));
  box.replaceChildren(...groups);
  if (!groups.length) box.append(el("option", { value: "" }, "no painters yet: train a run"));
  // the first choice paints from seeds: a run of the user's, else a zoo painter
  const seeds = (list) => list.find((r) => r.group === "noise" || r.group === "prompt");
  const first = seeds(paintable) || seeds(zoo.painters) || paintable[0] || zoo.painters[0];
  const want = select || state.run || (first && first.name);
  if (want) box.value = want;
  renderPainters();
  await chooseRun(box.value);
}

// --- the first screen: painters grouped by what they do, the zoo's and the user's ---------------

// Scores a card shows beside its FID line (the FID itself only as a floor multiple, or labelled raw).
const SCORES = ["psnr", "ssim", "held_out_l1"];

function painterCard(p, mine) {
  const others = SCORES.filter((k) => typeof (p.scores || {})[k] === "number").slice(0, 2)
    .map((k) => `${k} ${+Number(p.scores[k]).toPrecision(3)}`);
  const floors = Object.values(p.floors || {});  // a run of yours: its newest eval's floor multiple
  const scores = [p.fid || floors[floors.length - 1], ...others].filter(Boolean).join(" · ");
  const verb = { translate: "translate", upscale: "upscale" }[p.group] || "paint";
  return el("div", { class: "card painter", "data-painter": p.name },
    p.grid ? el("img", { src: p.grid, alt: `${p.name} samples` }) : el("div", { class: "pic empty" }, ""),
    el("div", { class: "meta" },
      el("span", { class: "name" }, p.name),
      el("span", { class: "what", title: p.description || "" }, mine ? `your run · ${p.family} · ${p.data} ${p.resolution}px` : p.description),
      el("span", { class: "scores", title: p.scores && p.scores.features ? `measured with ${p.scores.features}` : "" }, scores || `${p.family} · ${p.data || ""}`),
      el("button", { type: "button", class: "primary", "data-action": verb, onclick: () => paintWith(p.name).catch((e) => toast(e.message, true)) }, verb)));
}

function renderPainters() {
  const zoo = state.zoo || { groups: {}, painters: [] };
  const mine = state.runs.filter((r) => r.trained && r.group);
  const box = $("painter-groups");
  box.replaceChildren(...Object.entries(zoo.groups).map(([key, title]) => {
    const cards = [...mine.filter((r) => r.group === key).map((r) => painterCard(r, true)),
      ...zoo.painters.filter((p) => p.group === key).map((p) => painterCard(p, false))];
    return cards.length ? el("div", { class: "painter-group", "data-group": key }, el("h3", {}, title), el("div", { class: "painter-row" }, ...cards)) : "";
  }));
}

// One click: choose the painter and paint (an example prompt when a text painter has none;
// translate and upscale painters ask for the image first).
async function paintWith(name) {
  $("p-run").value = name;
  await chooseRun(name);
  const form = state.form || {};
  if (form.condition === "image") {
    $("p-input").focus();
    toast("choose an image to " + (state.group === "upscale" ? "upscale" : "translate"));
    return;
  }
  if (form.condition === "text" && !$("p-prompt").value.trim() && (form.examples || []).length) {
    $("p-prompt").value = form.examples[0];
  }
  await paint(paintRequest());
}

async function chooseRun(name) {
  state.run = name;
  document.querySelectorAll(".painter").forEach((c) => c.classList.toggle("chosen", c.dataset.painter === name));
  $("g-run").textContent = name ? `· ${name}` : "";
  if (!name) { renderGallery([]); return; }
  const info = await api(`/api/runs/${encodeURIComponent(name)}`);
  const form = info.form;
  state.form = form;
  const note = $("p-run-note");
  note.classList.toggle("hidden", !!(form && form.paintable));
  const translates = !!form && form.condition === "image";
  const dreams = !!form && !!form.dream;  // a classifier or clip network: DeepDream on an image
  const takesImage = translates || dreams;
  note.textContent = form ? (form.paintable || takesImage ? "" : `A ${info.family} run does not paint from seeds.`) : info.note || "";
  if (dreams) note.textContent = `A ${info.family} network paints nothing from seeds: it dreams on an image, making it look more like what you ask for.`;
  note.classList.toggle("hidden", !note.textContent);
  state.group = info.group;
  document.querySelectorAll(".only-image").forEach((n) => n.classList.toggle("hidden", !takesImage));
  document.querySelectorAll(".only-seeds").forEach((n) => n.classList.toggle("hidden", takesImage));
  document.querySelectorAll(".only-dream").forEach((n) => n.classList.toggle("hidden", !dreams));
  document.querySelectorAll(".only-dream-class").forEach((n) => n.classList.toggle("hidden", !dreams || form.dream !== "classifier"));
  document.querySelectorAll(".only-dream-clip").forEach((n) => n.classList.toggle("hidden", !dreams || form.dream !== "clip"));
  if (dreams && form.dream === "classifier") {
    $("p-dream-label").replaceChildren(...form.class_names.map((c, i) => el("option", { value: i }, `${i} · ${c}`)));
  }
  // a StyleGAN (a w+ space): invert an upload or a painted image, then edit or drag it
  document.querySelectorAll(".only-latent").forEach((n) => n.classList.toggle("hidden", !form || !(form.latent_spaces || []).includes("w+")));
  state.latent = null;
  $("p-latent").classList.add("hidden");
  $("p-status").textContent = "";
  $("p-go").textContent = dreams ? "Dream" : translates ? (info.group === "upscale" ? "Upscale" : "Translate") : "Paint";
  document.querySelectorAll(".only-text").forEach((n) => n.classList.toggle("hidden", !form || form.condition !== "text"));
  document.querySelectorAll(".only-class").forEach((n) => n.classList.toggle("hidden", !form || form.condition !== "class"));
  document.querySelectorAll(".only-truncation").forEach((n) => n.classList.toggle("hidden", !form || !form.truncation));
  document.querySelectorAll(".only-sampling").forEach((n) => n.classList.toggle("hidden", !form || !form.sampling));
  if (form && form.condition === "class") {
    $("p-label").replaceChildren(el("option", { value: "" }, "any (unconditional)"),
      ...form.class_names.map((c, i) => el("option", { value: i }, `${i} · ${c}`)));
  }
  if (form && form.sampling) {
    // left open, sampler, steps and CFG are the run's own defaults: the form shows their values
    const d = form.defaults || {};
    const own = (v, none) => (v === undefined || v === null ? none : `${v} (run's default)`);
    $("p-sampler").replaceChildren(el("option", { value: "" }, own(d.sampler, "run's default")),
      ...form.samplers.map((s) => el("option", { value: s }, s)));
    $("p-steps").placeholder = own(d.steps, "run's default");
    $("p-cfg").placeholder = own(d.cfg, "none (unconditional)");
    $("p-sampler").value = $("p-steps").value = $("p-cfg").value = "";
  }
  $("s-axis").querySelector('[value="prompt"]').disabled = !form || form.condition !== "text";
  $("s-axis").querySelector('[value="label"]').disabled = !form || form.condition !== "class";
  $("s-axis").querySelector('[value="steps"]').disabled = !form || !form.sampling;
  $("s-axis").querySelector('[value="cfg"]').disabled = !form || !form.sampling;
  clearInit();
  renderGallery(info.gallery);
}
$("p-run").addEventListener("change", (e) => chooseRun(e.target.value).catch((err) => toast(err.message, true)));
$("p-dice").addEventListener("click", () => { $("p-seed").value = Math.floor(Math.random() * 2 ** 31); });
$("p-strength").addEventListener("input", (e) => { $("p-strength-out").textContent = e.target.value; });
$("p-init-clear").addEventListener("click", clearInit);

function clearInit() {
  state.init = state.mask = null;
  $("p-init").classList.add("hidden");
}

function setInit(uploadId, url, maskId = null) {
  state.init = uploadId;
  state.mask = maskId;
  $("p-init-img").src = url;
  $("p-init-what").textContent = maskId ? "inpainting this image (masked area)" : "img2img from this image";
  if (maskId) { $("p-strength").value = 1; $("p-strength-out").textContent = "1"; }
  $("p-init").classList.remove("hidden");
}

function paintRequest(overrides = {}) {
  const form = state.form || {};
  const request = { run: state.run, n: Number($("p-n").value) || 1 };
  const seed = $("p-seed").value;
  if (seed !== "") request.seed = Number(seed);
  if (form.condition === "text" && $("p-prompt").value.trim()) request.prompt = $("p-prompt").value.trim();
  if (form.condition === "text" && $("p-negative").value.trim()) request.negative_prompt = $("p-negative").value.trim();
  if (form.condition === "class" && $("p-label").value !== "") request.label = Number($("p-label").value);
  if (form.sampling) {
    if ($("p-sampler").value) request.sampler = $("p-sampler").value;
    if ($("p-steps").value !== "") request.steps = Number($("p-steps").value);
    if ($("p-cfg").value !== "") request.cfg = Number($("p-cfg").value);
  }
  if (form.truncation) request.truncation = Number($("p-truncation").value);
  if (state.init) {
    request.init = state.init;
    request.strength = Number($("p-strength").value);
    if (state.mask) request.mask = state.mask;
  }
  return Object.assign(request, overrides);
}

// Progress of a paint, eval or compare request: server-sent events of its task (per sampler
// step for diffusion runs).
function follow(task, bar, status) {
  const events = new EventSource(`/api/tasks/${task}/events`);
  events.onmessage = (e) => {
    const s = JSON.parse(e.data);
    if (s.total) bar.style.width = `${Math.max(3, (100 * s.done) / s.total)}%`;
    bar.classList.toggle("queued", s.status === "queued");
    if (status && s.status === "queued") status.textContent = `queued · ${s.position === 1 ? "next" : `${s.position} in line`}`;
    if (status && s.message && s.status === "running") status.textContent = `${s.message} · ${s.done}/${s.total}`;
    if (s.status !== "running" && s.status !== "queued") events.close();
  };
  return events;
}

async function paint(request) {
  const task = uid();
  request.task = task;
  const bar = $("p-bar");
  bar.style.width = "3%";
  $("p-go").disabled = true;
  $("p-status").textContent = "painting…";
  state.painting = task;
  $("p-cancel").classList.remove("hidden");
  const events = follow(task, bar, $("p-status"));
  try {
    const result = await api("/api/paint", { method: "POST", json: request });
    bar.style.width = "100%";
    $("p-status").textContent = `${result.images.length} image(s) in ${result.seconds.toFixed(2)} s`;
    addToGallery(result.images);
    return result;
  } catch (err) {
    $("p-status").textContent = "";
    toast(err.message, true);
    throw err;
  } finally {
    events.close();
    $("p-go").disabled = false;
    state.painting = null;
    $("p-cancel").classList.add("hidden");
    setTimeout(() => { bar.style.width = "0"; }, 800);
  }
}

// Cancel: a queued paint leaves the queue, a running one stops at its next step.
$("p-cancel").addEventListener("click", () => {
  if (state.painting) api(`/api/tasks/${state.painting}/cancel`, { method: "POST" }).catch((err) => toast(err.message, true));
});

// Translate (Pix2Pix) or upscale (upsampler) the chosen input image.
async function translateInput() {
  const file = $("p-input").files[0];
  if (!file) { toast("choose the input image first", true); return null; }
  const task = uid();
  $("p-go").disabled = true;
  $("p-status").textContent = "working…";
  const events = follow(task, $("p-bar"), $("p-status"));
  try {
    const upload = await uploadBlob(file);
    const request = { run: state.run, upload: upload.id, task };
    if ($("p-seed").value !== "") request.seed = Number($("p-seed").value);
    const result = await api("/api/translate", { method: "POST", json: request });
    $("p-status").textContent = [`${state.group === "upscale" ? "upscaled" : "translated"} ${file.name}`, ...result.notes].join(" · ");
    addToGallery(result.images);
    return result;
  } catch (err) {
    $("p-status").textContent = "";
    toast(err.message, true);
    throw err;
  } finally {
    events.close();
    $("p-go").disabled = false;
  }
}

// DeepDream the chosen input image with a classifier (a class) or clip network (a prompt).
async function dreamInput() {
  const file = $("p-input").files[0];
  if (!file) { toast("choose the image to dream on first", true); return null; }
  const request = { run: state.run, task: uid(), octaves: Number($("p-dream-octaves").value) || 3,
    steps: Number($("p-dream-steps").value) || 20 };
  if (state.form.dream === "classifier") request.label = Number($("p-dream-label").value);
  else request.prompt = $("p-dream-prompt").value.trim();
  if ($("p-seed").value !== "") request.seed = Number($("p-seed").value);
  const result = await queued("/api/dream", request, "dreaming…", async () => {
    request.upload = (await uploadBlob(file)).id;
  });
  if (result) $("p-status").textContent = `dreamed on ${file.name}`;
  return result;
}

// A request of the Paint page's tools (dream, invert, edit): the queue's progress in the bar,
// Cancel while it waits or runs, its images in the gallery.
async function queued(path, request, what, before = null) {
  const bar = $("p-bar");
  $("p-go").disabled = true;
  $("p-status").textContent = what;
  state.painting = request.task;
  $("p-cancel").classList.remove("hidden");
  const events = follow(request.task, bar, $("p-status"));
  try {
    if (before) await before();
    const result = await api(path, { method: "POST", json: request });
    bar.style.width = "100%";
    addToGallery(result.images || [result.image]);
    return result;
  } catch (err) {
    $("p-status").textContent = "";
    toast(err.message, true);
    return null;
  } finally {
    events.close();
    $("p-go").disabled = false;
    state.painting = null;
    $("p-cancel").classList.add("hidden");
    setTimeout(() => { bar.style.width = "0"; }, 800);
  }
}

// --- a StyleGAN's latent tools on the Paint page: invert, edit along a direction, drag ----------

async function invertOnPaint(uploadId) {
  const request = { run: state.run, upload: uploadId, space: "w+", steps: Number($("p-inv-steps").value) || 100, task: uid() };
  const out = await queued("/api/latents/invert", request, "inverting…");
  if (!out) return;
  state.latent = { id: out.latent, url: out.image.url };
  $("p-latent-img").src = out.image.url;
  $("p-latent").classList.remove("hidden");
  $("p-status").textContent = `inverted · PSNR ${out.psnr.toFixed(1)} dB: edit or drag it`;
}

$("p-invert").addEventListener("click", async () => {
  const file = $("p-inv-file").files[0];
  if (!file) { toast("choose an image to invert first", true); return; }
  try { await invertOnPaint((await uploadBlob(file)).id); } catch (err) { toast(err.message, true); }
});

$("p-edit").addEventListener("click", async () => {
  if (!state.latent) return;
  const strengths = $("p-edit-strengths").value.split(",").map((v) => Number(v.trim())).filter((v) => Number.isFinite(v));
  const request = { run: state.run, latent: state.latent.id, direction: $("p-edit-dir").value, strengths, task: uid() };
  const out = await queued("/api/latents/edit", request, "editing…");
  if (out) $("p-status").textContent = `${out.direction} at ${out.strengths.join(", ")}`;
});

// Dragging points happens on the Latents tab's canvas, with this latent.
$("p-drag").addEventListener("click", async () => {
  if (!state.latent) return;
  const { id, url } = state.latent;
  Object.assign(latents, { run: state.run, form: null });
  await showTab("latents");
  Object.assign(latents, { latent: id, points: [], pending: null });
  $("l-inv-img").src = url;
  $("l-drag").classList.remove("hidden");
  $("l-status").textContent = "inverted on the Paint page: click a handle point, then its target";
  drawPoints();
});

$("paint-form").addEventListener("submit", (e) => {
  e.preventDefault();
  if (!state.run) { toast("choose a painter first: a run of yours or one of the zoo's", true); return; }
  if (state.form && state.form.condition === "image") { translateInput().catch(() => {}); return; }
  if (state.form && state.form.dream) { dreamInput().catch(() => {}); return; }
  paint(paintRequest()).catch(() => {});
});

function describe(p) {
  const parts = [];
  if (p.prompt) parts.push(["prompt", p.prompt]);
  if (p.negative_prompt) parts.push(["not", p.negative_prompt]);
  if (p.label !== undefined) {
    const names = (state.form && state.form.class_names) || [];
    parts.push(["label", names[p.label] !== undefined ? `${p.label} · ${names[p.label]}` : p.label]);
  }
  if (p.seed !== undefined) parts.push(["seed", p.seed]);
  for (const key of ["sampler", "steps", "cfg", "truncation", "strength"]) if (p[key] !== undefined) parts.push([key, p[key]]);
  if (p.direction) parts.push(["edit", `${p.direction} × ${(p.strengths || []).join(", ")}`]);
  else if (p.space) parts.push(["", `inverted in ${p.space}`]);
  else if (p.dream) parts.push(["", `dreamed (${p.dream})`]);
  else if (p.mask) parts.push(["", "inpainted"]);
  else if (p.init) parts.push(["", "img2img"]);
  return parts;
}

function card(image) {
  const p = image.parameters;
  const params = el("div", { class: "params" });
  for (const [k, v] of describe(p)) {
    params.append(k ? el("span", {}, `${k} `, el("b", {}, v), "  ") : el("span", {}, v));
  }
  const again = () => paint(requestOf(p, {})).catch(() => {});
  const vary = () => paint(requestOf(p, { seed: Math.floor(Math.random() * 2 ** 31) })).catch(() => {});
  const useInit = async () => {
    const upload = await uploadUrl(image.url);
    setInit(upload.id, image.url);
    $("p-init").scrollIntoView({ block: "nearest" });  // show its strength slider
    toast("set as init image: choose a strength and paint");
  };
  const seeded = p.seed !== undefined;  // painted from a seed (not an inversion, edit or dream)
  return el("div", { class: "card new", "data-id": image.id },
    el("img", { class: "pic", src: image.url, alt: seeded ? `seed ${p.seed}` : image.id, title: image.id }),
    params,
    el("div", { class: "actions" },
      seeded ? el("button", { type: "button", "data-action": "again", title: "the same image again", onclick: again }, "again") : "",
      seeded ? el("button", { type: "button", "data-action": "vary", title: "another seed, same settings", onclick: vary }, "vary seed") : "",
      state.form && state.form.img2img ? el("button", { type: "button", "data-action": "init", onclick: () => useInit().catch((e) => toast(e.message, true)) }, "use as init") : "",
      state.form && state.form.inpaint ? el("button", { type: "button", "data-action": "inpaint", onclick: () => openInpaint(image) }, "inpaint") : "",
      state.form && (state.form.latent_spaces || []).includes("w+") && !p.direction ? el("button", { type: "button", "data-action": "invert", title: "find its latent, to edit or drag it", onclick: () => uploadUrl(image.url).then((u) => invertOnPaint(u.id)).catch((e) => toast(e.message, true)) }, "invert") : ""));
}

function requestOf(p, overrides) {
  const request = { run: state.run, n: 1, seed: p.seed };
  for (const key of ["prompt", "negative_prompt", "label", "sampler", "steps", "cfg", "eta", "truncation", "init", "mask", "strength"]) {
    if (p[key] !== undefined && p[key] !== null) request[key] = p[key];
  }
  return Object.assign(request, overrides);
}

function renderGallery(images) {
  const box = $("gallery");
  box.replaceChildren(...images.map(card));
  box.querySelectorAll(".card").forEach((c) => c.classList.remove("new"));
  if (!images.length) box.append(el("div", { class: "empty" }, "Nothing painted with this run yet."));
}

function addToGallery(images) {
  const box = $("gallery");
  const empty = box.querySelector(".empty");
  if (empty) empty.remove();
  for (const image of [...images].reverse()) box.prepend(card(image));
}

async function uploadBlob(blob) {
  const token = sessionStorage.getItem("huashi_token");
  const headers = { "Content-Type": blob.type || "image/png" };
  if (token) headers["X-Huashi-Token"] = token;
  return api("/api/uploads", { method: "POST", body: blob, headers });
}

async function uploadUrl(url) {
  const blob = await (await fetch(url)).blob();
  return uploadBlob(blob);
}

// --- Sweep grid: seeds across, prompts/labels/steps/CFG down -----------------------------------

$("s-go").addEventListener("click", async () => {
  const axis = $("s-axis").value;
  const values = $("s-values").value.split(",").map((v) => v.trim()).filter(Boolean);
  if (!values.length) { toast("give the row values, separated by commas", true); return; }
  const seeds = Number($("s-seeds").value) || 4;
  const base = paintRequest({ n: seeds, seed: $("p-seed").value === "" ? Math.floor(Math.random() * 2 ** 30) : Number($("p-seed").value) });
  const table = el("table", { class: "sweep" });
  const out = $("sweep-out");
  out.replaceChildren(el("h2", {}, `Sweep: ${axis === "steps" ? "sampler and steps" : axis} × seed`), table);
  out.classList.remove("hidden");
  table.append(el("tr", {}, el("th"), ...Array.from({ length: seeds }, (_, i) => el("th", {}, `seed ${base.seed + i}`))));
  if (axis === "steps") {  // one request: api.paint's sweep (same seeds, one pass per sampler/steps)
    const sweep = values.map((v) => {
      const parts = v.split(/\s+/);
      return parts.length > 1 ? { sampler: parts[0], steps: Number(parts[1]) } : { steps: Number(parts[0]) };
    });
    try {
      const result = await paint(Object.assign(base, { sweep }));
      for (const pass of result.passes) {
        table.append(el("tr", {}, el("th", { class: "rowhead" }, `${pass.sampler} ${pass.steps} · ${pass.seconds.toFixed(2)} s`),
          ...pass.images.map((im) => el("td", {}, el("img", { src: im.url, title: im.id })))));
      }
    } catch (err) { /* shown by paint */ }
    return;
  }
  for (const value of values) {
    const request = Object.assign({}, base, { [axis]: axis === "prompt" ? value : Number(value) });
    try {
      const result = await paint(request);
      table.append(el("tr", {}, el("th", { class: "rowhead" }, `${axis} ${value}`),
        ...result.images.map((im) => el("td", {}, el("img", { src: im.url, title: im.id })))));
    } catch (err) { break; }
  }
});

// --- Inpainting: the mask drawn on a canvas over the image ---------------------------------------

const inpaint = { image: null, mask: null, drawing: false };

function openInpaint(image) {
  const size = (state.form && state.form.resolution) || 32;
  inpaint.image = image;
  const draw = $("i-draw");
  draw.width = draw.height = size;
  inpaint.mask = document.createElement("canvas");
  inpaint.mask.width = inpaint.mask.height = size;
  clearMask();
  $("i-img").src = image.url;
  $("inpaint").classList.remove("hidden");
}

function clearMask() {
  const draw = $("i-draw");
  draw.getContext("2d").clearRect(0, 0, draw.width, draw.height);
  const m = inpaint.mask.getContext("2d");
  m.fillStyle = "#000";
  m.fillRect(0, 0, inpaint.mask.width, inpaint.mask.height);
}

function stroke(e, start = false) {
  const draw = $("i-draw");
  const box = draw.getBoundingClientRect();
  const x = ((e.clientX - box.left) / box.width) * draw.width;
  const y = ((e.clientY - box.top) / box.height) * draw.height;
  const r = Math.max(0.5, Number($("i-brush").value) * (draw.width / 32));
  const [x0, y0] = start || !inpaint.last ? [x, y] : inpaint.last;
  for (const [ctx, color] of [[draw.getContext("2d"), "#ff2d55"], [inpaint.mask.getContext("2d"), "#fff"]]) {
    ctx.strokeStyle = ctx.fillStyle = color;
    ctx.lineWidth = 2 * r;
    ctx.lineCap = "round";
    ctx.beginPath();  // a line from the last point, so fast strokes have no gaps
    ctx.moveTo(x0, y0);
    ctx.lineTo(x, y);
    ctx.stroke();
    ctx.beginPath();
    ctx.arc(x, y, r, 0, 2 * Math.PI);
    ctx.fill();
  }
  inpaint.last = [x, y];
}
$("i-draw").addEventListener("pointerdown", (e) => { inpaint.drawing = true; $("i-draw").setPointerCapture(e.pointerId); stroke(e, true); });
$("i-draw").addEventListener("pointermove", (e) => { if (inpaint.drawing) stroke(e); });
$("i-draw").addEventListener("pointerup", () => { inpaint.drawing = false; inpaint.last = null; });
$("i-clear").addEventListener("click", clearMask);
$("i-cancel").addEventListener("click", () => $("inpaint").classList.add("hidden"));
$("i-go").addEventListener("click", async () => {
  try {
    // white (> 50 %) = repaint, black = keep: the mask convention of huashi paint
    const blob = await new Promise((done) => inpaint.mask.toBlob(done, "image/png"));
    const [init, mask] = [await uploadUrl(inpaint.image.url), await uploadBlob(blob)];
    $("inpaint").classList.add("hidden");
    setInit(init.id, inpaint.image.url, mask.id);
    const p = inpaint.image.parameters;
    // the form's prompt (what to paint into the hole), else the image's own
    const form = paintRequest();
    const words = {};
    for (const key of ["prompt", "negative_prompt"]) if (form[key]) words[key] = form[key];
    await paint(requestOf(p, Object.assign({ init: init.id, mask: mask.id, strength: 1, seed: (p.seed + 1000) % 2 ** 31 }, words)));
  } catch (err) { toast(err.message, true); } finally {
    clearInit();  // disarmed: the next plain Paint paints from noise again
  }
});

// --- Dropping a PNG fills the form from its parameters ------------------------------------------

let dragDepth = 0;
window.addEventListener("dragenter", (e) => { e.preventDefault(); dragDepth++; $("drop").classList.remove("hidden"); });
window.addEventListener("dragleave", () => { if (--dragDepth <= 0) { dragDepth = 0; $("drop").classList.add("hidden"); } });
window.addEventListener("dragover", (e) => e.preventDefault());
window.addEventListener("drop", async (e) => {
  e.preventDefault();
  dragDepth = 0;
  $("drop").classList.add("hidden");
  const file = e.dataTransfer.files[0];
  if (file) await fillFromFile(file).catch((err) => toast(err.message, true));
});

async function fillFromFile(file) {
  const upload = await uploadBlob(file);
  const p = upload.parameters;
  if (!p) { toast("this image carries no parameters"); return upload; }
  showTab("paint");
  // the Model field chooses the run (a run of the runs folder first, else the zoo's)
  const offered = [...$("p-run").options].map((o) => o.value);
  const model = p.model && [p.model, `zoo:${p.model}`].find((name) => offered.includes(name));
  if (model && model !== state.run) {
    $("p-run").value = model;
    await chooseRun(model);
  }
  // every field the image does not set goes back to its default: nothing of the last image stays
  const notes = [];
  const text = !!state.form && state.form.condition === "text";
  $("p-prompt").value = p.prompt || "";
  $("p-negative").value = (text && p.negative_prompt) || "";
  if (p.negative_prompt && !text) notes.push("its negative prompt is left out: this run takes no prompt");
  $("p-seed").value = p.seed ?? "";
  $("p-steps").value = p.steps ?? "";
  $("p-cfg").value = p.cfg ?? "";
  const sampler = p.sampler && [...$("p-sampler").options].some((o) => o.value === p.sampler);
  $("p-sampler").value = sampler ? p.sampler : "";
  if (p.sampler && !sampler) notes.push(`its sampler ${p.Sampler || p.sampler} is not one of huashi's: the run's is used`);
  $("p-label").value = p.label ?? "";
  $("p-truncation").value = p.truncation ?? 1;
  clearInit();
  if (p.model && !model) notes.push(`its model ${p.model} is not here: painting with ${state.run}`);
  $("p-n").value = 1;
  toast([`form filled from ${file.name || "the image"}`, ...notes].join("; "));
  return upload;
}
window.huashiFillFromFile = fillFromFile;  // for tests and scripts

// --- Train ------------------------------------------------------------------------------------

async function loadTrainForm() {
  state.families = (await api("/api/families")).filter((f) => f.makes_images && !f.paired_data);
  $("t-family").replaceChildren(...state.families.map((f) => el("option", { value: f.name }, f.name)));
  const data = await api("/api/datasets");
  $("t-data").replaceChildren(...data.map((d) => el("option", { value: d.name, title: d.description }, d.name)));
  $("d-name").replaceChildren(...data.map((d) => el("option", { value: d.name }, d.name)));
  $("t-data").value = "shapes";
  state.datasets = data;
  familyOptions();
  datasetDoc();
}

function familyOptions() {
  const family = state.families.find((f) => f.name === $("t-family").value);
  if (!family) return;
  $("t-family-doc").textContent = family.doc;
  $("t-options").replaceChildren(...family.options
    .filter((o) => ["number", "string", "boolean"].includes(typeof o.default))
    .map((o) => el("label", {}, o.name, el("input", { "data-option": o.name, "data-kind": typeof o.default, value: String(o.default) }))));
}
$("t-family").addEventListener("change", familyOptions);

$("train-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const family = state.families.find((f) => f.name === $("t-family").value);
  const model = {};
  for (const input of $("t-options").querySelectorAll("input")) {
    const option = family.options.find((o) => o.name === input.dataset.option);
    if (String(option.default) === input.value) continue;
    model[option.name] = input.dataset.kind === "number" ? Number(input.value) : input.dataset.kind === "boolean" ? input.value === "true" : input.value;
  }
  const request = {
    name: $("t-name").value.trim(), family: family.name, data: $("t-data").value,
    resolution: Number($("t-resolution").value), steps: Number($("t-steps").value) || 1,
    batch_size: Number($("t-batch").value), model,
    train: { sample_every: Number($("t-sample-every").value), log_every: Number($("t-log-every").value) },
  };
  if (Number($("t-minutes").value) > 0) { request.minutes = Number($("t-minutes").value); request.steps = 200000; }
  try {
    const job = await api("/api/train", { method: "POST", json: request });
    watchJob(job);
    loadJobs();
  } catch (err) { toast(err.message, true); }
});

function watchJob(job) {
  if (state.jobEvents) state.jobEvents.close();
  state.job = job;
  state.doctorAt = null;
  $("job").classList.remove("hidden");
  showJob(job);
  if (["queued", "running", "stopping"].includes(job.status)) {
    const events = new EventSource(`/api/jobs/${job.id}/events`);
    state.jobEvents = events;
    events.onmessage = (e) => showJob(JSON.parse(e.data));
    events.onerror = () => { if (state.job && !["queued", "running", "stopping"].includes(state.job.status)) events.close(); };
  }
}

function showJob(job) {
  state.job = job;
  $("j-title").textContent = `${job.run} · ${job.family || "resume"}`;
  const pill = $("j-status");
  pill.textContent = job.status;
  pill.className = `pill ${job.status}`;
  const active = ["queued", "running", "stopping"].includes(job.status);
  $("j-stop").classList.toggle("hidden", !active);
  $("j-resume").classList.toggle("hidden", active);
  $("j-bar").style.width = `${Math.round(100 * job.progress)}%`;
  const limit = job.max_minutes ? ` (at most ${job.max_minutes} min)` : "";
  $("j-progress").textContent = `step ${job.step} of ${job.steps}${limit}` +
    (job.status === "running" ? ` · ETA ${fmtSeconds(job.eta_seconds)}` : "") +
    (job.returncode != null && job.status === "failed" ? ` · exit ${job.returncode}` : "");
  drawLosses($("j-losses"), job.losses);
  if (job.grid) {
    if ($("j-grid").getAttribute("src") !== job.grid) $("j-grid").src = job.grid;
    $("j-grid-cap").textContent = `latest grid (step ${job.step})`;
  }
  $("j-log").textContent = job.log_tail.join("\n");
  $("j-log").scrollTop = 1e9;
  if (job.grid && job.grid !== state.doctorAt) {
    state.doctorAt = job.grid;
    loadDoctor(job.run);
  }
  if (!active) { loadJobs(); if (state.jobEvents) state.jobEvents.close(); }
  else if (!state.jobsListed || Date.now() - state.jobsListed > 5000) { state.jobsListed = Date.now(); loadJobs(); }
}

async function loadDoctor(run) {
  const list = $("j-doctor");
  try {
    const report = await api(`/api/runs/${encodeURIComponent(run)}/doctor`);
    list.replaceChildren(...(report.findings.length
      ? report.findings.map((f) => el("li", {}, el("b", {}, f.sign), ` (${f.evidence}). `, el("span", { class: "muted" }, f.remedy)))
      : [el("li", { class: "ok" }, "✓ no failure signs so far")]));
  } catch (err) {
    list.replaceChildren(el("li", { class: "muted" }, err.message));
  }
}

$("j-stop").addEventListener("click", async () => {
  try { showJob(await api(`/api/jobs/${state.job.id}/stop`, { method: "POST" })); } catch (err) { toast(err.message, true); }
});
$("j-resume").addEventListener("click", async () => {
  const steps = Math.max(state.job.steps, state.job.step + 1);
  try {
    watchJob(await api("/api/train", { method: "POST", json: { name: state.job.run, resume: true, steps } }));
    loadJobs();
  } catch (err) { toast(err.message, true); }
});

const COLORS = ["#c2410c", "#2563eb", "#15803d", "#7c3aed", "#db2777", "#0891b2"];

function drawLosses(canvas, records) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, L = 46, R = 10, T = 28, B = 26;
  ctx.clearRect(0, 0, W, H);
  ctx.font = "11px system-ui, sans-serif";
  const keys = [...new Set(records.flatMap((r) => Object.keys(r).filter((k) => k !== "step")))];
  if (!records.length || !keys.length) {
    ctx.fillStyle = "#6b7385";
    ctx.fillText("waiting for the first losses…", L, H / 2);
    return;
  }
  const values = records.flatMap((r) => keys.map((k) => r[k]).filter((v) => Number.isFinite(v)));
  let lo = Math.min(...values), hi = Math.max(...values);
  if (hi - lo < 1e-9) { hi += 0.5; lo -= 0.5; }
  const s0 = records[0].step, s1 = Math.max(records[records.length - 1].step, s0 + 1);
  const x = (s) => L + ((s - s0) / (s1 - s0)) * (W - L - R);
  const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
  ctx.strokeStyle = "#e3e6ee";
  ctx.fillStyle = "#6b7385";
  for (let i = 0; i <= 4; i++) {
    const v = lo + ((hi - lo) * i) / 4;
    ctx.beginPath(); ctx.moveTo(L, y(v)); ctx.lineTo(W - R, y(v)); ctx.stroke();
    ctx.fillText(v.toPrecision(3), 4, y(v) + 4);
  }
  ctx.fillText(`step ${s0}`, L, H - 8);
  ctx.fillText(`${s1}`, W - R - ctx.measureText(`${s1}`).width, H - 8);
  keys.forEach((key, i) => {
    ctx.strokeStyle = COLORS[i % COLORS.length];
    ctx.lineWidth = 1.6;
    ctx.beginPath();
    let started = false;
    for (const r of records) {
      if (!Number.isFinite(r[key])) continue;
      if (started) ctx.lineTo(x(r.step), y(r[key])); else { ctx.moveTo(x(r.step), y(r[key])); started = true; }
    }
    ctx.stroke();
    ctx.fillStyle = COLORS[i % COLORS.length];
    ctx.fillRect(L + i * 110, 9, 14, 3);  // the legend, above the plot
    ctx.fillText(key, L + 18 + i * 110, 14);
  });
  canvas.dataset.points = String(records.length);
}

async function loadJobs() {
  const jobs = await api("/api/jobs");
  const body = $("jobs").querySelector("tbody");
  body.replaceChildren(...jobs.map((j) => el("tr", {},
    el("td", {}, j.run), el("td", {}, j.family || "resume"),
    el("td", {}, el("span", { class: `pill ${j.status}` }, j.status)), el("td", {}, `${j.step}/${j.steps}`),
    el("td", {}, el("button", { type: "button", class: "link", onclick: () => watchJob(j) }, "show")))));
  if (!jobs.length) body.append(el("tr", {}, el("td", { colspan: 5, class: "muted" }, "No jobs yet.")));
  if (!state.job && jobs.length) watchJob(jobs[0]);
}

// --- Runs -------------------------------------------------------------------------------------

async function loadRunList() {
  const runs = await api("/api/runs");
  const box = $("run-list");
  box.replaceChildren(...runs.map((r) => {
    if (r.error) return el("div", { class: "card run-card" }, el("div", { class: "meta" }, el("span", { class: "name" }, r.name), el("span", { class: "muted" }, r.error)));
    // the FID as a floor multiple (as huashi eval prints it); other metrics raw, the raw FID labelled so
    const floors = Object.entries(r.floors || {}).map(([k, v]) => el("div", { class: "floor" }, `${k}: `, el("b", {}, v)));
    const metrics = Object.entries(r.metrics || {}).slice(0, 4).map(([k, v]) => el("div", {}, `${k.startsWith("fid ") ? "raw " : ""}${k}: `, el("b", {}, Number(v).toPrecision(4))));
    return el("div", { class: "card run-card", "data-run": r.name },
      r.grid ? el("img", { class: "pic", src: r.grid, alt: `${r.name} latest grid` }) : el("div", { class: "pic empty" }, "no grid yet"),
      el("div", { class: "meta" },
        el("span", { class: "name" }, r.name),
        el("span", {}, `${r.family} · ${r.data} · ${r.resolution}px`),
        el("span", { class: "muted" }, `step ${r.step} of ${r.steps} · ${fmtSeconds(r.train_seconds)} trained · ${new Date(r.updated * 1000).toLocaleString()}`),
        el("div", { class: "metrics" }, ...floors, ...metrics),
        r.trained && r.makes_images ? el("label", { class: "pick" }, el("input", { type: "checkbox", class: "compare-pick", value: r.name }), "compare") : "",
        r.makes_images ? "" : el("span", { class: "muted small" }, `a feature network for eval: ${r.family}:${r.name}`)),
      el("div", { class: "actions" },
        r.trained && r.makes_images ? el("button", { type: "button", onclick: async () => { showTab("paint"); $("p-run").value = r.name; await chooseRun(r.name); } }, "paint") : "",
        r.trained && r.makes_images ? el("button", { type: "button", "data-action": "eval", title: "measure it with the chosen feature network", onclick: () => evalRun(r.name) }, "eval") : "",
        el("button", { type: "button", onclick: () => trainMore(r) }, "train more")));
  }));
  if (!runs.length) box.append(el("div", { class: "empty" }, "No runs yet: start one on the Train page."));
  await loadMeasure();
}

// --- Runs: eval with a feature network, compare reports --------------------------------------------

async function loadMeasure() {
  const [nets, reports] = await Promise.all([api("/api/features"), api("/api/reports")]);
  const box = $("m-features");
  const chosen = box.value;
  box.replaceChildren(el("option", { value: "" }, "suggested (huashi eval's view)"),
    ...nets.map((n) => el("option", { value: n.run }, `${n.spec} · ${n.data} ${n.resolution}px${n.view ? ` · ${n.view} view${n.validated ? ", passes its ladder" : ""}` : ""}`)));
  if (nets.some((n) => n.run === chosen)) box.value = chosen;
  $("m-reports").replaceChildren(...(reports.length ? [el("span", { class: "muted small" }, "Reports: ")] : []),
    ...reports.slice(0, 8).map((r) => el("a", { href: r.url, target: "_blank" }, `${r.runs.join(" vs ") || r.report}`)));
}

async function measure(path, body, what) {
  const task = uid();
  body.task = task;
  const bar = $("m-bar");
  bar.style.width = "3%";
  $("m-status").textContent = `${what}…`;
  const events = follow(task, bar, $("m-status"));
  try {
    const result = await api(path, { method: "POST", json: body });
    bar.style.width = "100%";
    return result;
  } catch (err) {
    $("m-status").textContent = "";
    toast(err.message, true);
    throw err;
  } finally {
    events.close();
    setTimeout(() => { bar.style.width = "0"; }, 800);
  }
}

async function evalRun(run) {
  const features = $("m-features").value;  // empty: huashi eval's own choice of view
  const n = Number($("m-n").value) || 500;
  const body = features ? { features, n } : { n };
  const result = await measure(`/api/runs/${encodeURIComponent(run)}/eval`, body, `measuring ${run} with ${features || "the suggested view"}`).catch(() => null);
  if (!result) return;
  $("m-status").textContent = `${run}: ${n} images measured with ${result.features}${result.file ? ` (saved as ${result.file})` : ""}`;
  const out = $("m-result");
  out.replaceChildren(el("h3", {}, `eval ${run} · ${result.features}`),
    el("table", { class: "table floor-table" },
      ...result.yardsticks.map((row) => el("tr", { "data-row": row.label }, el("th", {}, row.label), el("td", { class: "value" }, row.value)))),
    el("table", { class: "table metric-table" },
      el("tr", {}, el("th", {}, "metric"), el("th", {}, "value"), el("th", {}, "what it is")),
      ...result.table.map((row) => el("tr", { "data-metric": row.name }, el("td", {}, row.label), el("td", { class: "value" }, row.value), el("td", { class: "muted" }, row.description)))),
    ...result.warnings.map((w) => el("p", { class: "note small" }, w)));
  out.classList.remove("hidden");
  await loadRunList();
}

$("m-compare").addEventListener("click", async () => {
  const runs = [...document.querySelectorAll(".compare-pick:checked")].map((c) => c.value);
  if (!runs.length) { toast("check the runs to compare", true); return; }
  const body = { runs, n: Number($("m-n").value) || 500 };
  if ($("m-features").value) body.features = $("m-features").value;
  const result = await measure("/api/compare", body, `comparing ${runs.join(", ")}`).catch(() => null);
  if (!result) return;
  $("m-status").textContent = `report of ${runs.join(", ")} written`;
  window.open(result.url, "_blank");
  await loadMeasure();
});
$("r-refresh").addEventListener("click", loadRunList);

async function trainMore(run) {
  const answer = window.prompt(`Resume ${run.name} (now at step ${run.step}) up to step:`, String(Math.max(run.steps, run.step + 1000)));
  if (!answer) return;
  try {
    const job = await api("/api/train", { method: "POST", json: { name: run.name, resume: true, steps: Number(answer) } });
    showTab("train");
    watchJob(job);
  } catch (err) { toast(err.message, true); }
}

// --- Data -------------------------------------------------------------------------------------

function datasetDoc() {
  const d = (state.datasets || []).find((x) => x.name === $("d-name").value);
  $("d-doc").textContent = d ? d.description : "";
}
$("d-name").addEventListener("change", datasetDoc);
$("data-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const name = $("d-name").value;
  $("d-summary").textContent = "rendering…";
  try {
    const preview = await api(`/api/datasets/${encodeURIComponent(name)}?resolution=${$("d-resolution").value}&n=${$("d-n").value}`);
    $("d-grid").src = `${preview.grid}&v=${Date.now()}`;
    $("d-grid").classList.remove("hidden");
    $("d-summary").textContent = preview.summary;
  } catch (err) { $("d-summary").textContent = err.message; }
});

// --- Latents: a walk between two seeds, inversion of an upload, dragging points ----------------

const latents = { run: null, form: null, walk: [], latent: null, resolution: 16, points: [], pending: null };

async function loadLatents() {
  const [mine, zoo] = await Promise.all([api("/api/runs"), api("/api/zoo")]);
  const runs = [...mine, ...zoo.painters.map((p) => Object.assign({ trained: true }, p))].filter((r) => r.trained && r.latent);
  const box = $("l-run");
  box.replaceChildren(...runs.map((r) => el("option", { value: r.name }, `${r.name} · ${r.family}`)));
  if (!runs.length) {
    box.append(el("option", { value: "" }, "no trained run with a latent space"));
    return;
  }
  const want = runs.some((r) => r.name === latents.run) ? latents.run : runs[0].name;
  box.value = want;
  if (want !== latents.run || !latents.form) await chooseLatentRun(want);
}

async function chooseLatentRun(name) {
  const info = await api(`/api/runs/${encodeURIComponent(name)}`);
  if ($("l-run").value !== name) return; // another run was chosen meanwhile
  Object.assign(latents, { run: name, form: info.form, walk: [], latent: null, points: [], pending: null });
  const spaces = (info.form && info.form.latent_spaces) || [];
  const mapping = spaces.includes("w");
  document.querySelectorAll(".only-mapping").forEach((n) => n.classList.toggle("hidden", !mapping));
  $("l-space").replaceChildren(...spaces.map((s) => el("option", { value: s }, s)));
  $("l-space").value = mapping ? "w+" : "z";
  $("l-note").textContent = mapping
    ? "StyleGAN: the walk is a straight line in w; invert in z, w or w+; drag points of an inverted image."
    : "The walk is a great circle (slerp) in z; inversion works in z (dragging needs a StyleGAN run).";
  latents.resolution = (info.form && info.form.resolution) || 16;
  for (const id of ["l-walk-img", "l-slider", "l-drag"]) $(id).classList.add("hidden");
  $("l-t").textContent = "";
}

function showWalk(index) {
  const image = latents.walk[index];
  if (!image) return;
  $("l-walk-img").src = image.url;
  $("l-t").textContent = `t = ${(index / Math.max(1, latents.walk.length - 1)).toFixed(2)}`;
}

async function walkLatents() {
  if (!latents.run) return;
  const body = { run: latents.run, seed_a: Number($("l-seed-a").value), seed_b: Number($("l-seed-b").value),
    steps: Number($("l-steps").value) };
  if (latents.form && latents.form.truncation) body.truncation = Number($("l-truncation").value);
  $("l-go").disabled = true;
  try {
    const out = await api("/api/latents/walk", { method: "POST", json: body });
    latents.walk = out.images;
    const slider = $("l-slider");
    slider.max = String(out.images.length - 1);
    slider.value = "0";
    slider.classList.remove("hidden");
    $("l-walk-img").classList.remove("hidden");
    showWalk(0);
  } catch (err) {
    toast(err.message, true);
  } finally {
    $("l-go").disabled = false;
  }
}

async function invertUpload() {
  const file = $("l-file").files[0];
  if (!file || !latents.run) return toast("choose an image file to invert first.", true);
  const task = uid();
  $("l-invert").disabled = true;
  $("l-status").textContent = "inverting…";
  try {
    const upload = await uploadBlob(file);
    follow(task, $("l-bar"), $("l-status"));
    const out = await api("/api/latents/invert", { method: "POST",
      json: { run: latents.run, upload: upload.id, space: $("l-space").value, steps: Number($("l-inv-steps").value), task } });
    latents.latent = out.latent;
    latents.points = [];
    latents.pending = null;
    $("l-inv-img").src = out.image.url;
    $("l-status").textContent = `inverted in ${out.space} · PSNR ${out.psnr.toFixed(1)} dB`;
    $("l-drag").classList.toggle("hidden", !(latents.form.latent_spaces || []).includes("w+"));
    drawPoints();
  } catch (err) {
    toast(err.message, true);
    $("l-status").textContent = "";
  } finally {
    $("l-invert").disabled = false;
  }
}

function drawPoints() {
  const canvas = $("l-points");
  const ctx = canvas.getContext("2d");
  const scale = canvas.width / latents.resolution;
  const at = (v) => (v + 0.5) * scale;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const dot = (x, y, color) => { ctx.fillStyle = color; ctx.beginPath(); ctx.arc(at(x), at(y), 6, 0, 2 * Math.PI); ctx.fill(); };
  for (const [hx, hy, tx, ty] of latents.points) {
    ctx.strokeStyle = "white";
    ctx.lineWidth = 2;
    ctx.beginPath(); ctx.moveTo(at(hx), at(hy)); ctx.lineTo(at(tx), at(ty)); ctx.stroke();
    dot(hx, hy, "#dc2626");
    dot(tx, ty, "#2563eb");
  }
  if (latents.pending) dot(latents.pending[0], latents.pending[1], "#dc2626");
}

function placePoint(e) {
  const canvas = $("l-points");
  const box = canvas.getBoundingClientRect();
  const size = latents.resolution;
  const x = Math.min(size - 1, Math.max(0, Math.floor(((e.clientX - box.left) / box.width) * size)));
  const y = Math.min(size - 1, Math.max(0, Math.floor(((e.clientY - box.top) / box.height) * size)));
  if (latents.pending) {
    latents.points.push([...latents.pending, x, y]);
    latents.pending = null;
  } else {
    latents.pending = [x, y];
  }
  drawPoints();
}

async function dragPoints() {
  if (!latents.latent || !latents.points.length) return toast("click a handle point, then its target.", true);
  const task = uid();
  $("l-drag-go").disabled = true;
  follow(task, $("l-bar"), $("l-drag-status"));
  try {
    const out = await api("/api/latents/drag", { method: "POST",
      json: { run: latents.run, latent: latents.latent, points: latents.points, steps: Number($("l-drag-steps").value), task } });
    latents.latent = out.latent;
    latents.points = [];
    $("l-inv-img").src = out.image.url;
    $("l-drag-status").textContent = `dragged in ${out.steps} steps · handles now ${out.handles.map((h) => h.map(Math.round).join(",")).join("  ")}`;
    drawPoints();
  } catch (err) {
    toast(err.message, true);
  } finally {
    $("l-drag-go").disabled = false;
  }
}

$("l-run").addEventListener("change", (e) => chooseLatentRun(e.target.value).catch((err) => toast(err.message, true)));
$("latents-form").addEventListener("submit", (e) => { e.preventDefault(); walkLatents(); });
$("l-slider").addEventListener("input", (e) => showWalk(Number(e.target.value)));
$("l-truncation").addEventListener("input", (e) => { $("l-truncation-out").textContent = e.target.value; });
$("l-truncation").addEventListener("change", () => { if (latents.walk.length) walkLatents(); });
$("l-invert").addEventListener("click", invertUpload);
$("l-points").addEventListener("click", placePoint);
$("l-clear-points").addEventListener("click", () => { latents.points = []; latents.pending = null; drawPoints(); });
$("l-drag-go").addEventListener("click", dragPoints);

// --- start --------------------------------------------------------------------------------------

(async function start() {
  try {
    await Promise.all([loadRuns(), loadTrainForm()]);
    document.body.dataset.ready = "1";
  } catch (err) {
    toast(err.message, true);
  }
})();
