// The widget's logic without a DOM: thread state, backoff, linkify, locale, uploads, the outbox.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");

const widget = require(path.join(__dirname, "..", "..", "ingress", "static", "widget.js"));
const { Thread, Outbox } = widget;

function inbound(fields) {
  return Object.assign(
    { id: "msg_1", conversation_id: "conv_1", direction: "inbound", text: "hi", parts: [],
      attachments: [], client_message_id: "c_1", status: "accepted" },
    fields
  );
}

function outbound(fields) {
  return Object.assign(
    { id: "msg_b", conversation_id: "conv_1", direction: "outbound", text: "hello",
      parts: [{ type: "text", text: "hello" }], attachments: [], client_message_id: null,
      status: "sent" },
    fields
  );
}

test("the visitor's message sent, acknowledged, echoed and replayed is shown once", () => {
  const thread = new Thread();
  thread.addLocal(widget.messageFrame("c_1", "hi"));
  thread.ack({ client_message_id: "c_1", message_id: "msg_1", conversation_id: "conv_1" });
  const echo = thread.apply({ type: "message", event_id: "1-0", message: inbound() });
  const replay = thread.apply({ type: "message", event_id: "1-0", message: inbound() });
  assert.equal(thread.messages.length, 1);
  assert.deepEqual([echo.added.length, replay.added.length], [0, 0]);
  assert.equal(thread.messages[0].key, "c_1");
  assert.equal(thread.messages[0].id, "msg_1");
});

test("an echo that overtakes the ack is merged by client_message_id", () => {
  const thread = new Thread();
  thread.addLocal(widget.messageFrame("c_1", "hi"));
  thread.apply({ type: "message", event_id: "1-0", message: inbound() });
  thread.ack({ client_message_id: "c_1", message_id: "msg_1", conversation_id: "conv_1" });
  assert.equal(thread.messages.length, 1);
  assert.equal(thread.messages[0].status, "received");
});

test("another tab's message arrives as a new inbound message", () => {
  const thread = new Thread();
  const effect = thread.apply({ type: "message", event_id: "1-0",
    message: inbound({ id: "msg_9", client_message_id: "c_other" }) });
  assert.equal(effect.added.length, 1);
  assert.equal(thread.messages[0].direction, "inbound");
});

test("history after live events keeps one copy of each message", () => {
  const thread = new Thread();
  thread.apply({ type: "message", event_id: "5-0", message: outbound() });
  thread.load({ conversation: { id: "conv_1", status: "open" },
    messages: [inbound(), outbound()], last_event_id: "4-0" });
  assert.deepEqual(thread.messages.map((m) => m.id), ["msg_1", "msg_b"]);
  assert.equal(thread.lastEventId, "5-0", "an older history never moves the resume point back");
});

test("history keeps a message still waiting for its ack", () => {
  const thread = new Thread();
  thread.addLocal(widget.messageFrame("c_2", "queued"));
  thread.load({ conversation: { id: "conv_1", status: "open" }, messages: [inbound()],
    last_event_id: "3-0" });
  assert.deepEqual(thread.messages.map((m) => m.key), ["c_1", "c_2"]);
  assert.equal(thread.lastEventId, "3-0");
});

test("deltas stream into one reply that the final message replaces", () => {
  const thread = new Thread();
  thread.apply({ type: "typing", conversation_id: "conv_1", state: "on", event_id: "1-0" });
  assert.equal(thread.typing, true);
  thread.apply({ type: "delta", reply_id: "msg_r", conversation_id: "conv_1", text: "Hel", event_id: "2-0" });
  thread.apply({ type: "delta", reply_id: "msg_r", conversation_id: "conv_1", text: "lo", event_id: "3-0" });
  assert.equal(thread.typing, false);
  assert.equal(thread.messages.length, 1);
  assert.equal(thread.messages[0].text, "Hello");
  assert.equal(thread.messages[0].streaming, true);
  const final = thread.apply({ type: "message", event_id: "4-0",
    message: outbound({ id: "msg_r", text: "Hello there", parts: [{ type: "text", text: "Hello there" }] }) });
  assert.equal(thread.messages.length, 1);
  assert.equal(thread.messages[0].text, "Hello there");
  assert.equal(thread.messages[0].streaming, false);
  assert.equal(final.added.length, 1, "the stream's final form counts as its arrival");
  thread.apply({ type: "delta", reply_id: "msg_r", text: " late", event_id: "5-0" });
  assert.equal(thread.messages[0].text, "Hello there", "a delta after the final is ignored");
  assert.equal(thread.lastEventId, "5-0");
});

test("stream_reset drops the partial text and the retried reply is shown once", () => {
  const thread = new Thread();
  thread.apply({ type: "delta", reply_id: "msg_r", text: "half a rep", event_id: "1-0" });
  const reset = thread.apply({ type: "stream_reset", reply_id: "msg_r", event_id: "2-0" });
  assert.deepEqual(reset.removed, ["msg_r"]);
  assert.equal(thread.messages.length, 0);
  thread.apply({ type: "message", event_id: "3-0", message: outbound({ id: "msg_r", text: "whole" }) });
  thread.apply({ type: "message", event_id: "3-0", message: outbound({ id: "msg_r", text: "whole" }) });
  assert.deepEqual(thread.messages.map((m) => m.text), ["whole"]);
});

