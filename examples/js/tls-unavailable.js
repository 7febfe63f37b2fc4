// `wasi:tls` for a host without it. Node's preview2-shim has no wasi:tls;
// the component only touches it when asked for TLS, and then gets a clear
// failure instead of a missing import.

const unavailable = () => {
  throw new Error("this host has no wasi:tls");
};

export class ClientHandshake {
  constructor() {
    unavailable();
  }
}
export class ClientConnection {
  constructor() {
    unavailable();
  }
}
export class FutureClientStreams {
  constructor() {
    unavailable();
  }
}
