// The least a Node.js forward proxy does for a plain-HTTP GET: Node's http.Server reads the
// absolute-form request, undici's Pool (the client fairwatch forwards with) fetches it, and the
// response streams back. No policy, no identity, no events, no header hygiene. Measured beside
// fairwatch in bench/proxy.ts as the ceiling for a proxy written on this runtime, on this machine.
//
//   node bench/lib/min-node-proxy.mjs      → prints "listening <port>" (127.0.0.1, one thread)
import { createServer } from 'node:http';
import { Pool } from 'undici';

const pools = new Map();
const poolFor = (origin) => {
  let p = pools.get(origin);
  if (!p) pools.set(origin, (p = new Pool(origin, { connections: 128 })));
  return p;
};

const server = createServer({ noDelay: true }, (req, res) => {
  let url;
  try {
    url = new URL(req.url ?? '');
  } catch {
    res.writeHead(400).end();
    return;
  }
  poolFor(url.origin).dispatch({ method: req.method, path: url.pathname + url.search, headers: { host: url.host } }, {
    onConnect() {},
    onHeaders(status, raw, resume) {
      const headers = {};
      for (let i = 0; i < raw.length; i += 2) headers[raw[i].toString('latin1')] = raw[i + 1].toString('latin1');
      res.writeHead(status, headers);
      res.on('drain', resume);
      return true;
    },
    onData(chunk) {
      return res.write(chunk);
    },
    onComplete() {
      res.end();
    },
    onError() {
      if (res.headersSent) res.destroy();
      else res.writeHead(502).end();
    },
  });
});
server.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
