// The hubbub web client: log-in, the conversation list, one open chat. Wires the connection
// (client.js) to the store (store.js) and renders the DOM from the store after each change.

import { HubbubConnection } from "./client.js";
import { edgeLocator } from "./discovery.js";
import { ChatStore, seqOf } from "./store.js";
import { errorText } from "./errors.js";
import { $ } from "./dom.js";
import { render as paint, scrollToBottom, toast } from "./view.js";

const PAGE = 30; // history page size
const TYPING_EVERY_MS = 3000; // re-announce typing at most this often (the limit is 1/s)
const TYPING_IDLE_MS = 4000; // no key for this long: typing stopped
const TYPING_SHOWN_MS = 6000; // a peer's typing without news fades after this
const DELIVERED_BATCH_MS = 100;
const LIST_PAGES_MAX = 10; // conversation list pages fetched per (re)connect, 100 rows each

const stored = { token: "hubbub.token", user: "hubbub.user", device: "hubbub.device" };

let conn = null;
let store = null;
let openId = null;
let deliveredTimer = null;
const deliveredDue = new Map(); // conversationId -> seq to ack
const typingState = { active: false, lastSentAt: 0, idleTimer: null };

// A device per tab: sessionStorage is per tab, so each tab is one more device of the user.
function deviceId() {
  let id = sessionStorage.getItem(stored.device);
  if (!id) {
    const bytes = crypto.getRandomValues(new Uint8Array(6));
    id = "web-" + [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
    sessionStorage.setItem(stored.device, id);
  }
  return id;
}

// ---- start, log-in, log-out ----

function boot() {
  wireForms();
  const token = localStorage.getItem(stored.token);
  const user = localStorage.getItem(stored.user);
  if (token && user) startSession({ token }, user);
  else showLogin("");
}

function showLogin(message) {
  $("app").hidden = true;
  $("offline-banner").hidden = true;
  $("login").hidden = false;
  $("login-error").hidden = !message;
  $("login-error").textContent = message;
}

async function logIn(signUp) {
  const userId = $("login-user").value.trim();
  const password = $("login-password").value;
  const credentials = { userId, password };
  if (signUp) credentials.displayName = $("login-display").value.trim();
  await startSession(signUp ? { signUp: credentials } : { logIn: credentials }, userId);
}

async function startSession(auth, userId) {
  conn?.stop();
  store = new ChatStore(userId);
  openId = null;
  conn = new HubbubConnection(edgeLocator(), userId, deviceId());
  conn.addEventListener("welcome", (e) => welcomed(e.detail));
  conn.addEventListener("status", (e) => ($("offline-banner").hidden = e.detail.online));
  conn.addEventListener("auth-lost", (e) => authLost(e.detail));
  conn.addEventListener("server-error", (e) => toast(errorText(e.detail)));
  conn.addEventListener("message", (e) => onMessage(e.detail));
  conn.addEventListener("messageDeleted", (e) => onMessage(e.detail)); // a deletion entry
  conn.addEventListener("receipt", (e) => onReceipt(e.detail));
  conn.addEventListener("typing", (e) => onTyping(e.detail));
  conn.addEventListener("presence", (e) => onPresence(e.detail));
  conn.addEventListener("conversationEvent", (e) => onConversationEvent(e.detail));
  try {
    await conn.start(auth);
  } catch (error) {
    if (!auth.token) showLogin(errorText(error, "login"));
  }
}

function authLost(error) {
  localStorage.removeItem(stored.token);
  showLogin(errorText(error, "login"));
}

function logOut() {
  conn?.stop();
  conn = null;
  localStorage.removeItem(stored.token);
  localStorage.removeItem(stored.user);
  showLogin("");
}

// After each (re)connect: the list, then what we missed, then whatever we still had to send.
async function welcomed(welcome) {
  localStorage.setItem(stored.token, conn.auth.token);
  localStorage.setItem(stored.user, welcome.userId);
  store.me = welcome.userId;
  $("login").hidden = true;
  $("app").hidden = false;
  $("me-name").textContent = welcome.userId;
  document.body.dataset.edge = welcome.edgeId || ""; // which edge holds us (tests read it)
  try {
    await refreshList();
    await resume();
    if (openId) await readOpen();
    pumpSends();
  } catch (error) {
    if (error.code !== "UNAVAILABLE") toast(errorText(error));
  }
  render();
}

async function refreshList() {
  let page = { limit: 100 };
  const listed = new Set();
  for (let n = 0; n < LIST_PAGES_MAX; n++) {
    const list = (await conn.request("listConversations", page)).conversations;
    const items = list.items || [];
    for (const item of items) listed.add(store.upsertConversation(item.conversation, item).id);
    if (!list.hasMore || !items.length) {
      forgetUnlisted(listed); // the whole list came: what is not in it we left or were removed from
      break;
    }
    const last = items[items.length - 1].conversation;
    page = { limit: 100, beforeActivityMs: last.lastActivityMs, beforeConversationId: last.conversationId };
  }
  render();
}

function forgetUnlisted(listed) {
  for (const conv of [...store.conversations.values()]) {
    if (listed.has(conv.id)) continue;
    store.forget(conv.id);
    if (openId === conv.id) {
      openId = null;
      toast(`You are no longer a member of ${store.titleOf(conv)}.`);
    }
  }
}

async function resume() {
  for (;;) {
    const cursors = [...store.conversations.values()]
      .filter((conv) => conv.loaded)
      .map((conv) => ({ conversationId: conv.id, seq: String(store.contiguousSeq(conv)) }));
    const reply = await conn.request("resume", { cursors, limitPerConversation: 100 }, { pages: true });
    for (const page of reply.pages) {
      await takePage(page);
      if (page.hasMore) await fetchAfter(page.conversationId);
    }
    if (!reply.resumeDone.hasMore) return;
  }
}

async function takePage(page) {
  if (!store.conversations.has(page.conversationId)) await refreshList();
  for (const message of page.messages || []) takeMessage(message);
}

async function fetchAfter(conversationId) {
  const conv = store.conversations.get(conversationId);
  for (let more = true; more && conv; ) {
    const anchorSeq = String(store.contiguousSeq(conv));
    const body = { conversationId, anchorSeq, direction: "HISTORY_DIRECTION_AFTER", limit: 100 };
    const reply = await conn.request("history", body);
    for (const message of reply.history.messages || []) takeMessage(message);
    more = Boolean(reply.history.hasMore);
  }
  render();
}

// ---- incoming ----

function takeMessage(message) {
  const viewing = message.conversationId === openId && document.visibilityState === "visible";
  if (store.addMessage(message, { viewing }) && message.senderId !== store.me) {
    deliveredDue.set(message.conversationId, message.seq);
    clearTimeout(deliveredTimer);
    deliveredTimer = setTimeout(flushDelivered, DELIVERED_BATCH_MS);
  }
}

function flushDelivered() {
  const cursors = [...deliveredDue].map(([conversationId, seq]) => ({ conversationId, seq }));
  deliveredDue.clear();
  if (cursors.length) conn.request("delivered", { cursors }).catch(() => {});
}

async function onMessage(message) {
  let conv = store.conversations.get(message.conversationId);
  if (!conv) {
    await refreshList(); // a conversation we were just added to
    conv = store.conversations.get(message.conversationId);
    if (!conv) return;
  }
  const gap = conv.loaded && seqOf(message.seq) > store.contiguousSeq(conv) + 1n;
  takeMessage(message);
  if (gap) await fetchAfter(conv.id).catch(() => {});
  if (conv.id === openId) await readOpen();
  render();
}

function onReceipt(receipt) {
  store.receipt(receipt);
  render();
}

function onTyping(event) {
  store.setTyping(event, Date.now(), TYPING_SHOWN_MS);
  render();
  setTimeout(render, TYPING_SHOWN_MS + 50); // fade it out if nothing else comes
}

function onPresence(event) {
  store.setPresence(event);
  render();
}

function onConversationEvent(event) {
  const removed = event.kind === "CONVERSATION_EVENT_KIND_MEMBER_REMOVED";
  if (removed && (event.userIds || []).includes(store.me)) {
    store.forget(event.conversation.conversationId);
    if (openId === event.conversation.conversationId) {
      openId = null;
      if (event.actorId !== store.me) toast(`You were removed from ${event.conversation.title || "the group"}`);
    }
  } else {
    store.upsertConversation(event.conversation);
  }
  render();
}

// ---- actions ----

async function openConversation(id) {
  openId = id;
  $("read-by").hidden = true;
  $("group-panel").hidden = true;
  render();
  const conv = store.conversations.get(id);
  if (!conv.loaded) await loadOlder(conv, { first: true });
  render();
  const box = $("messages");
  while (conv.hasOlder && openId === id && box.scrollHeight <= box.clientHeight) {
    if (!(await loadOlder(conv))) break; // short messages: fill the screen, so it can scroll up
    render();
  }
  await readOpen();
  await refreshTicks(conv);
  render();
  scrollToBottom();
}

// Older messages, a page at a time (the first page is the newest); false if none came.
async function loadOlder(conv, { first = false } = {}) {
  if (conv.loadingOlder || (!first && !conv.hasOlder)) return false;
  conv.loadingOlder = true;
  const anchorSeq = first ? "0" : String(store.oldestSeq(conv));
  try {
    const body = { conversationId: conv.id, anchorSeq, direction: "HISTORY_DIRECTION_BEFORE", limit: PAGE };
    const reply = await conn.request("history", body);
    for (const message of reply.history.messages || []) takeMessage(message);
    conv.hasOlder = Boolean(reply.history.hasMore);
    conv.loaded = true;
    return true;
  } catch (error) {
    toast(errorText(error));
    return false;
  } finally {
    conv.loadingOlder = false;
  }
}

// The open conversation is on screen: read up to its last message.
async function readOpen() {
  const conv = store.conversations.get(openId);
  if (!conv || document.visibilityState !== "visible") return;
  const top = conv.lastSeq;
  if (seqOf(top) === 0n || seqOf(conv.readSeq) >= seqOf(top)) return;
  store.markRead(conv, top);
  await conn.request("read", { cursors: [{ conversationId: conv.id, seq: top }] }).catch(() => {});
}

// Ticks of messages sent before this page loaded: ask who has our newest one.
async function refreshTicks(conv) {
  const mine = store.messagesOf(conv).filter((m) => m.senderId === store.me && !m.deleted);
  if (!mine.length) return;
  const seq = mine[mine.length - 1].seq;
  const reply = await conn.request("readBy", { conversationId: conv.id, seq }).catch(() => null);
  if (!reply) return;
  if ((reply.readBy.readBy || []).length) store.receipt({ ...receiptFrom(conv, seq), kind: "RECEIPT_KIND_READ" });
  else if ((reply.readBy.deliveredTo || []).length) store.receipt({ ...receiptFrom(conv, seq), kind: "RECEIPT_KIND_DELIVERED" });
}

const receiptFrom = (conv, seq) => ({ conversationId: conv.id, userId: "", upToSeq: seq });

function sendMessage() {
  const text = $("composer-text").value;
  if (!text.trim() || !openId) return;
  $("composer-text").value = "";
  stopTyping();
  const clientMsgId = crypto.randomUUID();
  store.addPending(openId, clientMsgId, text);
  pumpSends();
  render();
  scrollToBottom();
}

// Sends go out one at a time, oldest first, so they keep their order through retries. After
// a lost connection the same clientMsgId is sent again (stored once). Over the send limit,
// further sends would be dropped unanswered: wait the retryAfterMs the edge asked for.
let pumping = false;
async function pumpSends() {
  if (pumping) return;
  pumping = true;
  try {
    for (let item = nextPending(); item && conn?.online; item = nextPending()) {
      const body = { conversationId: item.conversationId, clientMsgId: item.clientMsgId, contentType: "text/plain", body: item.body };
      if (item.media) body.media = item.media;
      try {
        await acceptDirect(store.conversations.get(item.conversationId));
        store.acked((await conn.request("send", body)).sent);
      } catch (error) {
        if (error.code === "UNAVAILABLE") return; // pumped again after the reconnect
        toast(errorText(error));
        if (error.code === "RATE_LIMITED") await new Promise((r) => setTimeout(r, Math.max(error.retryAfterMs, 100)));
        else item.failed = errorText(error);
      } finally {
        render();
      }
    }
  } finally {
    pumping = false;
  }
}

// An attachment goes to the blob server (or S3) by a signed URL (docs/media.md), then its message is
// queued like any other send. Images carry their size, so the recipient's preview can reserve it.
async function attachFile(file) {
  const conversationId = openId;
  if (!file || !conversationId) return;
  try {
    const asked = { conversationId, contentType: file.type, sizeBytes: String(file.size) };
    const granted = (await conn.request("requestUpload", asked)).uploadUrl;
    const put = await fetch(granted.url, { method: "PUT", headers: { "Content-Type": file.type }, body: file });
    const answer = await put.json().catch(() => ({ code: "UNAVAILABLE", message: `upload failed (${put.status})` }));
    if (!put.ok) throw answer;
    const media = { key: granted.key, contentType: file.type, sizeBytes: String(file.size), receipt: answer.receipt, fileName: file.name.slice(0, 255) };
    if (granted.confirm) { // S3 answers no receipt: the edge heads the object and gives it
      const stored = { key: granted.key, contentType: file.type, sizeBytes: String(file.size) };
      media.receipt = (await conn.request("confirmUpload", stored)).uploadConfirmed.receipt;
    }
    if (file.type.startsWith("image/")) {
      const bitmap = await createImageBitmap(file).catch(() => null);
      if (bitmap) Object.assign(media, { width: bitmap.width, height: bitmap.height });
      bitmap?.close();
    }
    store.addPending(conversationId, crypto.randomUUID(), "", media);
    pumpSends();
  } catch (error) {
    toast(errorText(error));
  }
  render();
}

// Download URLs are short-lived (10 min): one request per key, reused while it is fresh.
const mediaUrls = new Map();
function mediaUrl(conversationId, key) {
  const known = mediaUrls.get(key);
  if (known && known.freshUntil > Date.now()) return known.url;
  const url = conn
    .request("requestDownloads", { conversationId, keys: [key] })
    .then((reply) => reply.downloadUrls.urls[0].url);
  mediaUrls.set(key, { url, freshUntil: Date.now() + 8 * 60_000 });
  url.catch(() => mediaUrls.delete(key));
  return url;
}

// Answering a direct chat accepts it: openDirect from our side too (idempotent), so the pair
// now see each other's presence (docs/protocol.md "contact, presence"). Once per chat per page.
async function acceptDirect(conv) {
  const peerId = conv && store.peerOf(conv);
  if (!peerId || conv.accepted) return;
  await conn.request("openDirect", { peerId });
  conv.accepted = true;
}

const nextPending = () => [...store.pending.values()].find((item) => !item.failed);

function composerInput() {
  clearTimeout(typingState.idleTimer);
  typingState.idleTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
  if (!openId || Date.now() - typingState.lastSentAt < TYPING_EVERY_MS) return;
  typingState.active = true;
  typingState.lastSentAt = Date.now();
  conn.tell("typing", { conversationId: openId, active: true });
}

function stopTyping() {
  clearTimeout(typingState.idleTimer);
  if (typingState.active && openId) conn.tell("typing", { conversationId: openId, active: false });
  typingState.active = false;
  typingState.lastSentAt = 0;
}

async function showReadBy(conv, message) {
  try {
    const reply = await conn.request("readBy", { conversationId: conv.id, seq: message.seq });
    const readBy = reply.readBy.readBy || [];
    const deliveredTo = reply.readBy.deliveredTo || [];
    $("read-by").textContent =
      `#${message.seq} read by: ${readBy.join(", ") || "nobody yet"}` +
      (deliveredTo.length ? ` · delivered to: ${deliveredTo.join(", ")}` : "");
    $("read-by").hidden = false;
  } catch (error) {
    toast(errorText(error));
  }
}

// Delete one of our messages for everyone: the answer is its deletion entry, applied at once.
async function deleteMessage(conv, message) {
  try {
    const reply = await conn.request("deleteMessage", { conversationId: conv.id, seq: message.seq });
    takeMessage(reply.messageDeleted);
  } catch (error) {
    toast(errorText(error));
  }
  render();
}

async function conversationChange(kind, body) {
  try {
    const reply = await conn.request(kind, body);
    return store.upsertConversation(reply.conversation);
  } catch (error) {
    toast(errorText(error));
    return null;
  } finally {
    render();
  }
}

const splitIds = (text) => text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);

