/* Parley's embeddable chat widget, speaking docs/widget-protocol.md; no framework, no build step.
 *
 * Embed: <script src="https://HOST/widget.js" data-widget="WIDGET_ID" async></script>
 * The pure logic (thread state, backoff, linkify, locale, size checks, the outbox) comes first
 * and is exported to Node for its unit tests; the browser part boots only where a document is.
 */
(function () {
  "use strict";

  // ---------------------------------------------------------------- strings

  const STRINGS = {
    en: {
      openChat: "Open chat",
      closeChat: "Close chat",
      close: "Close",
      title: "Chat",
      messages: "Messages",
      input: "Message",
      placeholder: "Write a message…",
      send: "Send",
      attach: "Attach a file",
      typing: "Typing…",
      ended: "This conversation has ended.",
      newConversation: "Start a new conversation",
      unread: "{n} unread",
      pending: "Sending",
      sent: "Sent",
      received: "Received",
      read: "Read",
      failed: "Not sent",
      reconnecting: "Reconnecting…",
      offline: "Offline: your messages will be sent when the connection is back.",
      tooLarge: "{name} is larger than {max}.",
      badType: "{name}: files of this type cannot be sent.",
      uploadFailed: "{name} could not be uploaded.",
      uploading: "Uploading {name}",
      unavailable: "The chat is not available right now.",
      file: "File",
    },
    de: {
      openChat: "Chat öffnen",
      closeChat: "Chat schließen",
      close: "Schließen",
      title: "Chat",
      messages: "Nachrichten",
      input: "Nachricht",
      placeholder: "Nachricht schreiben…",
      send: "Senden",
      attach: "Datei anhängen",
      typing: "Schreibt…",
      ended: "Diese Unterhaltung ist beendet.",
      newConversation: "Neue Unterhaltung beginnen",
      unread: "{n} ungelesen",
      pending: "Wird gesendet",
      sent: "Gesendet",
      received: "Empfangen",
      read: "Gelesen",
      failed: "Nicht gesendet",
      reconnecting: "Verbindung wird wiederhergestellt…",
      offline: "Offline: Ihre Nachrichten werden gesendet, sobald die Verbindung zurück ist.",
      tooLarge: "{name} ist größer als {max}.",
      badType: "{name}: Dateien dieses Typs können nicht gesendet werden.",
      uploadFailed: "{name} konnte nicht hochgeladen werden.",
      uploading: "{name} wird hochgeladen",
      unavailable: "Der Chat ist gerade nicht verfügbar.",
      file: "Datei",
    },
  };

  /** The table to speak: the widget's theme.locale, else the page's lang, else English. */
  function pickLocale(themeLocale, pageLang) {
    for (const wanted of [themeLocale, pageLang]) {
      const primary = String(wanted || "").toLowerCase().split(/[-_]/)[0];
      if (Object.prototype.hasOwnProperty.call(STRINGS, primary)) return primary;
    }
    return "en";
  }

  function translate(locale, key, vars) {
    const table = STRINGS[locale] || STRINGS.en;
    const text = table[key] !== undefined ? table[key] : STRINGS.en[key];
    return String(text).replace(/\{(\w+)\}/g, (all, name) =>
      vars && vars[name] !== undefined ? String(vars[name]) : all
    );
  }

  // ---------------------------------------------------------------- small pure helpers

  /** Reconnect delay: exponential, capped, with jitter in the upper half (never a burst at 0). */
  function backoffDelay(attempt, random, baseMs, capMs) {
    const base = baseMs === undefined ? 500 : baseMs;
    const cap = capMs === undefined ? 30000 : capMs;
    const ceiling = Math.min(cap, base * Math.pow(2, Math.max(0, Math.min(attempt, 30))));
    return Math.round(ceiling / 2 + (random || Math.random)() * (ceiling / 2));
  }

  /** When to renew a session: a minute before it expires, never sooner than 5 s from now. */
  function renewalDelay(expiresAtSeconds, nowMs) {
    return Math.max(5000, expiresAtSeconds * 1000 - nowMs - 60000);
  }

  /** Redis stream ids ("ms-seq") compared numerically; null is older than everything. */
  function compareEventIds(a, b) {
    if (a === b) return 0;
    if (!a) return -1;
    if (!b) return 1;
    const [am, as] = String(a).split("-").map(Number);
    const [bm, bs] = String(b).split("-").map(Number);
    return am !== bm ? (am < bm ? -1 : 1) : (as || 0) < (bs || 0) ? -1 : (as || 0) > (bs || 0) ? 1 : 0;
  }

  /** The API base from the script's own src: https://HOST/widget.js → https://HOST. */
  function apiBase(src) {
    const url = new URL(src);
    return url.origin + url.pathname.replace(/\/widget(\/[^/]*)?\.js$/, "").replace(/\/$/, "");
  }

  /** A URL fit for href/src: http(s) only, so text can never smuggle javascript: in. */
  function safeUrl(value) {
    try {
      const url = new URL(String(value));
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (_) {
      return null;
    }
  }

  function safeColor(value) {
    return /^#[0-9a-fA-F]{6}$/.test(String(value || "")) ? value : null;
  }

  function formatBytes(bytes) {
    if (bytes >= 1024 * 1024) return Math.round((bytes / (1024 * 1024)) * 10) / 10 + " MB";
    if (bytes >= 1024) return Math.round(bytes / 1024) + " KB";
    return bytes + " B";
  }

  const DEFAULT_UPLOAD = {
    max_bytes: 5 * 1024 * 1024,
    types: ["image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"],
  };

  /** Why a file may not be sent under the widget's limits ("too-large", "type"), or null. */
  function uploadProblem(file, upload) {
    const limits = Object.assign({}, DEFAULT_UPLOAD, upload || {});
    if (!limits.types.includes(file.type)) return "type";
    if (file.size > limits.max_bytes) return "too-large";
    return null;
  }

  function newClientMessageId() {
    const bytes = new Uint8Array(16);
    globalThis.crypto.getRandomValues(bytes);
    return "c_" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  const URL_PATTERN = /\b(?:https?:\/\/|www\.)[^\s<>"']+/gi;

  /** Text as tokens, never markup: {type:"text"|"link"|"break"}; links are http(s) only. */
  function linkify(text) {
    const tokens = [];
    String(text || "")
      .split(/\r?\n/)
      .forEach((line, index) => {
        if (index > 0) tokens.push({ type: "break" });
        let at = 0;
        for (const match of line.matchAll(URL_PATTERN)) {
          let raw = match[0];
          // Punctuation that ends a sentence is not part of the link; a ")" only if unopened.
          const unopened = (s) => s.split(")").length > s.split("(").length;
          while (/[.,;:!?'\]]$/.test(raw) || (raw.endsWith(")") && unopened(raw))) {
            raw = raw.slice(0, -1);
          }
          const href = safeUrl(/^www\./i.test(raw) ? "https://" + raw : raw);
          if (!href) continue;
          if (match.index > at) tokens.push({ type: "text", text: line.slice(at, match.index) });
          tokens.push({ type: "link", text: raw, href });
          at = match.index + raw.length;
        }
        if (at < line.length) tokens.push({ type: "text", text: line.slice(at) });
      });
    return tokens;
  }

  // ---------------------------------------------------------------- thread state

  // The ticks of the visitor's own messages only move forward.
  const TICK_RANK = { failed: -1, pending: 0, sent: 1, received: 2, read: 3 };
  const READ_STATES = ["generated", "sending", "delivered", "completed", "read"];

  function tickOf(status) {
    if (status === "pending" || status === "sent" || status === "failed") return status;
    return READ_STATES.includes(status) ? "read" : "received";
  }

  function laterTick(a, b) {
    return (TICK_RANK[b] || 0) > (TICK_RANK[a] || 0) ? b : a;
  }

  function fromServer(raw) {
    const inbound = raw.direction === "inbound";
    const content = raw.content || {};
    return {
      key: raw.client_message_id || raw.id,
      id: raw.id || null,
      client_message_id: raw.client_message_id || null,
      conversation_id: raw.conversation_id || null,
      direction: inbound ? "inbound" : "outbound",
      text: raw.text || "",
      payload: raw.payload || null,
      parts: Array.isArray(raw.parts) ? raw.parts : [],
      attachments: Array.isArray(raw.attachments) ? raw.attachments : content.attachments || [],
      status: inbound ? tickOf(raw.status) : raw.status || "sent",
      created_at: raw.created_at || null,
      streaming: false,
    };
  }

  /** The visitor's conversation as the widget shows it; ``apply`` folds one event in and says
   * what changed, so a message seen twice (echo, replay, history) is shown once. */
  class Thread {
    constructor() {
      this.messages = [];
      this.conversationId = null;
      this.ended = false;
      this.typing = false;
      this.lastEventId = null;
    }

    clear() {
      this.messages = [];
      this.conversationId = null;
      this.ended = false;
      this.typing = false;
    }

    find(id, clientMessageId) {
      return (
        this.messages.find(
          (m) =>
            (id && m.id === id) || (clientMessageId && m.client_message_id === clientMessageId)
        ) || null
      );
    }

    addLocal(frame) {
      const message = {
        key: frame.client_message_id,
        id: null,
        client_message_id: frame.client_message_id,
        conversation_id: this.conversationId,
        direction: "inbound",
        text: frame.text || "",
        payload: frame.payload || null,
        parts: [],
        attachments: frame.attachments || [],
        status: "pending",
        created_at: new Date().toISOString(),
        streaming: false,
      };
      this.messages.push(message);
      return message;
    }

    ack(frame) {
      const message = this.find(frame.message_id, frame.client_message_id);
      if (frame.conversation_id) this.conversationId = frame.conversation_id;
      if (!message) return null;
      message.id = frame.message_id || message.id;
      message.conversation_id = frame.conversation_id || message.conversation_id;
      message.status = laterTick(message.status === "failed" ? "pending" : message.status, "sent");
      return message;
    }

    fail(clientMessageId) {
      const message = this.find(null, clientMessageId);
      if (message && !message.id) message.status = "failed";
      return message;
    }

    _receive(raw, effect) {
      const incoming = fromServer(raw);
      if (
        this.ended &&
        incoming.conversation_id &&
        incoming.conversation_id !== this.conversationId
      ) {
        // Another tab started the next conversation: this one follows.
        effect.removed.push(...this.messages.map((m) => m.key));
        this.clear();
        effect.ended = true;
      }
      if (incoming.conversation_id) this.conversationId = incoming.conversation_id;
      if (incoming.direction === "outbound") this.typing = false;
      const existing = this.find(incoming.id, incoming.client_message_id);
      if (!existing) {
        this.messages.push(incoming);
        effect.added.push(incoming);
        return;
      }
      const wasStreaming = existing.streaming;
      const tick =
        incoming.direction === "inbound" ? laterTick(existing.status, incoming.status) : null;
      const localFiles = existing.attachments;
      Object.assign(existing, incoming, { key: existing.key });
      if (tick) existing.status = tick;
      existing.attachments = incoming.attachments.map((a) => {
        const local = localFiles.find((l) => l.upload_id && l.upload_id === a.upload_id);
        return local && local.preview ? Object.assign({}, a, { preview: local.preview }) : a;
      });
      effect.changed.push(existing);
      if (wasStreaming) effect.added.push(existing); // the stream's final form is its arrival
    }

    /** Folds one socket event in; answers {added, changed, removed, typing, ended}. */
    apply(event) {
      const effect = { added: [], changed: [], removed: [], typing: false, ended: false };
      switch (event.type) {
        case "message":
          if (event.message) this._receive(event.message, effect);
          break;
        case "typing":
          this.typing = event.state === "on";
          effect.typing = true;
          break;
        case "delta": {
          let message = this.find(event.reply_id, null);
          if (!message) {
            message = fromServer({ id: event.reply_id, direction: "outbound" });
            message.conversation_id = event.conversation_id || this.conversationId;
            message.streaming = true;
            this.messages.push(message);
          }
          if (message.streaming) {
            message.text += event.text || "";
            effect.changed.push(message);
          }
          this.typing = false;
          effect.typing = true;
          break;
        }
        case "stream_reset": {
          const message = this.find(event.reply_id, null);
          if (message && message.streaming) {
            this.messages.splice(this.messages.indexOf(message), 1);
            effect.removed.push(message.key);
          }
          break;
        }
        case "status": {
          const message = this.find(event.message_id, null);
          if (message && message.direction === "inbound") {
            const tick = laterTick(message.status, tickOf(event.status));
            if (tick !== message.status) {
              message.status = tick;
              effect.changed.push(message);
            }
          }
          break;
        }
        case "conversation_ended":
          // A thread with no conversation yet has nothing to end (a late event of the last one).
          if (
            this.conversationId &&
            (!event.conversation_id || event.conversation_id === this.conversationId)
          ) {
            this.ended = true;
            this.typing = false;
            effect.ended = true;
            effect.typing = true;
          }
          break;
        default:
          break;
      }
      if (event.event_id && compareEventIds(event.event_id, this.lastEventId) > 0) {
        this.lastEventId = event.event_id;
      }
      return effect;
    }

    /** Replaces the thread with ``GET /v1/widget/messages``; keeps what is still on its way
     * (unacknowledged local messages, a reply still streaming). */
    load(history) {
      const server = (history.messages || []).map(fromServer);
      const earlier = this.messages;
      const kept = earlier.filter(
        (m) =>
          (m.streaming || !m.id) &&
          !server.some(
            (s) =>
              (m.id && s.id === m.id) ||
              (m.client_message_id && s.client_message_id === m.client_message_id)
          )
      );
      for (const message of server) {
        const before = earlier.find(
          (m) =>
            (m.id && m.id === message.id) ||
            (m.client_message_id && m.client_message_id === message.client_message_id)
        );
        if (before && message.direction === "inbound") {
          message.status = laterTick(message.status, before.status);
        }
      }
      this.messages = server.concat(kept);
      const conversation = history.conversation || null;
      this.conversationId = conversation ? conversation.id : null;
      this.ended = Boolean(conversation && conversation.status === "closed");
      if (compareEventIds(history.last_event_id, this.lastEventId) > 0) {
        this.lastEventId = history.last_event_id;
      }
      return this.messages;
    }

    /** The bot's messages the visitor has not seen (``seen``: ids read here or in another tab). */
    unread(seen) {
      return this.messages.filter(
        (m) =>
          m.direction === "outbound" &&
          m.id &&
          !m.streaming &&
          m.status !== "read" &&
          !(seen && seen.has(m.id))
      ).length;
    }
  }

  /** Messages not yet acknowledged by the server, kept with their client_message_id so a resend
   * after a reconnect is deduplicated server-side. */
  class Outbox {
    constructor() {
      this.items = [];
    }

    add(frame) {
      if (!this.items.some((i) => i.client_message_id === frame.client_message_id)) {
        this.items.push(frame);
      }
      return frame;
    }

    remove(clientMessageId) {
      this.items = this.items.filter((i) => i.client_message_id !== clientMessageId);
    }

    pending() {
      return this.items.slice();
    }
  }

  function messageFrame(clientMessageId, text, payload, attachments) {
    const frame = { type: "message", client_message_id: clientMessageId, text: text || "" };
    if (payload) frame.payload = payload;
    if (attachments && attachments.length) {
      frame.attachments = attachments.map((a) => ({ upload_id: a.upload_id }));
    }
    return frame;
  }

  const internals = {
    STRINGS,
    pickLocale,
    translate,
    backoffDelay,
    renewalDelay,
    compareEventIds,
    apiBase,
    safeUrl,
    safeColor,
    formatBytes,
    uploadProblem,
    newClientMessageId,
    linkify,
    tickOf,
    Thread,
    Outbox,
    messageFrame,
  };
  if (typeof module !== "undefined" && module.exports) module.exports = internals;
  if (typeof document === "undefined" || typeof window === "undefined") return;

  // ---------------------------------------------------------------- the browser

  const STYLE = `
:host { all: initial; --parley-primary: #2563eb; --parley-text: #111827; --parley-muted: #6b7280;
  --parley-bg: #ffffff; --parley-soft: #f3f4f6; font: 15px/1.4 system-ui, -apple-system,
  "Segoe UI", Roboto, sans-serif; color: var(--parley-text); }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
.launcher { position: fixed; right: 20px; bottom: 20px; width: 56px; height: 56px; border: 0;
  border-radius: 50%; background: var(--parley-primary); color: #fff; cursor: pointer;
  box-shadow: 0 4px 14px rgba(0,0,0,.25); z-index: 2147483000; display: grid; place-items: center; }
.launcher svg { width: 26px; height: 26px; fill: currentColor; }
.icon svg { width: 22px; height: 22px; fill: currentColor; display: block; }
.badge { position: absolute; top: -4px; right: -4px; min-width: 22px; height: 22px; padding: 0 6px;
  border-radius: 11px; background: #dc2626; color: #fff; font-size: 12px; font-weight: 700;
  line-height: 22px; text-align: center; }
.panel { position: fixed; right: 20px; bottom: 88px; width: min(380px, calc(100vw - 24px));
  height: min(600px, calc(100vh - 110px)); display: flex; flex-direction: column;
  background: var(--parley-bg); border-radius: 14px; overflow: hidden; z-index: 2147483000;
  box-shadow: 0 10px 40px rgba(0,0,0,.25); animation: parley-in .18s ease-out; }
@keyframes parley-in { from { opacity: 0; transform: translateY(12px); } to { opacity: 1; } }
header { display: flex; align-items: center; gap: 10px; padding: 12px 14px;
  background: var(--parley-primary); color: #fff; }
header img { width: 34px; height: 34px; border-radius: 50%; object-fit: cover; background: #fff; }
header h2 { flex: 1; margin: 0; font-size: 16px; font-weight: 600; }
.icon { border: 0; background: transparent; color: inherit; cursor: pointer; font-size: 20px;
  width: 36px; height: 36px; border-radius: 8px; display: grid; place-items: center; }
.log { flex: 1; overflow-y: auto; padding: 14px; display: flex; flex-direction: column; gap: 8px;
  background: var(--parley-soft); }
.message { display: flex; flex-direction: column; max-width: 85%; gap: 4px; }
.message[data-direction="inbound"] { align-self: flex-end; align-items: flex-end; }
.message[data-direction="outbound"], .greeting { align-self: flex-start; }
.bubble { padding: 8px 12px; border-radius: 14px; background: var(--parley-bg);
  white-space: normal; overflow-wrap: anywhere; }
.message[data-direction="inbound"] .bubble { background: var(--parley-primary); color: #fff; }
.message[data-direction="inbound"] .bubble a { color: #fff; }
.message[data-status="failed"] .bubble { opacity: .6; }
.bubble a { color: var(--parley-primary); }
.ticks { font-size: 12px; color: var(--parley-muted); }
.ticks[data-status="read"] { color: var(--parley-primary); }
.choices { display: flex; flex-wrap: wrap; gap: 6px; }
.choice { border: 1px solid var(--parley-primary); color: var(--parley-primary);
  background: var(--parley-bg); border-radius: 16px; padding: 6px 12px; cursor: pointer; font: inherit; }
.card { background: var(--parley-bg); border-radius: 12px; overflow: hidden; max-width: 260px; }
.card img { display: block; width: 100%; max-height: 160px; object-fit: cover; }
.card .body { padding: 8px 12px; }
.card .subtitle { color: var(--parley-muted); font-size: 13px; }
.card .buttons { display: flex; flex-direction: column; border-top: 1px solid var(--parley-soft); }
.card .buttons > * { padding: 8px 12px; text-align: center; border: 0; background: none; font: inherit;
  color: var(--parley-primary); cursor: pointer; text-decoration: none; }
.media { max-width: 220px; max-height: 220px; border-radius: 10px; display: block; }
.file { display: inline-flex; gap: 6px; align-items: center; }
progress { width: 160px; height: 6px; }
.typing { align-self: flex-start; padding: 8px 12px; border-radius: 14px; background: var(--parley-bg);
  color: var(--parley-muted); }
.typing span { display: inline-block; width: 6px; height: 6px; margin: 0 2px; border-radius: 50%;
  background: currentColor; animation: parley-dot 1s infinite; }
.typing span:nth-child(2) { animation-delay: .15s; } .typing span:nth-child(3) { animation-delay: .3s; }
@keyframes parley-dot { 50% { opacity: .2; } }
.ended { align-self: center; text-align: center; color: var(--parley-muted); display: flex;
  flex-direction: column; gap: 8px; align-items: center; }
.ended button { border: 0; border-radius: 16px; padding: 8px 14px; background: var(--parley-primary);
  color: #fff; cursor: pointer; font: inherit; }
.notice { padding: 6px 14px; font-size: 13px; color: #92400e; background: #fef3c7; }
form { display: flex; align-items: flex-end; gap: 6px; padding: 10px; border-top: 1px solid var(--parley-soft); }
textarea { flex: 1; resize: none; border: 1px solid #d1d5db; border-radius: 10px; padding: 8px 10px;
  font: inherit; color: inherit; max-height: 120px; min-height: 38px; }
.file-input { position: absolute; width: 1px; height: 1px; opacity: 0; overflow: hidden; }
.attach { color: var(--parley-muted); }
.send { color: var(--parley-primary); }
:focus-visible, .file-input:focus-visible + .attach { outline: 2px solid var(--parley-primary);
  outline-offset: 2px; }
.launcher:focus-visible { outline-color: var(--parley-text); }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
@media (prefers-reduced-motion: reduce) { *, *::before, *::after { animation: none !important;
  transition: none !important; scroll-behavior: auto !important; } }
`;

  const CHAT_ICON =
    "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z";
  const ATTACH_ICON = "M11 5h2v6h6v2h-6v6h-2v-6H5v-2h6z"; // a plus: add a file
  const SEND_ICON = "M3 20l18-8L3 4v6l12 2-12 2z";

  /** A 24×24 icon drawn with one path, hidden from assistive technology (its button is labelled);
   * drawn, not a glyph, so it shows whatever fonts the visitor's system has. */
  function icon(d) {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    path.setAttribute("d", d);
    svg.append(path);
    return svg;
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children || []) if (child) node.append(child);
    return node;
  }

  function ownScript() {
    if (document.currentScript && document.currentScript.dataset.widget) {
      return document.currentScript;
    }
    return (
      Array.from(document.querySelectorAll("script[data-widget]")).find((s) =>
        /\/widget(\/[^/]*)?\.js(\?.*)?$/.test(s.src)
      ) || null
    );
  }

  class Widget {
    constructor(script) {
      this.base = apiBase(script.src);
      this.widgetId = script.dataset.widget;
      this.storeKey = "parley:" + this.widgetId + ":visitor";
      this.thread = new Thread();
      this.outbox = new Outbox();
      this.nodes = new Map();
      this.seen = new Set(); // bot messages read here or in another tab
      this.delivered = new Set();
      this.previews = new Map(); // upload_id → blob URL
      this.listeners = { message: [], open: [], close: [] };
      this.identity = null;
      this.session = null;
      this.socket = null;
      this.ready = false;
      this.attempt = 0;
      this.isOpen = false;
      this.locale = "en";
      this.stopped = false;
    }

    t(key, vars) {
      return translate(this.locale, key, vars);
    }

    // ---- session

    sessionBody() {
      if (this.identity) return this.identity;
      try {
        const stored = JSON.parse(localStorage.getItem(this.storeKey) || "null");
        if (stored && stored.visitor_id && stored.visitor_key) return stored;
      } catch (_) {
        /* storage blocked or corrupt: a new visitor */
      }
      return {};
    }

    async openSession() {
      let body = this.sessionBody();
      let answer = await this.post(body);
      if (answer.status === 401 && body.visitor_key) {
        localStorage.removeItem(this.storeKey); // the pair is not ours any more: start afresh
        body = {};
        answer = await this.post(body);
      }
      if (!answer.ok) {
        const error = new Error("session refused: " + answer.status);
        error.status = answer.status;
        throw error;
      }
      const session = await answer.json();
      if (session.visitor_key) {
        const pair = { visitor_id: session.visitor_id, visitor_key: session.visitor_key };
        try {
          localStorage.setItem(this.storeKey, JSON.stringify(pair));
        } catch (_) {
          /* storage blocked: this tab keeps the visitor for its lifetime */
        }
      }
      this.session = session;
      clearTimeout(this.renewTimer);
      this.renewTimer = setTimeout(
        () => this.renew(),
        renewalDelay(session.expires_at, Date.now())
      );
      return session;
    }

    post(body) {
      const url = this.base + "/v1/widget/" + encodeURIComponent(this.widgetId) + "/sessions";
      return fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    }

    async renew() {
      try {
        await this.openSession();
      } catch (error) {
        if (error.status === 403 || error.status === 404) return this.stop();
        this.renewTimer = setTimeout(() => this.renew(), backoffDelay(this.attempt++));
      }
    }

    authorized(init) {
      const headers = Object.assign({}, (init && init.headers) || {}, {
        Authorization: "Bearer " + this.session.token,
      });
      return Object.assign({}, init || {}, { headers });
    }

    // ---- start

    async start() {
      try {
        await this.openSession();
      } catch (error) {
        if (error.status && error.status < 500) {
          console.warn("Parley: the chat widget is not available on this page", error.status);
          return;
        }
        setTimeout(() => this.start(), backoffDelay(this.attempt++));
        return;
      }
      this.attempt = 0;
      this.render();
      this.channel = typeof BroadcastChannel === "function" ? this.tabChannel() : null;
      await this.fetchHistory();
      this.connect();
      window.addEventListener("online", () => this.reconnectNow());
      document.addEventListener("visibilitychange", () => this.markRead());
    }

    tabChannel() {
      const channel = new BroadcastChannel(this.storeKey);
      channel.onmessage = (event) => {
        if (event.data && event.data.type === "read") {
          event.data.ids.forEach((id) => this.seen.add(id));
          this.updateBadge();
        }
      };
      return channel;
    }

    async fetchHistory() {
      try {
        const answer = await fetch(this.base + "/v1/widget/messages", this.authorized());
        if (!answer.ok) return;
        this.thread.load(await answer.json());
      } catch (_) {
        return; // offline: the socket's resume brings what is missing
      }
      this.renderThread();
      for (const message of this.thread.messages) this.acknowledge(message);
    }

    // ---- socket

    connect() {
      if (this.stopped) return;
      clearTimeout(this.reconnectTimer);
      const url = this.base.replace(/^http/, "ws") + "/v1/ws";
      const socket = new WebSocket(url);
      this.socket = socket;
      this.ready = false;
      socket.onopen = () => {
        socket.send(
          JSON.stringify({
            type: "hello",
            token: this.session.token,
            last_event_id: this.thread.lastEventId,
          })
        );
      };
      socket.onmessage = (event) => {
        let frame;
        try {
          frame = JSON.parse(event.data);
        } catch (_) {
          return; // not ours to understand
        }
        if (socket === this.socket) this.onFrame(frame);
      };
      socket.onclose = (event) => {
        if (socket === this.socket) this.onClose(event.code);
      };
    }

    send(frame) {
      if (this.ready && this.socket && this.socket.readyState === WebSocket.OPEN) {
        this.socket.send(JSON.stringify(frame));
        return true;
      }
      return false;
    }

    onFrame(frame) {
      switch (frame.type) {
        case "welcome":
          this.ready = true;
          this.attempt = 0;
          if (!this.thread.lastEventId) this.thread.lastEventId = frame.last_event_id || null;
          this.setNotice(null);
          clearInterval(this.pinger);
          this.pinger = setInterval(() => this.send({ type: "ping" }), 25000);
          this.outbox.pending().forEach((item) => this.send(item));
          this.thread.messages.forEach((message) => this.acknowledge(message));
          this.markRead();
          return;
        case "resync":
          this.fetchHistory();
          return;
        case "ack": {
          this.outbox.remove(frame.client_message_id);
          const message = this.thread.ack(frame);
          if (message) this.renderMessage(message);
          return;
        }
        case "error":
          if (frame.code === "invalid") {
            this.outbox.remove(frame.client_message_id);
            const message = this.thread.fail(frame.client_message_id);
            if (message) this.renderMessage(message);
          } else {
            const item = this.outbox.pending().find(
              (i) => i.client_message_id === frame.client_message_id
            );
            const retry = () => this.outbox.items.includes(item) && this.send(item);
            if (item) setTimeout(retry, backoffDelay(this.attempt + 2));
          }
          return;
        case "pong":
          return;
        default:
          this.onEvent(frame);
      }
    }

    onEvent(event) {
      const effect = this.thread.apply(event);
      if (effect.ended && !this.thread.ended) this.renderThread();
      for (const key of effect.removed) {
        const node = this.nodes.get(key);
        if (node) node.remove();
        this.nodes.delete(key);
      }
      for (const message of effect.changed.concat(effect.added)) this.renderMessage(message);
      for (const message of effect.added) {
        if (!message.streaming) {
          this.acknowledge(message);
          this.emit("message", message);
        }
      }
      this.typingNode.hidden = !this.thread.typing;
      if (effect.ended) this.renderEnded();
      this.refreshChoices();
      this.updateBadge();
      this.markRead();
      this.scrollDown();
    }

    onClose(code) {
      this.ready = false;
      clearInterval(this.pinger);
      if (this.stopped) return;
      if (code === 4403) return this.stop();
      this.setNotice(this.outbox.pending().length ? this.t("offline") : this.t("reconnecting"));
      const delay = backoffDelay(this.attempt++);
      this.reconnectTimer = setTimeout(async () => {
        if (code === 4401) {
          try {
            await this.openSession();
          } catch (error) {
            if (error.status === 403 || error.status === 404) return this.stop();
            return this.onClose(4401);
          }
        }
        this.connect();
      }, delay);
    }

    reconnectNow() {
      if (this.stopped || this.ready) return;
      this.attempt = 0;
      if (this.socket) {
        this.socket.onclose = null;
        this.socket.close();
      }
      this.connect();
    }

    stop() {
      this.stopped = true;
      clearTimeout(this.renewTimer);
      clearTimeout(this.reconnectTimer);
      if (this.socket) this.socket.close();
      this.setNotice(this.t("unavailable"));
    }

    // ---- sending

    submit(text, payload, attachments) {
      if (this.thread.ended) this.startNew();
      const frame = messageFrame(newClientMessageId(), text, payload, attachments);
      const message = this.thread.addLocal(frame);
      this.outbox.add(frame);
      this.renderMessage(message);
      this.refreshChoices();
      this.emit("message", message);
      if (!this.send(frame)) this.setNotice(this.t("offline"));
      this.scrollDown();
    }

    acknowledge(message) {
      if (message.direction !== "outbound" || !message.id || message.streaming) return;
      if (message.status !== "read" && !this.delivered.has(message.id)) {
        if (this.send({ type: "delivered", message_id: message.id })) this.delivered.add(message.id);
      }
    }

    markRead() {
      if (!this.isOpen || document.visibilityState === "hidden") return;
      const fresh = this.thread.messages.filter(
        (m) =>
          m.direction === "outbound" &&
          m.id &&
          !m.streaming &&
          m.status !== "read" &&
          !this.seen.has(m.id)
      );
      if (!fresh.length) return;
      const sent = fresh.filter((m) => this.send({ type: "read", message_id: m.id }));
      sent.forEach((m) => this.seen.add(m.id));
      if (this.channel && sent.length) {
        this.channel.postMessage({ type: "read", ids: sent.map((m) => m.id) });
      }
      this.updateBadge();
    }

    startNew() {
      this.thread.clear();
      this.renderThread();
      this.input.focus();
    }

    upload(file) {
      const problem = uploadProblem(file, this.session.widget && this.session.widget.upload);
      const limits = Object.assign({}, DEFAULT_UPLOAD, (this.session.widget || {}).upload || {});
      if (problem) {
        const key = problem === "type" ? "badType" : "tooLarge";
        this.setNotice(this.t(key, { name: file.name, max: formatBytes(limits.max_bytes) }));
        return;
      }
      this.setNotice(null);
      if (this.thread.ended) this.startNew();
      const clientMessageId = newClientMessageId();
      const attachment = {
        filename: file.name,
        content_type: file.type,
        size: file.size,
        progress: 0,
        preview: file.type.startsWith("image/") ? URL.createObjectURL(file) : null,
      };
      const message = this.thread.addLocal({
        client_message_id: clientMessageId,
        text: "",
        attachments: [attachment],
      });
      this.renderMessage(message);
      this.scrollDown();
      const request = new XMLHttpRequest();
      const query = "?filename=" + encodeURIComponent(file.name);
      request.open("POST", this.base + "/v1/widget/uploads" + query);
      request.setRequestHeader("Authorization", "Bearer " + this.session.token);
      request.setRequestHeader("Content-Type", file.type);
      request.upload.onprogress = (event) => {
        if (!event.lengthComputable) return;
        attachment.progress = event.loaded / event.total;
        const bar = this.nodes.get(message.key)?.querySelector("progress");
        if (bar) bar.value = attachment.progress;
      };
      const failed = () => {
        this.thread.fail(clientMessageId);
        attachment.progress = null;
        this.renderMessage(message);
        this.setNotice(this.t("uploadFailed", { name: file.name }));
      };
      request.onerror = failed;
      request.onload = () => {
        if (request.status !== 201) return failed();
        const stored = JSON.parse(request.responseText);
        Object.assign(attachment, stored, { progress: null });
        if (attachment.preview) this.previews.set(stored.upload_id, attachment.preview);
        const frame = messageFrame(clientMessageId, "", null, [stored]);
        this.outbox.add(frame);
        this.renderMessage(message);
        this.emit("message", message);
        if (!this.send(frame)) this.setNotice(this.t("offline"));
      };
      request.send(file);
    }

    async uploadUrl(uploadId) {
      if (this.previews.has(uploadId)) return this.previews.get(uploadId);
      const url = this.base + "/v1/widget/uploads/" + encodeURIComponent(uploadId);
      const answer = await fetch(url, this.authorized());
      if (!answer.ok) throw new Error("upload not available: " + answer.status);
      const blobUrl = URL.createObjectURL(await answer.blob());
      this.previews.set(uploadId, blobUrl);
      return blobUrl;
    }

    // ---- API

    emit(name, value) {
      const copy = value && typeof value === "object" ? JSON.parse(JSON.stringify(value)) : value;
      for (const listener of this.listeners[name] || []) {
        try {
          listener(copy);
        } catch (error) {
          console.error("Parley: a listener failed", error);
        }
      }
    }

    open() {
      this.show(true);
    }

    close() {
      this.show(false);
    }

    show(open) {
      if (!this.panel || this.isOpen === open) return;
      this.isOpen = open;
      this.panel.hidden = !open;
      this.launcher.setAttribute("aria-expanded", String(open));
      if (open) {
        this.input.focus();
        this.scrollDown();
        this.markRead();
      } else {
        this.launcher.focus();
      }
      this.updateBadge(); // the launcher's label follows too
      this.emit(open ? "open" : "close");
    }

    async identify(identity) {
      this.identity = { user_id: String(identity.user_id), user_hash: String(identity.user_hash) };
      if (!this.starting) return; // not booted yet: the first session carries the identity
      await this.starting;
      if (this.socket) {
        this.socket.onclose = null; // the anonymous visitor's socket must not feed the new thread
        this.socket.close();
        this.socket = null;
      }
      await this.openSession();
      this.thread = new Thread();
      this.outbox = new Outbox();
      this.seen.clear();
      this.delivered.clear();
      this.renderThread();
      await this.fetchHistory();
      this.attempt = 0;
      this.connect();
    }

    // ---- rendering

    render() {
      const widget = this.session.widget || {};
      const theme = widget.theme || {};
      this.locale = pickLocale(theme.locale, document.documentElement.lang);
      // A custom tag, so no page rule on div/span reaches the host.
      const host = el("parley-chat", { "data-parley-host": "" });
      const root = host.attachShadow({ mode: "open" });
      const color = safeColor(theme.primary_color);
      const style = el("style", {
        text: STYLE + (color ? `:host { --parley-primary: ${color}; }` : ""),
      });
      this.badge = el("span", { class: "badge", "data-parley": "unread", hidden: true });
      this.launcher = el(
        "button",
        {
          type: "button",
          class: "launcher",
          "data-parley": "launcher",
          "aria-label": this.t("openChat"),
          "aria-expanded": "false",
          "aria-controls": "parley-panel",
          onclick: () => (this.isOpen ? this.close() : this.open()),
        },
        [icon(CHAT_ICON), this.badge]
      );
      const title = theme.title || this.t("title");
      const avatar = safeUrl(theme.avatar_url);
      this.log = el("div", {
        class: "log",
        role: "log",
        "aria-live": "polite",
        "aria-label": this.t("messages"),
        "data-parley": "log",
        tabindex: "0",
      });
      this.notice = el("div", { class: "notice", role: "status", "data-parley": "notice", hidden: true });
      this.input = el("textarea", {
        rows: "1",
        "data-parley": "input",
        "aria-label": this.t("input"),
        placeholder: this.t("placeholder"),
        onkeydown: (event) => {
          if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
            event.preventDefault();
            this.submitInput();
          }
        },
      });
      const types = ((widget.upload || {}).types || DEFAULT_UPLOAD.types).join(",");
      const fileInput = el("input", {
        type: "file",
        id: "parley-file",
        class: "file-input",
        accept: types,
        "data-parley": "upload",
        "aria-label": this.t("attach"),
        onchange: () => {
          Array.from(fileInput.files || []).forEach((file) => this.upload(file));
          fileInput.value = "";
        },
      });
      const form = el(
        "form",
        {
          onsubmit: (event) => {
            event.preventDefault();
            this.submitInput();
          },
        },
        [
          fileInput,
          el("label", { for: "parley-file", class: "icon attach", title: this.t("attach"), "aria-hidden": "true" }, [icon(ATTACH_ICON)]),
          this.input,
          el("button", { type: "submit", class: "icon send", "data-parley": "send", "aria-label": this.t("send") }, [icon(SEND_ICON)]),
        ]
      );
      this.panel = el(
        "div",
        {
          id: "parley-panel",
          class: "panel",
          role: "dialog",
          "aria-label": title,
          "data-parley": "panel",
          hidden: true,
          onkeydown: (event) => {
            if (event.key === "Escape") {
              event.stopPropagation();
              this.close();
            }
          },
        },
        [
          el("header", {}, [
            avatar ? el("img", { src: avatar, alt: "" }) : null,
            el("h2", { text: title }),
            el("button", {
              type: "button",
              class: "icon",
              "data-parley": "close",
              "aria-label": this.t("close"),
              text: "✕",
              onclick: () => this.close(),
            }),
          ]),
          this.log,
          this.notice,
          form,
        ]
      );
      this.typingNode = el(
        "div",
        { class: "typing", "data-parley": "typing", "aria-label": this.t("typing"), role: "status", hidden: true },
        [el("span"), el("span"), el("span")]
      );
      root.append(style, this.launcher, this.panel);
      document.body.append(host);
      this.root = root;
      this.renderThread();
    }

    submitInput() {
      const text = this.input.value.trim();
      if (!text) return;
      this.input.value = "";
      this.submit(text);
    }

    renderThread() {
      if (!this.log) return;
      this.log.replaceChildren();
      this.nodes.clear();
      const greeting = (this.session.widget || {}).greeting;
      if (greeting) {
        this.log.append(
          el("div", { class: "message greeting", "data-parley": "greeting" }, [
            el("div", { class: "bubble" }, textNodes(greeting)),
          ])
        );
      }
      for (const message of this.thread.messages) this.renderMessage(message);
      this.typingNode.hidden = !this.thread.typing;
      this.log.append(this.typingNode);
      this.renderEnded();
      this.refreshChoices();
      this.updateBadge();
      this.scrollDown();
    }

    renderEnded() {
      const existing = this.log.querySelector('[data-parley="ended"]');
      if (existing) existing.remove();
      if (!this.thread.ended) return;
      this.log.append(
        el("div", { class: "ended", "data-parley": "ended", role: "status" }, [
          el("span", { text: this.t("ended") }),
          el("button", {
            type: "button",
            "data-parley": "new-conversation",
            text: this.t("newConversation"),
            onclick: () => this.startNew(),
          }),
        ])
      );
    }

    renderMessage(message) {
      if (!this.log) return;
      const node = this.messageNode(message);
      const old = this.nodes.get(message.key);
      if (old) old.replaceWith(node);
      else this.log.insertBefore(node, this.typingNode.parentNode === this.log ? this.typingNode : null);
      this.nodes.set(message.key, node);
    }

    messageNode(message) {
      const node = el("div", {
        class: "message",
        "data-parley": "message",
        "data-direction": message.direction,
        "data-message-id": message.id || "",
        "data-client-message-id": message.client_message_id,
        "data-status": message.direction === "inbound" ? message.status : null,
        "data-streaming": message.streaming ? "true" : null,
      });
      const parts = message.parts.length ? message.parts : [{ type: "text", text: message.text }];
      for (const part of parts) {
        const rendered = this.partNode(part, message);
        if (rendered) node.append(rendered);
      }
      for (const attachment of message.attachments) node.append(this.attachmentNode(attachment));
      if (message.direction === "inbound") {
        const ticks = { pending: "⋯", failed: "!", sent: "•", received: "✓", read: "✓✓" };
        node.append(
          el("span", {
            class: "ticks",
            "data-parley": "ticks",
            "data-status": message.status,
            "aria-label": this.t(message.status),
            title: this.t(message.status),
            text: ticks[message.status] || "",
          })
        );
      }
      return node;
    }

    partNode(part, message) {
      switch (part.type) {
        case "text":
          return part.text ? el("div", { class: "bubble" }, textNodes(part.text)) : null;
        case "quick_replies": {
          const wrap = el("div", { class: "part" }, [
            part.text ? el("div", { class: "bubble" }, textNodes(part.text)) : null,
          ]);
          const choices = el("div", { class: "choices", "data-choices": message.key });
          for (const option of part.options || []) {
            choices.append(
              el("button", {
                type: "button",
                class: "choice",
                "data-parley": "quick-reply",
                "data-payload": option.payload,
                text: option.title,
                onclick: () => this.submit(option.title, option.payload),
              })
            );
          }
          wrap.append(choices);
          return wrap;
        }
        case "card": {
          const image = safeUrl(part.image_url);
          const buttons = el("div", { class: "buttons" });
          for (const button of part.buttons || []) {
            const href = button.url ? safeUrl(button.url) : null;
            buttons.append(
              href
                ? el("a", { href, target: "_blank", rel: "noopener noreferrer", "data-parley": "card-button", text: button.title })
                : el("button", {
                    type: "button",
                    "data-parley": "card-button",
                    text: button.title,
                    onclick: () => this.submit(button.title, button.payload),
                  })
            );
          }
          return el("div", { class: "card", "data-parley": "card" }, [
            image ? el("img", { src: image, alt: part.title || "" }) : null,
            el("div", { class: "body" }, [
              part.title ? el("strong", { text: part.title }) : null,
              part.subtitle ? el("div", { class: "subtitle", text: part.subtitle }) : null,
            ]),
            (part.buttons || []).length ? buttons : null,
          ]);
        }
        case "media": {
          const url = safeUrl(part.url);
          if (!url) return null;
          const isImage = String(part.mime_type || "").startsWith("image/");
          return el("div", { class: "part", "data-parley": "media" }, [
            isImage
              ? el("img", { class: "media", src: url, alt: part.caption || "" })
              : el("a", { class: "bubble file", href: url, target: "_blank", rel: "noopener noreferrer", text: "📄 " + (part.caption || this.t("file")) }),
            isImage && part.caption ? el("div", { class: "bubble", text: part.caption }) : null,
          ]);
        }
        default:
          return part.text ? el("div", { class: "bubble" }, textNodes(part.text)) : null;
      }
    }

    attachmentNode(attachment) {
      const isImage = String(attachment.content_type || "").startsWith("image/");
      const wrap = el("div", { class: "part", "data-parley": "attachment" });
      const name = attachment.filename || this.t("file");
      if (isImage) {
        const image = el("img", { class: "media", alt: name });
        if (attachment.preview) image.src = attachment.preview;
        else if (attachment.upload_id) {
          this.uploadUrl(attachment.upload_id).then((url) => (image.src = url), () => {});
        }
        wrap.append(image);
      } else {
        wrap.append(
          el("a", {
            class: "bubble file",
            href: "#",
            text: "📄 " + name,
            onclick: (event) => {
              event.preventDefault();
              if (!attachment.upload_id) return;
              this.uploadUrl(attachment.upload_id).then((url) => {
                const link = el("a", { href: url, download: name });
                link.click();
              }, () => {});
            },
          })
        );
      }
      if (typeof attachment.progress === "number") {
        wrap.append(
          el("progress", {
            max: "1",
            value: String(attachment.progress),
            "aria-label": this.t("uploading", { name }),
          })
        );
      }
      return wrap;
    }

    refreshChoices() {
      if (!this.log) return;
      // Quick replies answer the last message only; once the visitor moves on they go.
      const last = this.thread.messages[this.thread.messages.length - 1];
      for (const choices of this.log.querySelectorAll("[data-choices]")) {
        choices.hidden = !last || choices.getAttribute("data-choices") !== last.key;
      }
    }

    updateBadge() {
      if (!this.badge) return;
      const count = this.isOpen ? 0 : this.thread.unread(this.seen);
      this.badge.hidden = count === 0;
      this.badge.textContent = count > 9 ? "9+" : String(count);
      this.launcher.setAttribute(
        "aria-label",
        this.t(this.isOpen ? "closeChat" : "openChat") + (count ? ", " + this.t("unread", { n: count }) : "")
      );
    }

    setNotice(text) {
      if (!this.notice) return;
      this.notice.hidden = !text;
      this.notice.textContent = text || "";
    }

    scrollDown() {
      if (this.log) this.log.scrollTop = this.log.scrollHeight;
    }
  }

  function textNodes(text) {
    return linkify(text).map((token) => {
      if (token.type === "break") return document.createElement("br");
      if (token.type === "text") return document.createTextNode(token.text);
      return el("a", { href: token.href, target: "_blank", rel: "noopener noreferrer", text: token.text });
    });
  }

  const script = ownScript();
  if (!script || window.Parley) return;
  const widget = new Widget(script);
  window.Parley = {
    open: () => widget.open(),
    close: () => widget.close(),
    identify: (identity) => widget.identify(identity),
    on(name, listener) {
      (widget.listeners[name] = widget.listeners[name] || []).push(listener);
      return this;
    },
    off(name, listener) {
      widget.listeners[name] = (widget.listeners[name] || []).filter((l) => l !== listener);
      return this;
    },
  };
  const boot = () => (widget.starting = widget.start());
  if (document.body) boot();
  else document.addEventListener("DOMContentLoaded", boot);
})();
