// Yoto Smart Stream dashboard: plain DOM, no build step.
// Every value from the API is rendered with textContent or as an attribute set through the DOM,
// never through innerHTML, so data cannot inject markup.
"use strict";

// Paths are relative to the page, so the same files work at the site root (CloudFront) and
// under an API Gateway stage prefix such as /pr-42/.
const apiUrl = (path) => new URL(path, document.baseURI).toString();

class ApiError extends Error {
  constructor(message, status, detail = "") {
    super(message);
    this.status = status;
    this.detail = detail;
  }
}

/* ---------- plain-language errors ---------- */

// What the API says is shown only when it reads as a plain sentence: no paths, status codes,
// file-type names or setting names. Otherwise a sentence chosen by the kind of failure.
const JARGON = /\/api\/|\bHTTP\b|\barray\b|cardId|offline_access|\b(audio|video|application|text|image)\/[\w.+-]+|JSON|\b[A-Z]+_[A-Z_]+\b|\{|\bnull\b/;

function isPlain(sentence) {
  return typeof sentence === "string" && sentence.length > 0 && sentence.length < 300 && !JARGON.test(sentence);
}

const FALLBACKS = {
  0: "We can't reach the server. Check your connection and try again.",
  400: "That didn't work. Please try again.",
  403: "Only an admin can do this. Ask an admin in your family.",
  404: "That item isn't there any more. The list has been refreshed.",
  409: "That can't be done right now.",
  413: "That file is too big. The limit is 200 MB.",
  415: "That kind of file isn't supported. Upload an MP3.",
  422: "Some details aren't right. Check the form and try again.",
  429: "Too many tries. Wait a few minutes and try again.",
  502: "Yoto sent an answer we couldn't read. Try again in a minute.",
  503: "Yoto or the storage isn't answering right now. Try again in a minute.",
  504: "Yoto or the storage isn't answering right now. Try again in a minute.",
};

function plainMessage(status, detail, fallback) {
  if (isPlain(detail)) return detail;
  return fallback ?? FALLBACKS[status] ?? "Something went wrong on our side. Please try again.";
}

async function api(method, path, payload) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (payload !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(payload);
  }
  let response;
  try {
    response = await fetch(apiUrl(path), init);
  } catch {
    throw new ApiError(FALLBACKS[0], 0);
  }
  const text = await response.text();
  let body = null;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
  }
  if (!response.ok) {
    // Validation errors come as a list of field problems: never shown raw.
    const detail = typeof body?.detail === "string" ? body.detail : "";
    throw new ApiError(plainMessage(response.status, detail), response.status, detail);
  }
  return body;
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node && !key.startsWith("aria-")) node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const $ = (id) => document.getElementById(id);

function show(node, visible) {
  node.hidden = !visible;
}

function button(label, onclick, kind = "secondary", props = {}) {
  return el("button", { type: "button", className: `button ${kind}`, onclick, ...props }, label);
}

function setStatus(id, message, isError = false) {
  const node = $(id);
  node.textContent = message;
  node.classList.toggle("error", isError);
  node.setAttribute("role", isError ? "alert" : "status");
}

// A 401 anywhere means the session ended: go back to the sign-in form.
function handleFailure(statusId, error) {
  if (error instanceof ApiError && error.status === 401) {
    showLogin("You've been signed out. Please sign in again.");
    return;
  }
  setStatus(statusId, error.message, true);
}

function formatBytes(size) {
  const n = Number(size);
  if (!Number.isFinite(n)) return "";
  if (n < 1024) return `${n} bytes`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

// File kinds in words (the API speaks MIME types; people don't).
const FORMAT_NAMES = {
  "audio/mpeg": "MP3",
  "audio/mp4": "M4A",
  "audio/aac": "AAC",
  "audio/ogg": "OGG",
  "audio/wav": "WAV",
};
const CARD_FORMAT = "audio/mpeg";

function formatName(contentType) {
  return FORMAT_NAMES[contentType] ?? "Audio";
}

// "7:31 pm" in the viewer's own time zone; earlier days get their date in front.
function clockTime(date) {
  const hours = date.getHours();
  const minutes = String(date.getMinutes()).padStart(2, "0");
  return `${hours % 12 || 12}:${minutes} ${hours < 12 ? "am" : "pm"}`;
}

function friendlyTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const today = new Date();
  const sameDay = date.toDateString() === today.toDateString();
  const day = date.toLocaleDateString(undefined, { weekday: "short", day: "numeric", month: "short" });
  return sameDay ? clockTime(date) : `${day}, ${clockTime(date)}`;
}

