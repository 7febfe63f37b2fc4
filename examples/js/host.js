// The component's one import, `smtp-send:client/host`: where transcript
// lines go, and the options `send` uses. jco maps the import to this file.

const shown = (bytes) => {
  // Python's repr of a line, in single quotes: printable ASCII as is, the
  // rest escaped, so every byte can be told back.
  let out = "";
  for (const b of bytes) {
    if (b === 0x5c) out += "\\\\";
    else if (b === 0x27) out += "\\'";
    else if (b === 0x0d) out += "\\r";
    else if (b === 0x0a) out += "\\n";
    else if (b === 0x09) out += "\\t";
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += "\\x" + b.toString(16).padStart(2, "0");
  }
  return `'${out}'`;
};

export function log(direction, line) {
  // The same lines as the native smtp-send: send/reply in smtplib's form,
  // info lines as plain text.
  const text = direction === "info" ? new TextDecoder().decode(line) : `${direction}: ${shown(line)}`;
  process.stderr.write(text + "\n");
}

export function defaultOptions() {
  return {
    clientName: "localhost",
    replyTimeoutMs: 30_000,
    messageLinesLogged: 20,
    pipelining: true,
    transcript: true,
    tls: "off",
    credentials: undefined,
    allowPlaintextAuth: false,
  };
}
