// The connection to a hubbub edge over the JSON subprotocol (docs/protocol.md): hello,
// refs and replies, heartbeats, reconnect with backoff, moving off a draining edge. Knows
// frames, not chats.

import { sameEdge } from "./discovery.js";

const SUBPROTOCOL = "hubbub.v1.json";
const PUSH_KINDS = ["message", "messageDeleted", "receipt", "typing", "presence", "conversationEvent"];
const BACKOFF_FIRST_MS = 250;
const BACKOFF_MAX_MS = 8000;

// An error frame (or a lost connection) as a thrown value: `code` is the stable code.
export class ServerError extends Error {
  constructor(error) {
    super(error.message || error.code);
    this.code = error.code;
    this.retryAfterMs = Number(error.retryAfterMs || 0);
    this.fatal = Boolean(error.fatal);
  }
}

// Events: "welcome", "status" (detail: {online}), "auth-lost" (detail: ServerError), and one
// per push kind (detail: the push's body), e.g. "message". `locate` picks the edge before each
// connect (discovery.js).
export class HubbubConnection extends EventTarget {
  constructor(locate, userId, deviceId) {
    super();
    this.locate = locate;
    this.userId = userId;
    this.url = null; // the edge connected to (or last connected to)
    this.edgeId = ""; // its Welcome's edgeId: discovery's `previous`
    this.nextUrl = null; // where a drain move goes
    this.connecting = false;
    this.moving = false;
    this.deviceId = deviceId;
    this.ws = null;
    this.online = false;
    this.nextRef = 1;
    this.waiting = new Map(); // ref -> {resolve, reject, pages}
    this.auth = null; // {token} once known
    this.stopped = true;
    this.backoffMs = BACKOFF_FIRST_MS;
    this.heartbeat = null;
    this.lastSentAt = 0;
    window.addEventListener("offline", () => this.wentOffline());
    window.addEventListener("online", () => this.stopped || this.online || this.openSoon(0));
  }

