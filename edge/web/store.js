// What the web client knows: conversations, their messages by seq, cursors, presence, typing.
// No DOM and no socket: app.js feeds it frames and renders from it. Ids stay strings; seqs
// are compared as BigInt (they may pass 2^53).

export const seqOf = (value) => BigInt(value || "0");
const maxSeq = (a, b) => (seqOf(a) >= seqOf(b) ? String(a || "0") : String(b || "0"));

export class ChatStore {
  constructor(me) {
    this.me = me;
    this.conversations = new Map(); // id -> conversation (see conversationFrom)
    this.pending = new Map(); // clientMsgId -> {clientMsgId, conversationId, body, failed}
    this.presence = new Map(); // userId -> {status, lastSeenMs}
    this.typing = new Map(); // conversationId -> Map(userId -> expiresAtMs)
    this.peers = new Map(); // direct conversationId -> the other member
  }

  // A Conversation (or a ConversationSummary's) as the client keeps it; keeps what it knew.
  upsertConversation(conversation, summary = null) {
    const id = conversation.conversationId;
    const known = this.conversations.get(id);
    const row = known || {
      id,
      messages: new Map(),
      loaded: false, // a first page of history was fetched
      hasOlder: true,
      unread: 0n,
      readSeq: "0",
      othersDelivered: "0",
      othersRead: "0",
      lastMessage: null,
    };
    this.conversations.set(id, row);
    row.kind = conversation.kind || row.kind || "CONVERSATION_KIND_DIRECT";
    row.title = conversation.title || "";
    if (conversation.members) row.members = conversation.members;
    const peer = (conversation.members || []).find((m) => m.userId !== this.me);
    if (peer && row.kind !== "CONVERSATION_KIND_GROUP") this.peers.set(id, peer.userId);
    if (summary?.peerId) this.peers.set(id, summary.peerId); // list rows name a direct chat's peer
    row.lastSeq = maxSeq(row.lastSeq, conversation.lastSeq);
    row.lastActivityMs = Math.max(Number(row.lastActivityMs || 0), Number(conversation.lastActivityMs || 0));
    if (summary) {
      row.unread = seqOf(summary.unread);
      row.readSeq = maxSeq(row.readSeq, summary.readSeq);
      if (summary.lastMessage) row.lastMessage = summary.lastMessage;
    }
    return row;
  }

  forget(conversationId) {
    this.conversations.delete(conversationId);
  }

  isGroup(conv) {
    return conv.kind === "CONVERSATION_KIND_GROUP";
  }

  // The other member of a direct chat: from its members, or its list row's peerId.
  peerOf(conv) {
    if (this.isGroup(conv)) return null;
    const other = (conv.members || []).find((m) => m.userId !== this.me);
    return other ? other.userId : this.peers.get(conv.id) || null;
  }

  titleOf(conv) {
    return this.isGroup(conv) ? conv.title || "(untitled group)" : this.peerOf(conv) || "direct chat";
  }

  // Newest activity first.
  sortedConversations() {
    return [...this.conversations.values()].sort(
      (a, b) => b.lastActivityMs - a.lastActivityMs || (seqOf(b.id) > seqOf(a.id) ? 1 : -1),
    );
  }

  // A stored message (pushed, resumed or paged): true when it is new to us. A deletion entry
  // (deletesSeq set, docs/protocol.md "deleteMessage") holds its seq like a message and marks
  // the message it names deleted; it is never shown itself.
  addMessage(message, { viewing = false } = {}) {
    const conv = this.conversations.get(message.conversationId);
    if (!conv) return false;
    if (conv.messages.has(message.seq)) return false;
    conv.messages.set(message.seq, message);
    if (message.deletesSeq) this.markDeleted(conv, message.deletesSeq);
    if (seqOf(message.seq) >= seqOf(conv.lastSeq)) {
      conv.lastSeq = message.seq;
      if (!message.deletesSeq) conv.lastMessage = message;
      conv.lastActivityMs = Math.max(conv.lastActivityMs, Number(message.sentAtMs || 0));
      const unseen = seqOf(message.seq) > seqOf(conv.readSeq);
      if (!viewing && unseen && message.senderId !== this.me) conv.unread = seqOf(conv.lastSeq) - seqOf(conv.readSeq);
    }
    this.stopTyping(message.conversationId, message.senderId);
    return true;
  }

