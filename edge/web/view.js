// Rendering: the conversation list and the open chat, painted from the store (store.js).
// Elements are built by dom.js from text nodes only.

import { el, $ } from "./dom.js";

const TOAST_MS = 6000;
export const DELETED_TEXT = "This message was deleted";

let toastTimer = null;
export function toast(text) {
  $("toast").textContent = text;
  $("toast").hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => ($("toast").hidden = true), TOAST_MS);
}

function presenceDot(store, userId) {
  return el("span", { class: "presence", "data-presence": userId ? store.presenceOf(userId) : "none" });
}

// Paints the list and the open chat from the store; `actions` are what clicks do
// ({open(id), readBy(conv, message), deleteMessage(conv, message), removeMember(conv, userId)}).
export function render(store, openId, actions) {
  renderList(store, openId, actions);
  renderChat(store, openId, actions);
}

function renderList(store, openId, actions) {
  const items = store.sortedConversations().map((conv) => {
    const peer = store.peerOf(conv);
    const last = conv.lastMessage;
    const preview = last ? `${last.senderId}: ${last.deleted || last.deletesSeq ? DELETED_TEXT : last.body || ""}` : "";
    const li = el(
      "li",
      { "data-conversation-id": conv.id, "data-kind": store.isGroup(conv) ? "group" : "direct", class: conv.id === openId ? "open" : "" },
      presenceDot(store, peer),
      el("span", { class: "title" }, store.titleOf(conv)),
      conv.unread > 0n ? el("span", { class: "unread" }, String(conv.unread)) : el("span"),
      el("span", { class: "preview" }, preview),
    );
    li.addEventListener("click", () => actions.open(conv.id));
    return li;
  });
  $("conversations").replaceChildren(...items);
}

function renderChat(store, openId, actions) {
  const conv = store.conversations.get(openId);
  $("chat").hidden = !conv;
  $("no-chat").hidden = Boolean(conv);
  if (!conv) return;
  const group = store.isGroup(conv);
  const peer = store.peerOf(conv);
  $("chat").classList.toggle("group", group);
  $("chat").dataset.conversationId = conv.id;
  $("chat-title").textContent = store.titleOf(conv);
  $("chat-presence").hidden = group;
  $("chat-presence").dataset.presence = peer ? store.presenceOf(peer) : "none";
  $("group-button").hidden = !group;
  if (group) renderMembers(store, conv, actions);
  $("history-status").textContent = conv.loaded ? (conv.hasOlder ? "scroll up for older messages" : "start of the conversation") : "loading…";

  const box = $("messages");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 30;
  const rows = store.messagesOf(conv).map((message) => messageRow(store, conv, message, group, actions));
  for (const item of store.pendingOf(conv.id)) rows.push(pendingRow(item));
  $("message-list").replaceChildren(...rows);
  if (atBottom) scrollToBottom();

  const typing = store.typingIn(conv.id, Date.now());
  $("typing").textContent = typing.length ? `${typing.join(", ")} ${typing.length > 1 ? "are" : "is"} typing…` : "";
}

function messageRow(store, conv, message, group, actions) {
  const mine = message.senderId === store.me;
  const time = new Date(Number(message.sentAtMs || 0)).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const meta = el("span", { class: "meta" }, time);
  if (message.deleted) {
    const attrs = { class: mine ? "message mine deleted" : "message deleted", "data-seq": message.seq, "data-sender": message.senderId, "data-deleted": "true" };
    return el("li", attrs, group && !mine ? el("span", { class: "sender" }, message.senderId) : "", el("span", { class: "body" }, DELETED_TEXT), meta);
  }
  if (mine) {
    const remove = el("button", { type: "button", class: "delete", title: "Delete for everyone" }, "Delete");
    remove.addEventListener("click", () => actions.deleteMessage(conv, message));
    meta.append(remove);
    const state = store.tickOf(conv, message);
    const tick = el("span", { class: "tick", "data-state": state, title: state }, state === "sent" ? "✓" : "✓✓");
    if (group) tick.addEventListener("click", () => actions.readBy(conv, message));
    meta.append(tick);
  }
  return el(
    "li",
    { class: mine ? "message mine" : "message", "data-seq": message.seq, "data-sender": message.senderId },
    group && !mine ? el("span", { class: "sender" }, message.senderId) : "",
    message.media ? attachment(conv, message.media, actions) : "",
    el("span", { class: "body" }, message.body || ""),
    meta,
  );
}

// An image shows as a preview once its signed URL is in; any other file is a link to it.
function attachment(conv, media, actions) {
  const name = media.fileName || media.contentType;
  if (media.contentType.startsWith("image/")) {
    const img = el("img", { class: "attachment", alt: name, width: media.width, height: media.height });
    actions.mediaUrl(conv, media.key).then((url) => img.setAttribute("src", url), () => {});
    return img;
  }
  const link = el("a", { class: "attachment", href: "#", title: media.contentType }, `📎 ${name}`);
  link.addEventListener("click", (e) => {
    e.preventDefault();
    actions.mediaUrl(conv, media.key).then((url) => window.open(url, "_blank", "noopener"), () => {});
  });
  return link;
}

function pendingRow(item) {
  const state = item.failed ? "failed" : "pending";
  const tick = el("span", { class: "tick", "data-state": state, title: item.failed || "sending" }, item.failed ? "!" : "…");
  return el("li", { class: "message mine", "data-pending": item.clientMsgId }, el("span", { class: "body" }, item.body || item.media?.fileName || ""), el("span", { class: "meta" }, tick));
}

function renderMembers(store, conv, actions) {
  const rows = (conv.members || []).map((member) => {
    const role = member.role === "ROLE_OWNER" ? " (owner)" : member.role === "ROLE_ADMIN" ? " (admin)" : "";
    const li = el("li", { "data-member": member.userId }, member.userId + role);
    if (member.userId !== store.me) {
      const remove = el("button", { type: "button", class: "remove" }, "Remove");
      remove.addEventListener("click", () => actions.removeMember(conv, member.userId));
      li.append(" ", remove);
    }
    return li;
  });
  $("group-members-list").replaceChildren(...rows);
}

export function scrollToBottom() {
  const box = $("messages");
  box.scrollTop = box.scrollHeight;
}