  // Log in or sign up (auth = {logIn: {...}} or {signUp: {...}}) or use a token ({token}).
  // Resolves with the Welcome; later drops reconnect by themselves with the token.
  start(auth) {
    this.stopped = false;
    if (auth.token) this.auth = auth; // a stored token: retry through outages with it
    return new Promise((resolve, reject) => this.open(auth, resolve, reject));
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.moveTimer);
    if (this.ws) {
      this.sendFrame({ goodbye: {} });
      this.ws.close(1000, "bye");
    }
  }

  async open(auth, resolve, reject) {
    this.connecting = true;
    const url = this.nextUrl || (await this.where());
    this.nextUrl = null;
    this.connecting = false;
    if (this.stopped && !resolve) return;
    this.url = url;
    const ws = new WebSocket(url, SUBPROTOCOL);
    this.ws = ws;
    const ref = this.takeRef();
    this.waiting.set(ref, {
      resolve: (frame) => {
        const welcome = frame.welcome;
        this.auth = { token: welcome.token || auth.token };
        this.deviceId = welcome.deviceId;
        this.edgeId = welcome.edgeId || "";
        this.online = true;
        this.backoffMs = BACKOFF_FIRST_MS;
        this.startHeartbeat(welcome.heartbeatIntervalMs || 15000);
        this.emit("status", { online: true });
        this.emit("welcome", welcome);
        resolve?.(welcome);
      },
      reject: (error) => reject?.(error),
    });
    ws.onopen = () => {
      const hello = { ...auth, deviceId: this.deviceId || "", clientName: "hubbub-web/0.1" };
      this.sendFrame({ ref, hello });
    };
    ws.onmessage = (event) => this.receive(JSON.parse(event.data));
    ws.onclose = (event) => this.closed(ws, event);
  }

  // The browser went offline: the closing handshake cannot reach the edge, so the socket may
  // take long to report its close; count it closed now (its own onclose is then ignored).
  wentOffline() {
    const ws = this.ws;
    if (!ws) return;
    ws.close(3000, "offline");
    this.closed(ws, { code: 3000 });
  }

  closed(ws, event) {
    if (ws !== this.ws) return;
    this.ws = null;
    clearInterval(this.heartbeat);
    const wasOnline = this.online;
    this.online = false;
    const lost = new ServerError({ code: "UNAVAILABLE", message: "connection lost" });
    for (const waiter of this.waiting.values()) waiter.reject(this.fatalError || lost);
    this.waiting.clear();
    const fatal = this.fatalError;
    this.fatalError = null;
    if (event.code === 4001 || !this.auth) {
      // Refused credentials or token, or a first log-in that failed: no retrying by ourselves.
      const hadToken = Boolean(this.auth);
      this.stopped = true;
      this.auth = null;
      if (hadToken) this.emit("auth-lost", fatal || new ServerError({ code: "UNAUTHENTICATED" }));
      return;
    }
    if (this.stopped) return; // logged out on purpose
    if (this.moving) {
      this.moving = false; // a planned move: straight on to the next edge, no offline banner
      this.openSoon(0);
      return;
    }
    if (wasOnline) this.emit("status", { online: false });
    this.openSoon(this.backoffMs);
  }

  where() {
    return this.locate({ userId: this.userId, deviceId: this.deviceId, previousEdgeId: this.edgeId });
  }

  // The edge is draining (docs/protocol.md "Drain"): after afterMs, ask discovery for an edge
  // (this one as `previous`, never chosen while draining) and move there; the reconnect resumes
  // what was missed and sends again what was not acked, with the same clientMsgIds. Discovery
  // naming this edge again (no other one): stay, and the edge closes us later.
  moveSoon(reconnect) {
    clearTimeout(this.moveTimer);
    this.moveTimer = setTimeout(async () => {
      const ws = this.ws;
      if (!ws || this.stopped) return;
      const url = reconnect.edgeUrl || (await this.where());
      if (ws !== this.ws || sameEdge(url, this.url)) return;
      this.nextUrl = url;
      this.moving = true;
      ws.close(1000, "moving to another edge");
    }, Number(reconnect.afterMs || 0));
  }

  openSoon(delayMs) {
    clearTimeout(this.retryTimer);
    if (!navigator.onLine) return; // the "online" event opens it
    this.retryTimer = setTimeout(() => {
      if (this.stopped || this.ws || this.connecting) return;
      this.backoffMs = Math.min(BACKOFF_MAX_MS, this.backoffMs * 2);
      this.open(this.auth);
    }, delayMs * (0.75 + Math.random() * 0.5));
  }

  receive(frame) {
    const ref = frame.ref || "0";
    if (ref !== "0" && this.waiting.has(ref)) {
      const waiter = this.waiting.get(ref);
      if (frame.error) {
        this.waiting.delete(ref);
        waiter.reject(new ServerError(frame.error));
      } else if (frame.history && waiter.pages) {
        waiter.pages.push(frame.history); // a resume answer: pages, then resumeDone
      } else {
        this.waiting.delete(ref);
        waiter.resolve(waiter.pages ? { ...frame, pages: waiter.pages } : frame);
      }
      return;
    }
    if (frame.reconnect) {
      this.moveSoon(frame.reconnect);
      return;
    }
    if (frame.error) {
      if (frame.error.fatal) this.fatalError = new ServerError(frame.error);
      this.emit("server-error", new ServerError(frame.error));
      return;
    }
    for (const kind of PUSH_KINDS) {
      if (frame[kind]) this.emit(kind, frame[kind]);
    }
  }

  // Send a frame that gets one answer: resolves with the answering frame, rejects with ServerError.
  request(kind, body, { pages = false } = {}) {
    if (!this.online) {
      return Promise.reject(new ServerError({ code: "UNAVAILABLE", message: "offline" }));
    }
    const ref = this.takeRef();
    return new Promise((resolve, reject) => {
      this.waiting.set(ref, { resolve, reject, pages: pages ? [] : null });
      this.sendFrame({ ref, [kind]: body });
    });
  }

  // A frame with no answer (typing).
  tell(kind, body) {
    if (this.online) this.sendFrame({ [kind]: body });
  }

  sendFrame(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(frame));
      this.lastSentAt = Date.now();
    }
  }

  startHeartbeat(intervalMs) {
    clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => {
      if (Date.now() - this.lastSentAt >= intervalMs / 2) {
        this.request("ping", { clientTimeMs: String(Date.now()) }).catch(() => {});
      }
    }, intervalMs / 4);
  }

  takeRef() {
    return String(this.nextRef++);
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
