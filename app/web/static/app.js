// The salon dashboard: plain JavaScript, no build step.
//
// Signed in by an HttpOnly session cookie (POST /api/v1/auth/session), so this script never
// holds a credential: every fetch and the EventSource send the cookie by themselves. Requests
// that change something carry X-Requested-With, which the server demands of cookie-signed
// requests (a page of another origin can't add it without passing CORS).
"use strict";

const API = "/api/v1";
const CSRF = { "X-Requested-With": "dashboard" };
const MAX_ITEMS = 100;

const state = {
  me: null,
  source: null, // the EventSource
  lastId: 0, // the newest notification id seen; the stream resumes after it
  seen: new Set(),
  everConnected: false,
  reopenTimer: null,
  reopenDelay: 1000,
  services: new Map(), // service id -> service
  timers: new Map(),
};

// ------------------------------------------------------------------ small helpers

const $ = (id) => document.getElementById(id);

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function debounce(name, delay, fn) {
  clearTimeout(state.timers.get(name));
  state.timers.set(name, setTimeout(fn, delay));
}

class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
  }
}

async function api(path, { method = "GET", json, form } = {}) {
  const headers = { Accept: "application/json" };
  let body;
  if (method !== "GET") Object.assign(headers, CSRF);
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = new URLSearchParams(form);
  }
  const response = await fetch(API + path, { method, headers, body, credentials: "same-origin" });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    if (response.status === 401 && state.me && !path.startsWith("/auth/session")) {
      signedOut("Your session has ended. Please sign in again.");
    }
    throw new ApiError(response.status, data.detail ?? response.statusText);
  }
  return data;
}

function toast(text, kind = "info") {
  const el = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" }, text);
  $("toasts").append(el);
  setTimeout(() => el.classList.add("toast-out"), 2600);
  setTimeout(() => el.remove(), 3000);
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short" });
const longDayFmt = new Intl.DateTimeFormat(undefined, { weekday: "long", day: "numeric", month: "long" });

function startOfDay(date) {
  const d = new Date(date);
  d.setHours(0, 0, 0, 0);
  return d;
}

function dayLabel(date) {
  const days = Math.round((startOfDay(date) - startOfDay(new Date())) / 86400000);
  if (days === 0) return "Today";
  if (days === 1) return "Tomorrow";
  return dayFmt.format(date);
}

function ago(iso) {
  const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (seconds < 45) return "just now";
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return dayFmt.format(new Date(iso));
}

// ------------------------------------------------------------------ connection status

const STATUS_LABELS = {
  connecting: "Connecting…",
  connected: "Live",
  reconnecting: "Reconnecting…",
  offline: "Offline",
};

function setStatus(name) {
  const el = $("status");
  el.dataset.state = name;
  $("status-label").textContent = STATUS_LABELS[name];
}

// ------------------------------------------------------------------ the stream

function streamPath() {
  return state.me.role === "admin" ? "/notifications/stream" : "/notifications/customer/stream";
}

function openStream() {
  closeStream();
  setStatus(state.everConnected ? "reconnecting" : "connecting");
  // After a reconnect of its own, EventSource resumes with the Last-Event-ID header; when we
  // open a new one, `last_event_id` says where the list we hold ends.
  const source = new EventSource(`${API}${streamPath()}?last_event_id=${state.lastId}`);
  state.source = source;
  source.addEventListener("connected", () => {
    setStatus("connected");
    state.reopenDelay = 1000;
    if (state.everConnected) refreshAfterGap();
    state.everConnected = true;
  });
  source.addEventListener("notification", (event) => {
    const notification = JSON.parse(event.data);
    addNotification(notification, { live: true });
  });
  source.addEventListener("reset", () => {
    // The server no longer keeps everything we missed: reload instead of trusting the stream.
    loadNotifications();
  });
  source.onerror = () => {
    if (source !== state.source) return;
    if (source.readyState === EventSource.CONNECTING) {
      setStatus("reconnecting"); // the browser retries by itself
    } else {
      // Refused (e.g. 401 once the session expired): EventSource gives up; we decide.
      setStatus("offline");
      source.close();
      scheduleReopen();
    }
  };
}

function closeStream() {
  if (state.source) state.source.close();
  state.source = null;
  clearTimeout(state.reopenTimer);
}

function scheduleReopen() {
  clearTimeout(state.reopenTimer);
  const delay = state.reopenDelay;
  state.reopenDelay = Math.min(state.reopenDelay * 2, 15000);
  state.reopenTimer = setTimeout(async () => {
    try {
      await api("/auth/me"); // a 401 here signs the page out
    } catch (error) {
      if (error.status === 401 || !state.me) return;
    }
    if (state.me) openStream();
  }, delay);
}

function refreshAfterGap() {
  refreshUnread();
  refreshAppointments();
}

// ------------------------------------------------------------------ notifications

function feedRoot() {
  return document.querySelector(`[data-feed="${state.me.role}"]`);
}

// Icons as SVG paths (24x24, stroked): no icon font, no image requests.
const ICONS = {
  new_appointment: "M8 2v4M16 2v4M3 10h18M5 4h14a2 2 0 0 1 2 2v14a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2zM12 14v4M10 16h4",
  appointment_confirmed: "M20 6 9 17l-5-5",
  appointment_cancelled: "M18 6 6 18M6 6l12 12",
  message: "M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z",
  default: "M18 8A6 6 0 0 0 6 8c0 7-3 9-3 9h18s-3-2-3-9M13.73 21a2 2 0 0 1-3.46 0",
};

function icon(name) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", ICONS[name] || ICONS.default);
  svg.append(path);
  return svg;
}