// Only http(s) links from the API become clickable.
function safeHttpUrl(value) {
  if (typeof value !== "string" || !value) return null;
  try {
    const url = new URL(String(value), document.baseURI);
    return url.protocol === "https:" || url.protocol === "http:" ? url.toString() : null;
  } catch {
    return null;
  }
}

/* ---------- session ---------- */

let currentUser = null;

function isAdmin() {
  return currentUser?.role === "admin";
}

function showLogin(message) {
  for (const view of Object.keys(loaders)) show($(`${view}-view`), false);
  show($("tabs"), false);
  show($("session-bar"), false);
  show($("login-view"), true);
  const error = $("login-error");
  error.textContent = message ?? "";
  show(error, Boolean(message));
  $("login-username").focus();
}

function showApp(session) {
  currentUser = { username: session.username, role: session.role };
  $("session-user").textContent = currentUser.username;
  for (const node of document.querySelectorAll("[data-admin-only]")) show(node, isAdmin());
  for (const node of document.querySelectorAll("[data-user-only]")) show(node, !isAdmin());
  setGlobalError("");
  show($("login-view"), false);
  show($("session-bar"), true);
  show($("tabs"), true);
  selectView(viewFromHash());
}

async function checkSession() {
  try {
    showApp(await api("GET", "api/user/session"));
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) showLogin();
    else showLogin(error.message);
  }
}

async function login(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const submit = $("login-submit");
  submit.disabled = true;
  show($("login-error"), false);
  try {
    await api("POST", "api/user/login", {
      username: form.username.value.trim(),
      password: form.password.value,
    });
  } catch (error) {
    showLogin(error.status === 422 ? "Enter your username and password." : error.message);
    submit.disabled = false;
    return;
  }
  form.password.value = "";
  try {
    // Ask the server who we are: proves the session cookie was stored and is sent back.
    showApp(await api("GET", "api/user/session"));
  } catch (error) {
    showLogin(
      error instanceof ApiError && error.status === 401
        ? "You were signed in, but this browser did not keep the sign-in. Allow cookies for this site and try again."
        : error.message,
    );
  } finally {
    submit.disabled = false;
  }
}

async function logout() {
  try {
    await api("POST", "api/user/logout");
  } catch (error) {
    setGlobalError(error.message);
  }
  currentUser = null;
  showLogin();
}

function setGlobalError(message) {
  const node = $("global-error");
  node.textContent = message;
  show(node, Boolean(message));
}

/* ---------- navigation ---------- */

const loaders = {
  players: loadPlayers,
  library: loadLibrary,
  cards: loadCards,
  account: loadLinkStatus,
  users: loadUsers,
};

