#!/usr/bin/env bash
# Sourced by the security benchmarks: a CA and a certificate for 127.0.0.1 in $WORK (ca.pem,
# node.pem, node.key), an HS256 secret ($WORK/secret) and a read+write token for it ($TOKEN).
# Needs WORK and BIN set.
(
  cd "$WORK"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 \
    -subj '/CN=bench CA' 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout node.key -out node.csr -subj '/CN=node' 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\n' >node.ext
  openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out node.pem -days 1 \
    -extfile node.ext 2>/dev/null
  head -c 48 /dev/urandom | base64 >secret
)
TOKEN=$("$BIN/counterctl" token --secret-file "$WORK/secret" --ns bench \
  --scope "counters:read counters:write" --ttl 1h)
export TOKEN