function notificationItem(n) {
  const item = h(
    "li",
    {
      class: `note note-${n.priority}${n.is_read ? "" : " note-unread"}`,
      dataset: { id: n.id, type: n.notification_type },
      tabindex: "0",
      role: "button",
      "aria-label": `${n.title}${n.is_read ? "" : " (unread)"}`,
      onclick: () => markRead(n.id),
      onkeydown: (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          markRead(n.id);
        }
      },
    },
    h("span", { class: `note-icon icon-${n.notification_type}` }, icon(n.notification_type)),
    h(
      "div",
      { class: "note-body" },
      h("div", { class: "note-title" }, n.title,
        n.priority === "high" || n.priority === "urgent"
          ? h("span", { class: `chip chip-${n.priority}` }, n.priority) : null),
      n.message ? h("div", { class: "note-message" }, n.message) : null,
      h("time", { class: "note-time", datetime: n.created_at, title: new Date(n.created_at).toLocaleString() },
        ago(n.created_at)),
    ),
    h("span", { class: "note-dot", "aria-hidden": "true" }),
  );
  return item;
}

function addNotification(n, { live = false } = {}) {
  if (state.seen.has(n.id)) return;
  state.seen.add(n.id);
  state.lastId = Math.max(state.lastId, n.id);
  const root = feedRoot();
  const list = root.querySelector("[data-feed-list]");
  const item = notificationItem(n);
  // Newest first: find the first item with a smaller id.
  const after = [...list.children].find((el) => Number(el.dataset.id) < n.id);
  list.insertBefore(item, after || null);
  while (list.children.length > MAX_ITEMS) list.lastElementChild.remove();
  root.querySelector("[data-feed-empty]").hidden = true;
  if (live) {
    item.classList.add("note-new");
    if (!n.is_read) bumpUnread(1);
    debounce("unread", 300, refreshUnread);
    if (n.entity_type === "appointment") debounce("appointments", 150, refreshAppointments);
    alertInBrowser(n);
  }
}

async function loadNotifications() {
  const list = await api("/notifications?limit=50");
  const root = feedRoot();
  root.querySelector("[data-feed-list]").replaceChildren();
  state.seen.clear();
  for (const n of list) addNotification(n);
  root.querySelector("[data-feed-empty]").hidden = list.length > 0;
  await refreshUnread();
}