function viewFromHash() {
  const name = location.hash.replace(/^#/, "");
  if (name === "users" && !isAdmin()) return "players";
  return name in loaders ? name : "players";
}

function selectView(name) {
  clearTimeout(pollTimer);
  for (const link of document.querySelectorAll("#tabs [data-view]")) {
    if (link.dataset.view === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  for (const view of Object.keys(loaders)) show($(`${view}-view`), view === name);
  loaders[name]();
}

/* ---------- players ---------- */

const PLAYBACK_WORDS = { playing: "Playing", paused: "Paused", stopped: "Stopped" };

async function loadPlayers() {
  const list = $("players-list");
  // Old cards go at once: stale state must never look current.
  list.replaceChildren();
  setStatus("players-status", "Loading players…");
  try {
    const players = await api("GET", "api/players");
    list.replaceChildren(...players.map(renderPlayer));
    setStatus("players-status", players.length ? "" : "There are no players on the family's Yoto account yet.");
  } catch (error) {
    if (error instanceof ApiError && error.status === 409 && /linked|link the Yoto account/i.test(error.detail)) {
      setStatus("players-status", "No Yoto account is linked yet.", true);
      $("players-status").append(" ", el("a", { href: "#account", className: "button secondary notice-action" }, "Go to “Yoto account”"));
      return;
    }
    handleFailure("players-status", error);
  }
}

function nowPlaying(player) {
  if (player.online === false) return { word: "Offline", detail: "" };
  const word = PLAYBACK_WORDS[player.playback] ?? (player.card_id ? "Card in" : "Not playing anything we know of");
  const what = player.card_title ?? player.track_title ?? "";
  const extra = player.card_title && player.track_title ? ` – ${player.track_title}` : "";
  return { word, detail: what ? `${what}${extra}` : "" };
}

function renderPlayer(player) {
  const id = player.id;
  const name = player.name ?? "Unnamed player"; // the API leaves the name out when Yoto does
  const offline = player.online === false;
  const slug = `player-${id}`;
  const feedback = el("p", { className: "feedback", role: "status", id: `${slug}-feedback` });
  const state = nowPlaying(player);

  const volumeValue = el("output", { className: "volume-value", id: `${slug}-volume-value` }, player.volume ?? "–");
  const volume = el("input", {
    type: "range",
    min: "0",
    max: "100",
    step: "5",
    value: String(player.volume ?? 50),
    id: `${slug}-volume`,
    disabled: offline,
    "aria-valuetext": player.volume === null || player.volume === undefined ? "not known" : `${player.volume} percent`,
  });
  volumeValue.setAttribute("for", volume.id);
  volume.addEventListener("input", () => {
    volumeValue.textContent = volume.value;
    volume.setAttribute("aria-valuetext", `${volume.value} percent`);
  });
  volume.addEventListener("change", () =>
    sendControl(card, player, { action: "volume", volume: Number(volume.value) }, `Volume set to ${volume.value}.`),
  );

  const control = (label, action, done, kind = "secondary") =>
    button(label, () => sendControl(card, player, { action }, done), kind, {
      disabled: offline,
      "aria-describedby": feedback.id,
    });

  const facts = [];
  if (player.battery_percent !== null && player.battery_percent !== undefined) {
    facts.push(`Battery ${player.battery_percent}%${player.charging ? " (charging)" : ""}`);
  }
  if (!player.status_available) facts.push("Yoto didn't send this player's details just now.");
  if (player.heard_at) facts.push(`Last heard from ${friendlyTime(player.heard_at)}`);

  const activity = el("ol", { className: "activity", id: `${slug}-activity`, hidden: true });
  const more = button("Older activity", null, "secondary", { hidden: true });
  const toggle = button("Recent activity", null, "secondary", { "aria-expanded": "false", "aria-controls": activity.id });
  toggle.onclick = () => toggleActivity(player, toggle, activity, more);

  const card = el(
    "li",
    { className: "player", dataset: { playerId: id } },
    el(
      "div",
      { className: "player-top" },
      el("h2", {}, name),
      el("span", { className: `badge ${offline ? "offline" : "online"}` }, offline ? "Offline" : "Online"),
    ),
    el(
      "p",
      { className: "now-playing" },
      el("strong", { className: "playback" }, state.word),
      state.detail ? el("span", { className: "playing-what" }, state.detail) : null,
    ),
    facts.length ? el("p", { className: "facts" }, facts.join(" · ")) : null,
    offline ? el("p", { className: "offline-note" }, "Controls come back when the player is switched on and online.") : null,
    el(
      "div",
      { className: "actions" },
      // The likely next tap is the prominent one: Pause while playing, Play otherwise.
      control("Play", "play", "Play sent.", player.playback === "playing" ? "secondary" : "primary"),
      control("Pause", "pause", "Pause sent.", player.playback === "playing" ? "primary" : "secondary"),
      control("Stop", "stop", "Stop sent."),
    ),
    el("div", { className: "volume-row" }, el("label", { htmlFor: volume.id }, "Volume"), volume, volumeValue),
    feedback,
    el("div", { className: "actions" }, toggle),
    activity,
    more,
  );
  return card;
}

// Feedback goes on the player's own card; afterwards the card is redrawn from fresh state.
async function sendControl(card, player, command, done) {
  const feedback = card.querySelector(".feedback");
  feedback.className = "feedback";
  feedback.textContent = "Sending…";
  for (const b of card.querySelectorAll("button, input")) b.disabled = true;
  try {
    await api("POST", `api/players/${encodeURIComponent(player.id)}/control`, command);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return handleFailure("players-status", error);
    feedback.className = "feedback error";
    feedback.textContent = error.message;
    for (const b of card.querySelectorAll("button, input")) b.disabled = player.online === false;
    return;
  }
  let fresh = card;
  try {
    fresh = renderPlayer(await api("GET", `api/players/${encodeURIComponent(player.id)}`));
    card.replaceWith(fresh);
  } catch {
    for (const b of card.querySelectorAll("button, input")) b.disabled = false;
  }
  const note = fresh.querySelector(".feedback");
  note.className = "feedback ok";
  note.textContent = `${done} The player shows the change in a moment.`;
}

// One line per event, e.g. "7:31 pm – Paused, “The Gruffalo”, volume 35".
function describeEvent(event) {
  const data = event.data ?? {};
  const parts = [];
  if (event.kind === "response") return "Answered a command";
  const playback = typeof data.playbackStatus === "string" ? data.playbackStatus.toLowerCase() : "";
  if (PLAYBACK_WORDS[playback]) parts.push(PLAYBACK_WORDS[playback]);
  if (typeof data.trackTitle === "string" && data.trackTitle) parts.push(`“${data.trackTitle}”`);
  if (typeof data.volume === "number") parts.push(`volume ${data.volume}`);
  for (const key of ["batteryLevel", "batteryLevelPercentage"]) {
    if (typeof data[key] === "number") parts.push(`battery ${data[key]}%`);
  }
  if (!parts.length) return event.kind === "status" ? "Status update" : "Activity";
  const sentence = parts.join(", ");
  return sentence.charAt(0).toUpperCase() + sentence.slice(1);
}

async function toggleActivity(player, toggle, list, more, cursor = null) {
  if (!cursor && !list.hidden) {
    show(list, false);
    show(more, false);
    toggle.setAttribute("aria-expanded", "false");
    return;
  }
  if (!cursor) list.replaceChildren(el("li", {}, "Loading activity…"));
  show(list, true);
  toggle.setAttribute("aria-expanded", "true");
  const query = cursor ? `?cursor=${encodeURIComponent(cursor)}` : "";
  try {
    const body = await api("GET", `api/players/${encodeURIComponent(player.id)}/events${query}`);
    const rows = body.items.map((e) => el("li", {}, `${friendlyTime(e.event_utc)} – ${describeEvent(e)}`));
    if (cursor) list.append(...rows);
    else list.replaceChildren(...(rows.length ? rows : [el("li", {}, "Nothing yet. Activity appears here while the player is in use.")]));
    show(more, Boolean(body.next_cursor));
    more.onclick = () => toggleActivity(player, toggle, list, more, body.next_cursor);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return handleFailure("players-status", error);
    list.replaceChildren(el("li", { className: "field-error" }, error.message));
    show(more, false);
  }
}

/* ---------- library ---------- */

// Files picked in this page, by audio id, so a failed upload can be retried without choosing
// the file again.
const pickedFiles = new Map();
let libraryItems = [];

async function loadLibrary() {
  const rows = $("library-rows");
  rows.replaceChildren();
  setStatus("library-status", "Loading the library…");
  try {
    libraryItems = await api("GET", "api/audio");
    rows.replaceChildren(...libraryItems.map(renderAudio));
    setStatus("library-status", libraryItems.length ? "" : "The library is empty. Add an MP3 above.");
  } catch (error) {
    handleFailure("library-status", error);
  }
}

function renderAudio(item) {
  const id = item.audio_id;
  const streamUrl = safeHttpUrl(item.stream_url);
  const ready = item.status === "ready";
  const meta = [formatName(item.content_type), formatBytes(item.size_bytes)].filter(Boolean).join(" · ");
  const actions = el("div", { className: "actions" });
  let problem = null;
  if (ready) {
    if (streamUrl) actions.append(el("a", { href: streamUrl, target: "_blank", rel: "noopener noreferrer", className: "button secondary" }, "Listen"));
    actions.append(button("Delete", () => deleteAudio(id, item.title), "destructive", { "aria-label": `Delete ${item.title}` }));
  } else {
    problem = el("p", { className: "row-problem" }, "This upload didn't finish, so it can't be played yet. Try again, or remove it.");
    actions.append(
      button("Retry", () => retryUpload(item), "primary", { "aria-label": `Retry uploading ${item.title}` }),
      button("Remove", () => deleteAudio(id, item.title, false), "destructive", { "aria-label": `Remove ${item.title}` }),
    );
  }
  return el(
    "li",
    { className: ready ? "row" : "row failed", dataset: { audioId: id } },
    el(
      "div",
      { className: "row-main" },
      el("span", { className: "row-title" }, item.title),
      el("span", { className: "row-meta" }, meta),
      ready && item.content_type !== CARD_FORMAT
        ? el("span", { className: "row-label" }, "Can't go on a card: only MP3 files play on a card.")
        : null,
      problem,
    ),
    actions,
  );
}

async function deleteAudio(id, title, ask = true) {
  if (ask && !window.confirm(`Delete “${title}” from the library? Cards that use it will stop playing it.`)) return;
  try {
    await api("DELETE", `api/audio/${encodeURIComponent(id)}`);
    pickedFiles.delete(id);
    await loadLibrary();
    setStatus("library-status", `Removed “${title}”.`);
  } catch (error) {
    handleFailure("library-status", error);
  }
}

function isMp3(file) {
  return file.type === CARD_FORMAT || /\.mp3$/i.test(file.name);
}

function fieldError(input, errorNode, message) {
  errorNode.textContent = message;
  show(errorNode, Boolean(message));
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

async function upload(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const file = form.file.files[0];
  const title = form.title.value.trim();
  fieldError(form.file, $("upload-file-error"), "");
  if (!title) {
    setStatus("library-status", "Give the audio a title.", true);
    form.title.focus();
    return;
  }
  if (!file) {
    fieldError(form.file, $("upload-file-error"), "Choose an MP3 file.");
    form.file.focus();
    return;
  }
  // Stopped before anything is sent: a player streams only MP3.
  if (!isMp3(file)) {
    fieldError(form.file, $("upload-file-error"), "This isn't an MP3 file. Only MP3 files play on a Yoto card: convert it to MP3 first.");
    form.file.focus();
    return;
  }
  if (await sendFile(file, title)) form.reset();
}

function setProgress(percent, text) {
  show($("upload-progress-row"), percent !== null);
  $("upload-progress").value = percent ?? 0;
  $("upload-progress-text").textContent = text ?? "";
}

// PUT with progress events (fetch has none for uploads).
function putWithProgress(url, method, headers, file) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open(method, url);
    for (const [name, value] of Object.entries(headers ?? {})) request.setRequestHeader(name, value);
    request.upload.onprogress = (e) => {
      if (e.lengthComputable) {
        const percent = Math.round((e.loaded / e.total) * 100);
        setProgress(percent, `${percent}%`);
      }
    };
    request.onload = () => (request.status >= 200 && request.status < 300 ? resolve() : reject(new Error("refused")));
    request.onerror = () => reject(new Error("unreachable"));
    request.send(file);
  });
}

async function sendFile(file, title) {
  const submit = $("upload-submit");
  submit.disabled = true;
  setStatus("library-status", `Uploading “${title}”…`);
  setProgress(0, "0%");
  let audioId = null;
  try {
    // The API hands out a presigned storage address: the bytes go straight there.
    const grant = await api("POST", "api/audio/uploads", {
      filename: file.name,
      content_type: CARD_FORMAT,
      size_bytes: file.size,
      title,
    });
    audioId = grant.audio_id;
    pickedFiles.set(audioId, { file, title });
    try {
      await putWithProgress(grant.upload_url, grant.method, grant.headers, file);
    } catch {
      throw new ApiError("The file didn't reach storage. Check your connection, then press Retry on the row below.", 0);
    }
    // Tells the API the bytes are stored; it checks the file and marks the audio ready.
    await api("POST", `api/audio/${encodeURIComponent(audioId)}/complete`);
    pickedFiles.delete(audioId);
    await loadLibrary();
    setStatus("library-status", `Added “${title}”. It can now go on a card.`);
    return true;
  } catch (error) {
    await loadLibrary();
    handleFailure("library-status", error);
    return false;
  } finally {
    setProgress(null);
    submit.disabled = false;
  }
}

async function retryUpload(item) {
  const picked = pickedFiles.get(item.audio_id);
  if (!picked) {
    // The file isn't in this page any more (reloaded): ask for it again, keeping the title.
    $("upload-title").value = item.title;
    setStatus("library-status", `Choose the file for “${item.title}” again, then press Upload. Remove the unfinished row afterwards.`);
    $("upload-file").focus();
    return;
  }
  try {
    await api("DELETE", `api/audio/${encodeURIComponent(item.audio_id)}`);
  } catch (error) {
    handleFailure("library-status", error);
    return;
  }
  pickedFiles.delete(item.audio_id);
  await sendFile(picked.file, picked.title);
}

/* ---------- cards ---------- */

let playable = []; // ready MP3s, the only audio a card can stream
let chosen = []; // audio ids in play order
let editingCardId = null;

async function loadCards() {
  const rows = $("cards-rows");
  rows.replaceChildren();
  setStatus("cards-status", "Loading cards…");
  try {
    const [cards, library] = await Promise.all([api("GET", "api/cards/streaming"), api("GET", "api/audio")]);
    libraryItems = library;
    playable = library.filter((a) => a.status === "ready" && a.content_type === CARD_FORMAT);
    chosen = chosen.filter((id) => playable.some((a) => a.audio_id === id));
    renderEditor();
    rows.replaceChildren(...cards.map(renderCard));
    setStatus("cards-status", cards.length ? "" : "No streaming cards yet. Make one above.");
  } catch (error) {
    handleFailure("cards-status", error);
  }
}

function titleOf(audioId) {
  return libraryItems.find((a) => a.audio_id === audioId)?.title ?? "A track that is no longer in the library";
}

function renderEditor() {
  const list = $("card-chosen");
  list.replaceChildren(
    ...chosen.map((id, index) => {
      const name = titleOf(id);
      const move = (delta) => () => {
        const [moved] = chosen.splice(index, 1);
        chosen.splice(index + delta, 0, moved);
        renderEditor();
        list.children[index + delta]?.querySelector(delta < 0 ? ".move-up" : ".move-down")?.focus();
      };
      return el(
        "li",
        { dataset: { audioId: id } },
        el("span", { className: "track-name" }, `${index + 1}. ${name}`),
        el(
          "span",
          { className: "actions" },
          button("↑", move(-1), "secondary move-up", { disabled: index === 0, "aria-label": `Move ${name} up` }),
          button("↓", move(1), "secondary move-down", { disabled: index === chosen.length - 1, "aria-label": `Move ${name} down` }),
          button("Remove", () => {
            chosen.splice(index, 1);
            renderEditor();
          }, "destructive", { "aria-label": `Remove ${name} from the card` }),
        ),
      );
    }),
  );
  show($("card-chosen-empty"), chosen.length === 0);
  const available = playable.filter((a) => !chosen.includes(a.audio_id));
  const unplayable = libraryItems.filter((a) => a.status === "ready" && a.content_type !== CARD_FORMAT).length;
  $("card-available").replaceChildren(
    ...available.map((a) =>
      el(
        "li",
        { dataset: { audioId: a.audio_id } },
        el("span", { className: "track-name" }, a.title),
        button("Add", () => {
          chosen.push(a.audio_id);
          renderEditor();
        }, "secondary", { "aria-label": `Add ${a.title}` }),
      ),
    ),
    ...(playable.length ? [] : [el("li", {}, el("span", { className: "track-name" }, "Add an MP3 to the library first."))]),
    ...(unplayable
      ? [
          el(
            "li",
            {},
            el(
              "span",
              { className: "track-name hint" },
              unplayable === 1
                ? "1 file in the library isn't MP3, so it can't go on a card."
                : `${unplayable} files in the library aren't MP3, so they can't go on a card.`,
            ),
          ),
        ]
      : []),
  );
}

function renderCard(card) {
  const id = card.card_id;
  return el(
    "li",
    { className: "row", dataset: { cardId: id } },
    el(
      "div",
      { className: "row-main" },
      el("span", { className: "row-title" }, card.title),
      el("span", { className: "row-meta" }, `${card.audio_ids.length} track${card.audio_ids.length === 1 ? "" : "s"} · in the Yoto app under Library → Make Your Own`),
      el("ol", { className: "track-list" }, ...card.audio_ids.map((a) => el("li", {}, titleOf(a)))),
    ),
    el(
      "div",
      { className: "actions" },
      button("Edit", () => editCard(card), "secondary", { "aria-label": `Edit ${card.title}` }),
      button("Delete", () => deleteCard(id, card.title), "destructive", { "aria-label": `Delete ${card.title}` }),
    ),
  );
}

function editCard(card) {
  editingCardId = card.card_id;
  chosen = card.audio_ids.filter((id) => playable.some((a) => a.audio_id === id));
  $("card-title").value = card.title;
  $("card-form-heading").textContent = `Edit “${card.title}”`;
  $("card-submit").textContent = "Save changes";
  show($("card-cancel"), true);
  renderEditor();
  $("card-title").focus();
}

function resetEditor() {
  editingCardId = null;
  chosen = [];
  $("card-form").reset();
  $("card-form-heading").textContent = "New card";
  $("card-submit").textContent = "Create card";
  show($("card-cancel"), false);
  show($("card-form-error"), false);
  renderEditor();
}

async function saveCard(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const error = $("card-form-error");
  const title = form.title.value.trim();
  const problem = !title ? "Give the card a title." : !chosen.length ? "Add at least one track." : "";
  error.textContent = problem;
  show(error, Boolean(problem));
  if (problem) return;
  const submit = $("card-submit");
  submit.disabled = true;
  const editing = editingCardId;
  setStatus("cards-status", editing ? "Saving the card…" : "Creating the card…");
  try {
    const body = { title, audio_ids: [...chosen] };
    if (editing) await api("PUT", `api/cards/streaming/${encodeURIComponent(editing)}`, body);
    else await api("POST", "api/cards/streaming", body);
    resetEditor();
    await loadCards();
    setStatus(
      "cards-status",
      editing
        ? `Saved “${title}”. The Yoto app shows the new tracks next time it refreshes.`
        : `Created “${title}”. Find it in the Yoto app under Library → Make Your Own.`,
    );
  } catch (failure) {
    handleFailure("cards-status", failure);
  } finally {
    submit.disabled = false;
  }
}

async function deleteCard(id, title) {
  if (!window.confirm(`Delete the card “${title}”? It is removed from the Yoto app too.`)) return;
  try {
    await api("DELETE", `api/cards/streaming/${encodeURIComponent(id)}`);
    if (editingCardId === id) resetEditor();
    await loadCards();
    setStatus("cards-status", `Deleted “${title}”.`);
  } catch (error) {
    handleFailure("cards-status", error);
  }
}

/* ---------- Yoto account (device-code flow) ---------- */

let pollTimer = null;
let pollIntervalSeconds = 5;

function showAccountState(state) {
  show($("account-not-linked"), state === "not_linked");
  show($("account-waiting"), state === "waiting" || state === "waiting-code");
  // With a code on screen the admin can finish; after a reload only "start again" helps.
  show($("auth-code-block"), state === "waiting-code" && isAdmin());
  show($("auth-restart-hint"), state === "waiting" && isAdmin());
  show($("account-linked"), state === "linked");
}

async function loadLinkStatus() {
  clearTimeout(pollTimer);
  showAccountState(null);
  setStatus("account-status", "Checking the Yoto account…");
  try {
    const { state } = await api("GET", "api/auth/status");
    showAccountState(state);
    setStatus("account-status", "");
  } catch (error) {
    handleFailure("account-status", error);
  }
}

async function startAuth() {
  clearTimeout(pollTimer);
  setStatus("account-status", "Asking Yoto for a code…");
  try {
    const start = await api("POST", "api/auth/start");
    const link = $("auth-link");
    // The complete address carries the code; Yoto may not send one.
    const target = safeHttpUrl(start.verification_uri_complete ?? start.verification_uri);
    if (target) link.href = target;
    else link.removeAttribute("href");
    $("auth-code").textContent = start.user_code;
    pollIntervalSeconds = Number(start.interval) > 0 ? Number(start.interval) : 5;
    showAccountState("waiting-code");
    setStatus("account-status", "Waiting for you to enter the code on Yoto's page…");
    pollTimer = setTimeout(pollAuth, pollIntervalSeconds * 1000);
  } catch (error) {
    handleFailure("account-status", error);
  }
}

// One non-blocking attempt per call; the API says when to try again (interval, in seconds).
async function pollAuth() {
  clearTimeout(pollTimer);
  let result;
  try {
    result = await api("POST", "api/auth/poll");
  } catch (error) {
    if (error instanceof ApiError && error.status === 409) {
      showAccountState("not_linked");
      setStatus("account-status", "That code is no longer waiting. Start linking again.", true);
      return;
    }
    handleFailure("account-status", error);
    return;
  }
  if (result.status === "authorization_pending" || result.status === "slow_down") {
    if (Number(result.interval) > 0) pollIntervalSeconds = Number(result.interval);
    pollTimer = setTimeout(pollAuth, pollIntervalSeconds * 1000);
    setStatus("account-status", "Waiting for you to enter the code on Yoto's page…");
    return;
  }
  if (result.status === "linked") {
    showAccountState("linked");
    setStatus("account-status", "");
    return;
  }
  showAccountState("not_linked");
  setStatus(
    "account-status",
    result.status === "denied" ? "Yoto says the link was declined. Start again if that was a mistake." : "The code ran out of time. Start linking again.",
    true,
  );
}

async function disconnect() {
  if (!window.confirm("Disconnect the Yoto account? Players and cards stop working here until it is linked again.")) return;
  try {
    await api("POST", "api/auth/disconnect");
    showAccountState("not_linked");
    setStatus("account-status", "The Yoto account is disconnected.");
  } catch (error) {
    handleFailure("account-status", error);
  }
}

/* ---------- users (admins only) ---------- */

async function loadUsers() {
  const rows = $("users-rows");
  rows.replaceChildren();
  setStatus("users-status", "Loading users…");
  try {
    const users = await api("GET", "api/admin/users");
    rows.replaceChildren(...users.map(renderUser));
    setStatus("users-status", "");
  } catch (error) {
    handleFailure("users-status", error);
  }
}

function renderUser(user) {
  const name = user.username;
  const isSelf = currentUser && name === currentUser.username;
  const role = user.role === "admin" ? "Admin" : "Family member";
  const actions = el("div", { className: "actions" });
  if (!isSelf) {
    actions.append(
      user.disabled
        ? button("Enable", () => setUserEnabled(name, true), "secondary", { "aria-label": `Enable ${name}` })
        : button("Disable", () => setUserEnabled(name, false), "secondary", { "aria-label": `Disable ${name}` }),
      button("Delete", () => deleteUser(name), "destructive", { "aria-label": `Delete ${name}` }),
    );
  }
  return el(
    "li",
    { className: "row", dataset: { username: name } },
    el(
      "div",
      { className: "row-main" },
      el("span", { className: "row-title" }, isSelf ? `${name} (you)` : name),
      el("span", { className: "row-meta user-state" }, `${role} · ${user.disabled ? "Disabled: can't sign in" : "Active"}`),
    ),
    actions,
  );
}

async function createUser(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const error = $("user-form-error");
  const name = form.username.value.trim();
  let problem = "";
  if (!form.username.checkValidity()) problem = "The username doesn't follow the rule under it.";
  else if (!form.password.checkValidity()) problem = "The password needs at least 12 characters.";
  form.username.toggleAttribute("aria-invalid", !form.username.checkValidity());
  form.password.toggleAttribute("aria-invalid", !form.password.checkValidity());
  error.textContent = problem;
  show(error, Boolean(problem));
  if (problem) return;
  try {
    await api("POST", "api/admin/users", { username: name, password: form.password.value, role: form.role.value });
    form.reset();
    await loadUsers();
    setStatus("users-status", `Added ${name}. They can sign in now.`);
  } catch (failure) {
    if (failure instanceof ApiError && failure.status === 401) return handleFailure("users-status", failure);
    error.textContent = failure.status === 409 ? `There is already a user called ${name}.` : failure.message;
    show(error, true);
  }
}

async function setUserEnabled(name, enable) {
  if (!enable && !window.confirm(`Disable ${name}? They are signed out and can't sign in until you enable them again.`)) return;
  try {
    await api("POST", `api/admin/users/${encodeURIComponent(name)}/${enable ? "enable" : "disable"}`);
    await loadUsers();
    setStatus("users-status", enable ? `Enabled ${name}. They can sign in again.` : `Disabled ${name}.`);
  } catch (error) {
    handleFailure("users-status", error);
  }
}

async function deleteUser(name) {
  if (!window.confirm(`Delete the user ${name}? This can't be undone.`)) return;
  try {
    await api("DELETE", `api/admin/users/${encodeURIComponent(name)}`);
    await loadUsers();
    setStatus("users-status", `Deleted ${name}.`);
  } catch (error) {
    handleFailure("users-status", error);
  }
}

/* ---------- wiring ---------- */

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", login);
  $("logout-button").addEventListener("click", logout);
  window.addEventListener("hashchange", () => {
    // Only view names switch views; the skip link's #main just moves focus.
    if (currentUser && location.hash.slice(1) in loaders) selectView(viewFromHash());
  });
  // Tapping the tab already shown reloads it (the hash does not change, so no hashchange).
  for (const link of document.querySelectorAll("#tabs [data-view]")) {
    link.addEventListener("click", (event) => {
      if (location.hash === link.hash) {
        event.preventDefault();
        selectView(link.dataset.view);
      }
    });
  }
  $("players-refresh").addEventListener("click", loadPlayers);
  $("upload-form").addEventListener("submit", upload);
  $("upload-file").addEventListener("change", () => fieldError($("upload-file"), $("upload-file-error"), ""));
  $("card-form").addEventListener("submit", saveCard);
  $("card-cancel").addEventListener("click", resetEditor);
  $("auth-start").addEventListener("click", startAuth);
  $("auth-restart").addEventListener("click", startAuth);
  $("auth-relink").addEventListener("click", startAuth);
  $("auth-poll").addEventListener("click", pollAuth);
  $("auth-disconnect").addEventListener("click", disconnect);
  $("user-form").addEventListener("submit", createUser);
  checkSession();
});
