// Yoto Smart Stream dashboard: plain DOM, no build step.
// Every value from the API is rendered with textContent or as an attribute set through the DOM,
// never through innerHTML, so data cannot inject markup.
"use strict";

// Paths are relative to the page, so the same files work at the site root (CloudFront) and
// under an API Gateway stage prefix such as /pr-42/.
const apiUrl = (path) => new URL(path, document.baseURI).toString();

class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

// Turns the API's error bodies ({"detail": "sentence"}, or FastAPI's 422
// {"detail": [{loc, msg}, ...]}) into a sentence.
function errorMessage(body, response) {
  const detail = body?.detail;
  if (typeof detail === "string" && detail) return detail;
  if (Array.isArray(detail) && detail.length) {
    return detail
      .map((item) => {
        const where = Array.isArray(item.loc) ? item.loc.filter((p) => p !== "body").join(".") : "";
        return where ? `${where}: ${item.msg}` : String(item.msg ?? item);
      })
      .join("; ");
  }
  return `The server answered ${response.status} ${response.statusText}`.trim();
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
    throw new ApiError("Cannot reach the server. Check your connection and try again.", 0);
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
  if (!response.ok) throw new ApiError(errorMessage(body, response), response.status);
  return body;
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const $ = (id) => document.getElementById(id);

function show(node, visible) {
  node.hidden = !visible;
}

function setStatus(id, message, isError = false) {
  const node = $(id);
  node.textContent = message;
  node.classList.toggle("error", isError);
  node.setAttribute("role", isError ? "alert" : "status");
}

// A 401 anywhere means the session ended: go back to the login form.
function handleFailure(statusId, error) {
  if (error instanceof ApiError && error.status === 401) {
    showLogin("Your session has ended. Please sign in again.");
    return;
  }
  setStatus(statusId, error.message, true);
}

function formatBytes(size) {
  const n = Number(size);
  if (!Number.isFinite(n)) return "";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
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

function showLogin(message) {
  show($("app-view"), false);
  show($("session-bar"), false);
  show($("login-view"), true);
  const error = $("login-error");
  error.textContent = message ?? "";
  show(error, Boolean(message));
  $("login-username").focus();
}

let currentUser = null;

function showApp(session) {
  currentUser = { username: session.username, role: session.role };
  $("session-user").textContent = currentUser.username;
  for (const node of document.querySelectorAll("[data-admin-only]")) show(node, currentUser.role === "admin");
  setGlobalError("");
  show($("login-view"), false);
  show($("session-bar"), true);
  show($("app-view"), true);
  selectView("players");
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
    showLogin(error.message);
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
        ? "Signed in, but the browser did not keep the session cookie."
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

function selectView(name) {
  for (const button of document.querySelectorAll("nav [data-view]")) {
    button.setAttribute("aria-pressed", String(button.dataset.view === name));
  }
  for (const view of Object.keys(loaders)) show($(`${view}-view`), view === name);
  loaders[name]();
}

/* ---------- players ---------- */

async function loadPlayers() {
  setStatus("players-status", "Loading players…");
  const list = $("players-list");
  try {
    const players = await api("GET", "api/players");
    list.replaceChildren(...players.map(renderPlayer));
    setStatus("players-status", players.length ? "" : "No players found on the Yoto account.");
  } catch (error) {
    list.replaceChildren();
    handleFailure("players-status", error);
    // 409: no Yoto account linked yet; point at the view that links one.
    if (error instanceof ApiError && error.status === 409) {
      $("players-status").append(" Open “Yoto account” to link one.");
    }
  }
}

function renderPlayer(player) {
  const id = player.id;
  const name = player.name ?? id; // the API leaves name and online out when Yoto does
  const online = player.online ?? null;
  const volume = el("input", {
    type: "range",
    min: "0",
    max: "100",
    value: "50",
    "aria-label": `Volume for ${name}`,
  });
  const control = (action, extra = {}) =>
    el("button", { type: "button", onclick: () => sendControl(id, name, { action, ...extra }) }, action);
  return el(
    "li",
    { className: "player", dataset: { playerId: id } },
    el("h3", {}, name),
    el("p", { className: "muted" }, id, online === null ? "" : online ? " · online" : " · offline"),
    el("div", { className: "controls" }, control("play"), control("pause"), control("stop")),
    el(
      "div",
      { className: "controls" },
      volume,
      el(
        "button",
        {
          type: "button",
          onclick: () => sendControl(id, name, { action: "volume", volume: Number(volume.value) }),
        },
        "Set volume",
      ),
      el("button", { type: "button", onclick: () => loadEvents(id, name) }, "Events"),
    ),
  );
}

async function sendControl(id, name, command) {
  setStatus("players-status", `Sending ${command.action} to ${name}…`);
  try {
    await api("POST", `api/players/${encodeURIComponent(id)}/control`, command);
    setStatus("players-status", `${name}: ${command.action} sent.`);
  } catch (error) {
    handleFailure("players-status", error);
  }
}

let eventsCursor = null;

async function loadEvents(id, name, cursor = null) {
  const rows = $("player-events-rows");
  $("player-events-name").textContent = name;
  show($("player-events"), true);
  const query = cursor ? `?cursor=${encodeURIComponent(cursor)}` : "";
  try {
    const body = await api("GET", `api/players/${encodeURIComponent(id)}/events${query}`);
    const events = body.items;
    const rendered = events.map((e) =>
      el(
        "tr",
        {},
        el("td", {}, e.event_utc),
        el("td", {}, e.kind),
        el("td", { className: "mono" }, JSON.stringify(e.data)),
      ),
    );
    if (cursor) rows.append(...rendered);
    else rows.replaceChildren(...rendered);
    if (!cursor && !events.length) rows.replaceChildren(el("tr", {}, el("td", { colSpan: 3 }, "No events yet.")));
    eventsCursor = body.next_cursor;
    const more = $("player-events-more");
    show(more, Boolean(eventsCursor));
    more.onclick = () => loadEvents(id, name, eventsCursor);
  } catch (error) {
    handleFailure("players-status", error);
  }
}

/* ---------- library ---------- */

async function loadLibrary() {
  setStatus("library-status", "Loading library…");
  try {
    const items = await api("GET", "api/audio");
    $("library-rows").replaceChildren(...items.map(renderAudio));
    setStatus("library-status", items.length ? "" : "The library is empty: upload an MP3.");
  } catch (error) {
    $("library-rows").replaceChildren();
    handleFailure("library-status", error);
  }
}

function renderAudio(item) {
  const id = item.audio_id;
  const streamUrl = safeHttpUrl(item.stream_url);
  const ready = item.status === "ready";
  return el(
    "tr",
    { dataset: { audioId: id } },
    el("td", {}, item.title, ready ? "" : el("span", { className: "muted" }, ` (${item.status})`)),
    el("td", {}, item.content_type),
    el("td", {}, formatBytes(item.size_bytes)),
    el("td", {}, ready && streamUrl ? el("a", { href: streamUrl, target: "_blank", rel: "noopener noreferrer" }, "Listen") : ""),
    el("td", {}, el("button", { type: "button", onclick: () => deleteAudio(id, item.title) }, "Delete")),
  );
}

async function deleteAudio(id, title) {
  if (!window.confirm(`Delete "${title}" from the library?`)) return;
  try {
    await api("DELETE", `api/audio/${encodeURIComponent(id)}`);
    await loadLibrary();
    setStatus("library-status", `Deleted "${title}".`);
  } catch (error) {
    handleFailure("library-status", error);
  }
}

async function upload(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const file = form.file.files[0];
  if (!file) return;
  setStatus("library-status", `Uploading ${file.name}…`);
  try {
    // The API hands out a presigned S3 PUT: the bytes go straight to S3, not through Lambda.
    const grant = await api("POST", "api/audio/uploads", {
      filename: file.name,
      content_type: file.type || "audio/mpeg",
      size_bytes: file.size,
      title: form.title.value.trim(),
    });
    let response;
    try {
      response = await fetch(grant.upload_url, {
        method: grant.method,
        headers: grant.headers,
        body: file,
      });
    } catch {
      throw new ApiError("The upload to storage failed: the storage endpoint could not be reached.", 0);
    }
    if (!response.ok) throw new ApiError(`Storage refused the upload (${response.status}).`, response.status);
    // Tells the API the bytes are in S3; it checks the object and marks the audio ready.
    await api("POST", `api/audio/${encodeURIComponent(grant.audio_id)}/complete`);
    form.reset();
    await loadLibrary();
    setStatus("library-status", `Uploaded ${file.name}.`);
  } catch (error) {
    handleFailure("library-status", error);
  }
}

/* ---------- cards ---------- */

async function loadCards() {
  setStatus("cards-status", "Loading cards…");
  try {
    const [cards, library] = await Promise.all([api("GET", "api/cards/streaming"), api("GET", "api/audio")]);
    // Players stream MP3 only, and only uploads the API has confirmed.
    const audio = library.filter((a) => a.status === "ready" && a.content_type === "audio/mpeg");
    $("cards-rows").replaceChildren(...cards.map(renderCard));
    $("card-audio-choices").replaceChildren(
      ...(audio.length
        ? audio.map((a) =>
            el("label", { className: "choice" }, el("input", { type: "checkbox", value: a.audio_id }), ` ${a.title}`),
          )
        : [el("p", { className: "muted" }, "Upload an MP3 to the library first.")]),
    );
    setStatus("cards-status", cards.length ? "" : "No streaming cards yet.");
  } catch (error) {
    $("cards-rows").replaceChildren();
    handleFailure("cards-status", error);
  }
}

function renderCard(card) {
  const id = card.card_id;
  return el(
    "tr",
    { dataset: { cardId: id } },
    el("td", {}, card.title),
    el("td", { className: "mono" }, id),
    el("td", {}, card.audio_ids.length),
    el("td", {}, el("button", { type: "button", onclick: () => deleteCard(id, card.title) }, "Delete")),
  );
}

async function createCard(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const audioIds = [...$("card-audio-choices").querySelectorAll("input:checked")].map((i) => i.value);
  if (!audioIds.length) {
    setStatus("cards-status", "Choose at least one track from the library.", true);
    return;
  }
  setStatus("cards-status", "Creating card…");
  try {
    await api("POST", "api/cards/streaming", { title: form.title.value.trim(), audio_ids: audioIds });
    form.reset();
    await loadCards();
    setStatus("cards-status", "Card created.");
  } catch (error) {
    handleFailure("cards-status", error);
  }
}

async function deleteCard(id, title) {
  if (!window.confirm(`Delete the card "${title}"?`)) return;
  try {
    await api("DELETE", `api/cards/streaming/${encodeURIComponent(id)}`);
    await loadCards();
    setStatus("cards-status", `Deleted "${title}".`);
  } catch (error) {
    handleFailure("cards-status", error);
  }
}

/* ---------- Yoto account (device-code flow) ---------- */

let pollTimer = null;
let pollIntervalSeconds = 5;

async function startAuth() {
  clearTimeout(pollTimer);
  setStatus("account-status", "Asking Yoto for a code…");
  try {
    const start = await api("POST", "api/auth/start");
    const link = $("auth-link");
    // The complete URI carries the code; Yoto may not send one.
    const target = safeHttpUrl(start.verification_uri_complete ?? start.verification_uri);
    link.textContent = start.verification_uri;
    if (target) link.href = target;
    else link.removeAttribute("href");
    $("auth-code").textContent = start.user_code;
    show($("auth-pending"), true);
    pollIntervalSeconds = Number(start.interval) > 0 ? Number(start.interval) : 5;
    setStatus("account-status", "Waiting for you to enter the code on Yoto's page…");
    pollTimer = setTimeout(pollAuth, pollIntervalSeconds * 1000);
  } catch (error) {
    handleFailure("account-status", error);
  }
}

async function loadLinkStatus() {
  try {
    const { linked } = await api("GET", "api/auth/status");
    setStatus("account-status", linked ? "A Yoto account is linked." : "No Yoto account is linked yet.");
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
    show($("auth-pending"), false);
    handleFailure("account-status", error);
    return;
  }
  const waiting = result.status === "authorization_pending" || result.status === "slow_down";
  if (waiting) {
    if (Number(result.interval) > 0) pollIntervalSeconds = Number(result.interval);
    pollTimer = setTimeout(pollAuth, pollIntervalSeconds * 1000);
  } else {
    show($("auth-pending"), false);
  }
  setStatus("account-status", result.message, !waiting && result.status !== "linked");
}

/* ---------- users (admins only) ---------- */

async function loadUsers() {
  setStatus("users-status", "Loading users…");
  try {
    const users = await api("GET", "api/admin/users");
    $("users-rows").replaceChildren(...users.map(renderUser));
    setStatus("users-status", "");
  } catch (error) {
    $("users-rows").replaceChildren();
    handleFailure("users-status", error);
  }
}

function renderUser(user) {
  const name = user.username;
  const isSelf = currentUser && name === currentUser.username;
  const action = (label, run) =>
    isSelf ? "" : el("button", { type: "button", onclick: () => run(name) }, label);
  return el(
    "tr",
    { dataset: { username: name } },
    el("td", {}, name),
    el("td", {}, user.role),
    el("td", {}, user.disabled ? "disabled" : "active"),
    el(
      "td",
      {},
      el(
        "div",
        { className: "controls" },
        user.disabled ? "" : action("Disable", disableUser),
        action("Delete", deleteUser),
      ),
    ),
  );
}

async function createUser(event) {
  event.preventDefault();
  const form = event.currentTarget;
  try {
    await api("POST", "api/admin/users", {
      username: form.username.value.trim(),
      password: form.password.value,
      role: form.role.value,
    });
    const name = form.username.value.trim();
    form.reset();
    await loadUsers();
    setStatus("users-status", `Added ${name}.`);
  } catch (error) {
    handleFailure("users-status", error);
  }
}

async function disableUser(name) {
  try {
    await api("POST", `api/admin/users/${encodeURIComponent(name)}/disable`);
    await loadUsers();
    setStatus("users-status", `Disabled ${name}.`);
  } catch (error) {
    handleFailure("users-status", error);
  }
}

async function deleteUser(name) {
  if (!window.confirm(`Delete the user ${name}?`)) return;
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
  for (const button of document.querySelectorAll("nav [data-view]")) {
    button.addEventListener("click", () => selectView(button.dataset.view));
  }
  $("players-refresh").addEventListener("click", loadPlayers);
  $("upload-form").addEventListener("submit", upload);
  $("card-form").addEventListener("submit", createCard);
  $("auth-start").addEventListener("click", startAuth);
  $("auth-poll").addEventListener("click", pollAuth);
  $("user-form").addEventListener("submit", createUser);
  checkSession();
});