async function markRead(id) {
  const item = feedRoot().querySelector(`[data-id="${id}"]`);
  if (!item || !item.classList.contains("note-unread")) return;
  item.classList.remove("note-unread");
  bumpUnread(-1);
  try {
    await api(`/notifications/${id}/read`, { method: "POST" });
  } catch (error) {
    item.classList.add("note-unread");
    toast(`Could not mark it read: ${error.message}`, "error");
  }
  debounce("unread", 200, refreshUnread);
}

async function readAll() {
  await api("/notifications/read-all", { method: "POST" });
  for (const el of feedRoot().querySelectorAll(".note-unread")) el.classList.remove("note-unread");
  await refreshUnread();
}

let unread = 0;

function showUnread(count) {
  unread = Math.max(0, count);
  for (const badge of document.querySelectorAll("[data-unread-badge]")) {
    badge.textContent = unread > 99 ? "99+" : String(unread);
    badge.hidden = unread === 0;
  }
  $("kpi-unread").textContent = String(unread);
  document.title = `${unread ? `(${unread}) ` : ""}Salon · Live dashboard`;
}

function bumpUnread(delta) {
  showUnread(unread + delta);
}

async function refreshUnread() {
  try {
    showUnread((await api("/notifications/unread-count")).unread);
  } catch {
    /* shown by the stream status; retried on the next event */
  }
}

// ------------------------------------------------------------------ browser notifications

function alertsWanted() {
  return localStorage.getItem("salon.alerts") === "on" && "Notification" in window
    && Notification.permission === "granted";
}

function showAlertsToggle() {
  const button = $("alerts-toggle");
  if (!("Notification" in window)) {
    button.hidden = true;
    return;
  }
  const on = alertsWanted();
  button.textContent = on ? "Alerts on" : "Alerts off";
  button.setAttribute("aria-pressed", String(on));
  button.classList.toggle("btn-on", on);
}

async function toggleAlerts() {
  if (alertsWanted()) {
    localStorage.setItem("salon.alerts", "off");
  } else {
    const permission = Notification.permission === "default"
      ? await Notification.requestPermission() : Notification.permission;
    if (permission === "granted") localStorage.setItem("salon.alerts", "on");
    else toast("The browser blocks notifications for this site.", "error");
  }
  showAlertsToggle();
}

function alertInBrowser(n) {
  if (document.visibilityState !== "hidden" || !alertsWanted()) return;
  const alert = new Notification(n.title, { body: n.message, tag: `salon-${n.id}` });
  alert.onclick = () => {
    window.focus();
    markRead(n.id);
    alert.close();
  };
}

// ------------------------------------------------------------------ alerts when closed (Web Push)
// A service worker (/static/sw.js) shows what the server pushes while no tab is open. The
// toggle subscribes this browser with the browser's push service and tells the server
// (POST /push/subscriptions); off: the server is told first (DELETE), then the browser.

const push = { registration: null };

function pushSupported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