  markDeleted(conv, seq) {
    const target = conv.messages.get(seq);
    if (!target) return; // not loaded: history brings it already deleted
    const shell = { conversationId: target.conversationId, seq, messageId: target.messageId, senderId: target.senderId, sentAtMs: target.sentAtMs, deleted: true };
    conv.messages.set(seq, shell);
    if (conv.lastMessage?.seq === seq) conv.lastMessage = shell;
  }

  // The highest seq held with none missing below it since the first loaded one.
  contiguousSeq(conv) {
    const seqs = [...conv.messages.keys()].map(seqOf).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    if (seqs.length === 0) return 0n;
    let top = seqs[0];
    for (const seq of seqs) {
      if (seq > top + 1n) break;
      top = seq;
    }
    return top;
  }

  // The messages to show, oldest first (deletion entries are not shown, only applied).
  messagesOf(conv) {
    return [...conv.messages.values()]
      .filter((m) => !m.deletesSeq)
      .sort((a, b) => (seqOf(a.seq) < seqOf(b.seq) ? -1 : 1));
  }

  oldestSeq(conv) {
    const seqs = [...conv.messages.keys()].map(seqOf);
    return seqs.length ? seqs.reduce((a, b) => (a < b ? a : b)) : 0n;
  }

  // `media`: an attachment already uploaded (its MediaRef), sent with the message.
  addPending(conversationId, clientMsgId, body, media = null) {
    const item = { clientMsgId, conversationId, body, media, failed: null };
    this.pending.set(clientMsgId, item);
    return item;
  }

  pendingOf(conversationId) {
    return [...this.pending.values()].filter((p) => p.conversationId === conversationId);
  }

  // The `sent` ack: the pending message becomes a stored one of ours.
  acked(sent) {
    const item = this.pending.get(sent.clientMsgId);
    this.pending.delete(sent.clientMsgId);
    if (!item) return;
    this.addMessage(
      {
        conversationId: sent.conversationId,
        seq: sent.seq,
        messageId: sent.messageId,
        senderId: this.me,
        clientMsgId: sent.clientMsgId,
        body: item.body,
        sentAtMs: sent.sentAtMs,
        ...(item.media ? { media: item.media } : {}),
      },
      { viewing: true },
    );
  }

  receipt(receipt) {
    const conv = this.conversations.get(receipt.conversationId);
    if (!conv) return;
    const read = receipt.kind === "RECEIPT_KIND_READ";
    if (receipt.userId === this.me) {
      if (read) this.markRead(conv, receipt.upToSeq); // read on another of my devices
      return;
    }
    conv.othersDelivered = maxSeq(conv.othersDelivered, receipt.upToSeq);
    if (read) conv.othersRead = maxSeq(conv.othersRead, receipt.upToSeq);
  }

  markRead(conv, upToSeq) {
    conv.readSeq = maxSeq(conv.readSeq, upToSeq);
    const left = seqOf(conv.lastSeq) - seqOf(conv.readSeq);
    conv.unread = left > 0n ? left : 0n;
  }

  // sent / delivered / read for one of our stored messages, as far as we know.
  tickOf(conv, message) {
    const seq = seqOf(message.seq);
    if (seqOf(conv.othersRead) >= seq) return "read";
    if (seqOf(conv.othersDelivered) >= seq) return "delivered";
    return "sent";
  }

  setPresence(event) {
    this.presence.set(event.userId, {
      status: event.status === "PRESENCE_STATUS_ONLINE" ? "online" : "offline",
      lastSeenMs: Number(event.lastSeenMs || 0),
    });
  }

  presenceOf(userId) {
    return this.presence.get(userId)?.status || "unknown";
  }

  setTyping(event, nowMs, ttlMs) {
    if (event.userId === this.me) return;
    const users = this.typing.get(event.conversationId) || new Map();
    if (event.active) users.set(event.userId, nowMs + ttlMs);
    else users.delete(event.userId);
    this.typing.set(event.conversationId, users);
  }

  stopTyping(conversationId, userId) {
    this.typing.get(conversationId)?.delete(userId);
  }

  typingIn(conversationId, nowMs) {
    const users = this.typing.get(conversationId);
    if (!users) return [];
    return [...users].filter(([, until]) => until > nowMs).map(([user]) => user);
  }
}