test("a final message never shown streaming is dropped by no reset", () => {
  const thread = new Thread();
  thread.apply({ type: "message", event_id: "1-0", message: outbound({ id: "msg_r" }) });
  thread.apply({ type: "stream_reset", reply_id: "msg_r", event_id: "2-0" });
  assert.equal(thread.messages.length, 1);
});

test("ticks only move forward: sent, received, read", () => {
  const thread = new Thread();
  const local = thread.addLocal(widget.messageFrame("c_1", "hi"));
  assert.equal(local.status, "pending");
  thread.ack({ client_message_id: "c_1", message_id: "msg_1", conversation_id: "conv_1" });
  assert.equal(local.status, "sent");
  thread.apply({ type: "status", message_id: "msg_1", status: "read", event_id: "2-0" });
  assert.equal(local.status, "read");
  const back = thread.apply({ type: "status", message_id: "msg_1", status: "received", event_id: "3-0" });
  assert.equal(local.status, "read");
  assert.equal(back.changed.length, 0);
  thread.apply({ type: "message", event_id: "4-0", message: inbound({ status: "accepted" }) });
  assert.equal(local.status, "read", "a replayed echo does not take a tick back");
  thread.ack({ client_message_id: "c_1", message_id: "msg_1", conversation_id: "conv_1" });
  assert.equal(local.status, "read", "a repeated ack does not either");
});

test("stored statuses map to ticks", () => {
  assert.equal(widget.tickOf("accepted"), "received");
  assert.equal(widget.tickOf("processed"), "received");
  assert.equal(widget.tickOf("generated"), "read");
  assert.equal(widget.tickOf("completed"), "read");
});

test("a conversation ended is shown ended, and the next conversation starts clean", () => {
  const thread = new Thread();
  thread.load({ conversation: { id: "conv_1", status: "open" }, messages: [inbound()], last_event_id: "1-0" });
  thread.apply({ type: "conversation_ended", conversation_id: "conv_other", event_id: "2-0" });
  assert.equal(thread.ended, false, "another conversation's end is not this one's");
  thread.apply({ type: "conversation_ended", conversation_id: "conv_1", reason: "closed", event_id: "3-0" });
  assert.equal(thread.ended, true);
  const next = thread.apply({ type: "message", event_id: "4-0",
    message: inbound({ id: "msg_2", client_message_id: "c_2", conversation_id: "conv_2" }) });
  assert.equal(thread.ended, false);
  assert.deepEqual(next.removed, ["c_1"]);
  assert.deepEqual(thread.messages.map((m) => m.id), ["msg_2"]);
  const closed = new Thread();
  closed.load({ conversation: { id: "conv_1", status: "closed" }, messages: [], last_event_id: "1-0" });
  assert.equal(closed.ended, true);
});

test("unread counts the bot's messages not read here nor in another tab", () => {
  const thread = new Thread();
  thread.apply({ type: "message", event_id: "1-0", message: outbound({ id: "msg_a" }) });
  thread.apply({ type: "message", event_id: "2-0", message: outbound({ id: "msg_b" }) });
  thread.apply({ type: "message", event_id: "3-0", message: outbound({ id: "msg_c", status: "read" }) });
  thread.apply({ type: "delta", reply_id: "msg_d", text: "stream", event_id: "4-0" });
  thread.apply({ type: "message", event_id: "5-0", message: inbound() });
  assert.equal(thread.unread(new Set()), 2);
  assert.equal(thread.unread(new Set(["msg_a"])), 1);
});

test("event ids compare as stream ids, not as strings", () => {
  assert.equal(widget.compareEventIds("10-0", "9-5"), 1);
  assert.equal(widget.compareEventIds("9-10", "9-9"), 1);
  assert.equal(widget.compareEventIds("9-1", "9-1"), 0);
  assert.equal(widget.compareEventIds(null, "1-0"), -1);
  assert.equal(widget.compareEventIds("1-0", null), 1);
});

test("the backoff grows exponentially within its bounds and never bursts at zero", () => {
  let previousCeiling = 0;
  for (let attempt = 0; attempt < 40; attempt++) {
    const low = widget.backoffDelay(attempt, () => 0);
    const high = widget.backoffDelay(attempt, () => 0.999999);
    const ceiling = Math.min(30000, 500 * 2 ** attempt);
    assert.ok(low >= ceiling / 2 && high <= ceiling, `attempt ${attempt}: ${low}..${high}`);
    assert.ok(low > 0);
    assert.ok(ceiling >= previousCeiling);
    previousCeiling = ceiling;
  }
  assert.equal(widget.backoffDelay(0, () => 0), 250);
  assert.equal(widget.backoffDelay(100, () => 0.999999), 30000);
  const spread = new Set(Array.from({ length: 20 }, () => widget.backoffDelay(6)));
  assert.ok(spread.size > 1, "jitter spreads reconnecting tabs apart");
});