function base64UrlBytes(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

async function serverSubscription() {
  const current = await push.registration.pushManager.getSubscription();
  if (!current) return { current: null, mine: null };
  const mine = (await api("/push/subscriptions")).find((s) => s.endpoint === current.endpoint);
  return { current, mine: mine || null };
}

function showPushToggle(on) {
  const button = $("push-toggle");
  button.textContent = on ? "Alerts when closed: on" : "Alerts when closed: off";
  button.setAttribute("aria-pressed", String(on));
  button.classList.toggle("btn-on", on);
  button.hidden = false;
}

function onWorkerMessage(event) {
  // A pushed notification was clicked while this page was open: it has been seen.
  if (event.data && event.data.type === "push-click" && event.data.id) markRead(event.data.id);
}

async function setUpPush() {
  if (!pushSupported()) return;
  try {
    if (!push.registration) navigator.serviceWorker.addEventListener("message", onWorkerMessage);
    push.registration = await navigator.serviceWorker.register("/static/sw.js");
    showPushToggle(Boolean((await serverSubscription()).mine));
  } catch (e) {
    console.warn("alerts when closed are unavailable:", e);
  }
}

async function togglePush() {
  const button = $("push-toggle");
  button.disabled = true;
  try {
    const { current, mine } = await serverSubscription();
    if (mine) {
      await api(`/push/subscriptions/${mine.id}`, { method: "DELETE" });
      await current.unsubscribe();
      showPushToggle(false);
      return;
    }
    const permission = Notification.permission === "default"
      ? await Notification.requestPermission() : Notification.permission;
    if (permission !== "granted") {
      toast("The browser blocks notifications for this site.", "error");
      return;
    }
    const { public_key } = await api("/push/vapid-public-key");
    const subscription = current || await push.registration.pushManager.subscribe({
      userVisibleOnly: true,
      applicationServerKey: base64UrlBytes(public_key),
    });
    await api("/push/subscriptions", { method: "POST", json: subscription.toJSON() });
    showPushToggle(true);
  } catch (e) {
    toast(`Alerts when closed: ${e.message}`, "error");
  } finally {
    button.disabled = false;
  }
}

async function forgetPushOnSignOut() {
  // Whoever signs in next on this browser must not get this account's alerts.
  if (!push.registration) return;
  try {
    const { mine } = await serverSubscription();
    if (mine) await api(`/push/subscriptions/${mine.id}`, { method: "DELETE" });
  } catch {
    /* signing out goes on */
  }
  $("push-toggle").hidden = true;
}

// ------------------------------------------------------------------ appointments

const STATUS_TEXT = { pending: "Pending", confirmed: "Confirmed", cancelled: "Cancelled" };

function serviceName(id) {
  const service = state.services.get(id);
  return service ? service.name : `Service #${id}`;
}

function serviceDuration(id) {
  const service = state.services.get(id);
  return service ? `${service.duration_minutes} min` : "";
}

function appointmentRow(a, { admin }) {
  const start = new Date(a.start_time);
  const upcoming = start.getTime() > Date.now() - 3600 * 1000;
  const actions = [];
  if (admin && a.status === "pending") {
    actions.push(h("button", { class: "btn btn-primary btn-small", dataset: { action: "confirm" },
      onclick: () => changeAppointment(a.id, "confirm") }, "Confirm"));
  }
  if (a.status !== "cancelled" && upcoming) {
    actions.push(h("button", { class: "btn btn-ghost btn-small", dataset: { action: "cancel" },
      onclick: () => changeAppointment(a.id, "cancel") }, "Cancel"));
  }
  return h(
    "li",
    { class: `appt appt-${a.status}`, dataset: { id: a.id, status: a.status } },
    h("div", { class: "appt-time" }, h("strong", {}, timeFmt.format(start)),
      h("span", { class: "muted small" }, serviceDuration(a.service_id))),
    h("div", { class: "appt-main" },
      h("div", { class: "appt-title" }, serviceName(a.service_id)),
      h("div", { class: "muted small" }, admin ? `Customer #${a.customer_id}` : `Booking #${a.id}`)),
    h("span", { class: `chip chip-${a.status}`, "data-status-chip": "" }, STATUS_TEXT[a.status]),
    h("div", { class: "appt-actions" }, actions),
  );
}

function renderAppointments(container, appointments, { admin }) {
  const today = startOfDay(new Date());
  const groups = new Map();
  for (const a of appointments) {
    const start = new Date(a.start_time);
    if (start < today) continue;
    const label = dayLabel(start);
    if (!groups.has(label)) groups.set(label, []);
    groups.get(label).push(a);
  }
  const blocks = [];
  if (admin && !groups.has("Today")) {
    blocks.push(h("h3", { class: "group-title" }, "Today"),
      h("p", { class: "empty" }, "No appointments today yet."));
  }
  for (const [label, list] of groups) {
    blocks.push(h("h3", { class: "group-title" }, label),
      h("ol", { class: "appt-list" }, list.map((a) => appointmentRow(a, { admin }))));
  }
  if (!blocks.length) blocks.push(h("p", { class: "empty" }, "No upcoming appointments."));
  container.replaceChildren(...blocks);
  if (admin) {
    const todays = groups.get("Today") || [];
    $("kpi-today").textContent = String(todays.filter((a) => a.status !== "cancelled").length);
    $("kpi-pending").textContent = String(appointments.filter(
      (a) => a.status === "pending" && new Date(a.start_time) >= today).length);
  }
}

async function refreshAppointments() {
  if (!state.me || state.me.role === "superadmin") return;
  try {
    const appointments = await api("/appointments");
    const admin = state.me.role === "admin";
    renderAppointments($(admin ? "admin-appointments" : "customer-appointments"), appointments, { admin });
  } catch {
    /* the stream status tells the user; the next event retries */
  }
}

async function changeAppointment(id, action) {
  try {
    await api(`/appointments/${id}/${action}`, { method: "POST" });
    toast(action === "confirm" ? "Appointment confirmed" : "Appointment cancelled", "success");
  } catch (error) {
    toast(error.message, "error");
  }
  await refreshAppointments();
}

async function loadServices(salonId) {
  const services = await api(`/salons/${salonId}/services`);
  for (const s of services) state.services.set(s.id, s);
  return services;
}

// ------------------------------------------------------------------ admin

async function sendNotification(event) {
  event.preventDefault();
  const recipient = $("send-recipient").value;
  const body = {
    notification_type: "message",
    title: $("send-title").value.trim(),
    message: $("send-message").value.trim(),
    recipient_type: recipient,
    priority: $("send-priority").value,
  };
  if (recipient === "customer") body.recipient_id = Number($("send-customer").value);
  const button = $("send-submit");
  button.disabled = true;
  try {
    await api("/notifications", { method: "POST", json: body });
    $("send-form").reset();
    $("send-customer-field").hidden = true;
    toast("Notification sent", "success");
  } catch (error) {
    toast(error.message, "error");
  } finally {
    button.disabled = false;
  }
}

// ------------------------------------------------------------------ customer

function pad(n) {
  return String(n).padStart(2, "0");
}

function defaultBookingTime() {
  const when = new Date(Date.now() + 2 * 3600 * 1000);
  when.setMinutes(0, 0, 0);
  if (when.getHours() < 9 || when.getHours() > 18) {
    if (when.getHours() > 18) when.setDate(when.getDate() + 1);
    when.setHours(10);
  }
  $("book-date").value = `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())}`;
  $("book-time").value = `${pad(when.getHours())}:00`;
  $("book-date").min = $("book-date").value < todayIso() ? $("book-date").value : todayIso();
}

function todayIso() {
  const d = new Date();
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

async function fillServices() {
  const salonId = $("book-salon").value;
  const select = $("book-service");
  if (!salonId) return select.replaceChildren();
  const services = await loadServices(salonId);
  select.replaceChildren(...services.map((s) =>
    h("option", { value: s.id }, `${s.name} · ${s.duration_minutes} min · ${Number(s.price).toFixed(2)}`)));
  if (!services.length) select.append(h("option", { value: "", disabled: true }, "No services yet"));
}

async function book(event) {
  event.preventDefault();
  const start = new Date(`${$("book-date").value}T${$("book-time").value}`);
  const button = $("book-submit");
  button.disabled = true;
  try {
    await api("/appointments", {
      method: "POST",
      json: {
        salon_id: Number($("book-salon").value),
        service_id: Number($("book-service").value),
        start_time: start.toISOString(),
      },
    });
    toast("Booked: the salon has been told", "success");
    await refreshAppointments();
  } catch (error) {
    toast(error.message, "error");
  } finally {
    button.disabled = false;
  }
}

async function setUpCustomer() {
  const salons = await api("/salons");
  $("book-salon").replaceChildren(...salons.map((s) => h("option", { value: s.id }, s.name)));
  const loads = salons.map((s) => loadServices(s.id).catch(() => []));
  await Promise.all(loads);
  await fillServices();
  defaultBookingTime();
}

// ------------------------------------------------------------------ signing in and out

function showOnly(viewId) {
  for (const id of ["signin-view", "admin-view", "customer-view", "super-view"]) {
    $(id).hidden = id !== viewId;
  }
}

async function signedIn(me) {
  state.me = me;
  state.lastId = 0;
  state.everConnected = false;
  state.reopenDelay = 1000;
  document.body.dataset.role = me.role;
  $("session-bar").hidden = false;
  $("who").textContent = me.full_name || me.email;
  $("who").title = `${me.email} (${me.role})`;
  showAlertsToggle();
  if (me.role === "superadmin") {
    showOnly("super-view");
    $("status").hidden = true;
    $("alerts-toggle").hidden = true;
    startOperations(); // the operations view: ops.js
    return;
  }
  $("status").hidden = false;
  setUpPush(); // alerts when closed
  if (me.role === "admin") {
    showOnly("admin-view");
    $("admin-date").textContent = longDayFmt.format(new Date());
    const salon = (await api("/salons")).find((s) => s.id === me.salon_id);
    $("brand-sub").textContent = salon ? salon.name : "Live dashboard";
    await loadServices(me.salon_id);
  } else {
    showOnly("customer-view");
    $("brand-sub").textContent = "Live dashboard";
    await setUpCustomer();
  }
  await Promise.all([loadNotifications(), refreshAppointments()]);
  openStream(); // resumes after the newest notification loaded, so none falls in between
}

function signedOut(message) {
  closeStream();
  stopOperations();
  state.me = null;
  delete document.body.dataset.role;
  $("session-bar").hidden = true;
  $("brand-sub").textContent = "Live dashboard";
  for (const list of document.querySelectorAll("[data-feed-list]")) list.replaceChildren();
  state.seen.clear();
  showUnread(0);
  showOnly("signin-view");
  const error = $("signin-error");
  error.textContent = message || "";
  error.hidden = !message;
}

async function signIn(event) {
  event.preventDefault();
  const button = $("signin-submit");
  button.disabled = true;
  $("signin-error").hidden = true;
  try {
    const me = await api("/auth/session", {
      method: "POST",
      form: { username: $("signin-email").value, password: $("signin-password").value },
    });
    $("signin-password").value = "";
    await signedIn(me);
  } catch (error) {
    $("signin-error").textContent = error.status === 401
      ? "Wrong email or password." : `Could not sign in: ${error.message}`;
    $("signin-error").hidden = false;
  } finally {
    button.disabled = false;
  }
}

async function signOut() {
  await forgetPushOnSignOut(); // alerts when closed
  try {
    await api("/auth/session", { method: "DELETE" });
  } finally {
    signedOut();
  }
}

// ------------------------------------------------------------------ start

function wire() {
  $("signin-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  $("alerts-toggle").addEventListener("click", toggleAlerts);
  $("push-toggle").addEventListener("click", togglePush);
  $("send-form").addEventListener("submit", sendNotification);
  $("send-recipient").addEventListener("change", (e) => {
    $("send-customer-field").hidden = e.target.value !== "customer";
    $("send-customer").required = e.target.value === "customer";
  });
  $("book-form").addEventListener("submit", book);
  $("book-salon").addEventListener("change", fillServices);
  for (const button of document.querySelectorAll("[data-read-all]")) {
    button.addEventListener("click", () => readAll().catch((e) => toast(e.message, "error")));
  }
  // Relative times stay fresh.
  setInterval(() => {
    for (const el of document.querySelectorAll(".note-time")) el.textContent = ago(el.getAttribute("datetime"));
  }, 30000);
}

async function start() {
  wire();
  try {
    await signedIn(await api("/auth/me"));
  } catch {
    signedOut();
  }
}

document.addEventListener("DOMContentLoaded", start);