function wireForms() {
  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    logIn(false);
  });
  $("signup-button").addEventListener("click", () => $("login-form").reportValidity() && logIn(true));
  $("logout-button").addEventListener("click", logOut);
  $("direct-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const conv = await conversationChange("openDirect", { peerId: $("direct-peer").value.trim() });
    if (conv) {
      $("direct-peer").value = "";
      openConversation(conv.id);
    }
  });
  $("group-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { title: $("group-title").value.trim(), memberIds: splitIds($("group-members").value) };
    const conv = await conversationChange("createGroup", body);
    if (conv) {
      $("group-title").value = $("group-members").value = "";
      openConversation(conv.id);
    }
  });
  $("add-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const userIds = splitIds($("add-members").value);
    if (await conversationChange("updateGroup", { conversationId: openId, addMembers: { userIds } })) $("add-members").value = "";
  });
  $("rename-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (await conversationChange("updateGroup", { conversationId: openId, rename: $("rename-title").value.trim() })) $("rename-title").value = "";
  });
  $("leave-button").addEventListener("click", async () => {
    const id = openId;
    if (await conversationChange("updateGroup", { conversationId: id, removeMember: store.me })) {
      store.forget(id);
      openId = null;
      render();
    }
  });
  $("group-button").addEventListener("click", () => ($("group-panel").hidden = !$("group-panel").hidden));
  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    sendMessage();
  });
  $("composer-text").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      sendMessage();
    }
  });
  $("composer-text").addEventListener("input", composerInput);
  $("composer-file").addEventListener("change", (e) => {
    attachFile(e.target.files[0]);
    e.target.value = "";
  });
  $("messages").addEventListener("scroll", async () => {
    const conv = store?.conversations.get(openId);
    if (!conv || $("messages").scrollTop > 40 || !conv.hasOlder) return;
    const box = $("messages");
    const fromBottom = box.scrollHeight - box.scrollTop;
    await loadOlder(conv);
    render();
    box.scrollTop = box.scrollHeight - fromBottom; // keep what was on screen in place
  });
  document.addEventListener("visibilitychange", () => openId && readOpen().then(render));
}

const actions = {
  open: (id) => openConversation(id),
  readBy: (conv, message) => showReadBy(conv, message),
  deleteMessage: (conv, message) => deleteMessage(conv, message),
  mediaUrl: (conv, key) => mediaUrl(conv.id, key),
  removeMember: (conv, userId) => conversationChange("updateGroup", { conversationId: conv.id, removeMember: userId }),
};

function render() {
  if (!store) return;
  paint(store, openId, actions);
}

boot();