test("a session is renewed a minute before it expires, never in a burst", () => {
  const now = 1_000_000_000_000;
  assert.equal(widget.renewalDelay(now / 1000 + 900, now), 840000);
  assert.equal(widget.renewalDelay(now / 1000 + 10, now), 5000);
});

test("linkify never turns text into markup", () => {
  const tokens = widget.linkify('<img src=x onerror="alert(1)"> & <script>x</script>');
  assert.deepEqual(tokens, [{ type: "text", text: '<img src=x onerror="alert(1)"> & <script>x</script>' }]);
  for (const token of widget.linkify("javascript:alert(1) data:text/html,<b>x</b>")) {
    assert.equal(token.type, "text");
  }
  const link = widget.linkify('https://a.example/"><img src=x onerror=alert(1)>');
  assert.deepEqual(link[0], { type: "link", text: "https://a.example/", href: "https://a.example/" });
  assert.equal(link[1].type, "text");
});

test("linkify finds links, leaves sentence punctuation out and keeps line breaks", () => {
  const tokens = widget.linkify("See https://parley.dev/docs. Or www.example.com!\nThanks (https://x.example/a_(b))");
  assert.deepEqual(tokens, [
    { type: "text", text: "See " },
    { type: "link", text: "https://parley.dev/docs", href: "https://parley.dev/docs" },
    { type: "text", text: ". Or " },
    { type: "link", text: "www.example.com", href: "https://www.example.com/" },
    { type: "text", text: "!" },
    { type: "break" },
    { type: "text", text: "Thanks (" },
    { type: "link", text: "https://x.example/a_(b)", href: "https://x.example/a_(b)" },
    { type: "text", text: ")" },
  ]);
});

test("only http(s) URLs and #rrggbb colours reach the page", () => {
  assert.equal(widget.safeUrl("javascript:alert(1)"), null);
  assert.equal(widget.safeUrl("data:image/png;base64,AAAA"), null);
  assert.equal(widget.safeUrl("https://cdn.example/a.png"), "https://cdn.example/a.png");
  assert.equal(widget.safeColor("#12abEF"), "#12abEF");
  assert.equal(widget.safeColor("red; background: url(x)"), null);
});

test("the locale is the theme's, else the page's, else English", () => {
  assert.equal(widget.pickLocale("de", "en-US"), "de");
  assert.equal(widget.pickLocale(undefined, "de-AT"), "de");
  assert.equal(widget.pickLocale("fr", "fr-FR"), "en");
  assert.equal(widget.pickLocale(null, ""), "en");
  assert.equal(widget.translate("de", "send"), "Senden");
  assert.equal(widget.translate("de", "unread", { n: 3 }), "3 ungelesen");
  assert.deepEqual(Object.keys(widget.STRINGS.de).sort(), Object.keys(widget.STRINGS.en).sort());
});

test("an upload is checked against the widget's size and types before it is sent", () => {
  const upload = { max_bytes: 1000, types: ["image/png", "application/pdf"] };
  assert.equal(widget.uploadProblem({ size: 1000, type: "image/png" }, upload), null);
  assert.equal(widget.uploadProblem({ size: 1001, type: "image/png" }, upload), "too-large");
  assert.equal(widget.uploadProblem({ size: 10, type: "text/html" }, upload), "type");
  assert.equal(widget.uploadProblem({ size: 5 * 1024 * 1024 + 1, type: "image/jpeg" }), "too-large");
  assert.equal(widget.formatBytes(5 * 1024 * 1024), "5 MB");
});

test("the offline queue keeps each message's client_message_id, once, until its ack", () => {
  const outbox = new Outbox();
  const first = outbox.add(widget.messageFrame("c_1", "one"));
  outbox.add(widget.messageFrame("c_2", "two", "PAYLOAD", [{ upload_id: "upl_1", filename: "a.png" }]));
  outbox.add(widget.messageFrame("c_1", "one"));
  assert.deepEqual(outbox.pending().map((f) => f.client_message_id), ["c_1", "c_2"]);
  assert.deepEqual(outbox.pending()[1], {
    type: "message", client_message_id: "c_2", text: "two", payload: "PAYLOAD",
    attachments: [{ upload_id: "upl_1" }],
  });
  assert.equal(outbox.pending()[0], first, "a resend is the very frame, same client_message_id");
  outbox.remove("c_1");
  assert.deepEqual(outbox.pending().map((f) => f.client_message_id), ["c_2"]);
});

test("client message ids fit the protocol", () => {
  const ids = new Set(Array.from({ length: 50 }, widget.newClientMessageId));
  assert.equal(ids.size, 50);
  for (const id of ids) assert.match(id, /^[A-Za-z0-9_-]{1,64}$/);
});

test("the API base comes from the script's own src", () => {
  assert.equal(widget.apiBase("https://chat.example/widget.js"), "https://chat.example");
  assert.equal(widget.apiBase("https://chat.example/widget/abc123.js"), "https://chat.example");
  assert.equal(widget.apiBase("http://127.0.0.1:8000/parley/widget.js?v=2"), "http://127.0.0.1:8000/parley");
});
