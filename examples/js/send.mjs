#!/usr/bin/env node
// Sends mail through the smtp-send component from Node.js.
//
// The component is the product: this host is jco's transpiled bindings, the
// preview2-shim for WASI (which opens real TCP sockets through Node), and
// host.js for the component's own import. No Rust of ours runs here.
//
// usage: node send.mjs SERVER FROMADDR TOADDR [TOADDR...]
// prints the transcript on stderr, then one JSON line on stdout:
//   {"ok": {"accepted": [...], "refused": [...], "reply": {...}}}
//   {"error": {"tag": "recipients-refused", "val": [...]}}
// and exits 0 or 1.

import { mailer } from "./generated/smtp.js";
import { defaultOptions } from "./host.js";

const [server, from, ...to] = process.argv.slice(2);
if (!server || !from || to.length === 0) {
  process.stderr.write("usage: node send.mjs SERVER FROMADDR TOADDR [TOADDR...]\n");
  process.exit(2);
}

const message =
  "From: " + from + "\r\n" +
  "To: " + to.join(", ") + "\r\n" +
  "Subject: from Node.js\r\n\r\n" +
  "Sent by the smtp-send component hosted in Node.js.\r\n";

const json = (value) =>
  JSON.stringify(value, (_, v) => (typeof v === "bigint" ? Number(v) : v));

try {
  const receipt = mailer.sendWithOptions(server, from, to, message, defaultOptions());
  process.stdout.write(json({ ok: receipt }) + "\n");
} catch (e) {
  // jco throws a result's error as a ComponentError carrying the variant.
  if (e && e.payload !== undefined) {
    process.stdout.write(json({ error: e.payload }) + "\n");
    process.exit(1);
  }
  throw e;
}
