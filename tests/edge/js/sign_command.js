// A platform signer in another language: Node.js's built-in Ed25519 and a JCS (RFC 8785) serialiser.
// usage: node sign_command.js PRIVATE_KEY.pem < body.json > signed.json
// JCS = ECMAScript JSON.stringify for strings and numbers, object keys sorted by UTF-16 code units, no spaces.
"use strict";
const crypto = require("crypto");
const fs = require("fs");

function jcs(value) {
  if (value === null || typeof value !== "object") {
    if (typeof value === "number" && !Number.isFinite(value)) throw new Error("non-finite number");
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return "[" + value.map(jcs).join(",") + "]";
  return "{" + Object.keys(value).sort().map((k) => JSON.stringify(k) + ":" + jcs(value[k])).join(",") + "}";
}

const key = crypto.createPrivateKey(fs.readFileSync(process.argv[2]));
const body = JSON.parse(fs.readFileSync(0, "utf8"));
body.v = 2;
delete body.signature;
const signature = crypto.sign(null, Buffer.from(jcs(body), "utf8"), key).toString("base64");
process.stdout.write(JSON.stringify({ ...body, signature }));
