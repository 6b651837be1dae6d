#!/usr/bin/env python3
"""Writes the hand-made seed inputs of each fuzz target into corpus/<target>/seed-*.

Run once when a target's input format changes; inputs the fuzzer found (crashes turned into
regression inputs, or a minimized corpus) are kept beside them under other names."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def msg(type_, body=b""):
    return type_ + struct.pack("!I", len(body) + 4) + body


def write(target, name, data):
    directory = os.path.join(HERE, "corpus", target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "seed-" + name), "wb") as f:
        f.write(data)


def startup(params, code=196608):
    body = struct.pack("!I", code) + b"".join(k + b"\0" + v + b"\0" for k, v in params) + b"\0"
    return body  # the fuzz target gets the packet after its length word


# frame_scanner: mask byte, split length, split sizes, stream
stream = msg(b"Q", b"select 1\0") + msg(b"T", b"\0\1" + b"?column?\0" + b"\0" * 18) + \
    msg(b"D", b"\0\1\0\0\0\1" + b"1") + msg(b"C", b"SELECT 1\0") + msg(b"Z", b"I")
write("frame_scanner", "query", b"\x0f\x03\x00\x04\x10" + stream)
write("frame_scanner", "terminate", b"\x01\x01\x02" + msg(b"Q", b"x\0") + msg(b"X") + msg(b"Q", b"y\0"))
write("frame_scanner", "bad-length", b"\x00\x00" + b"Q\x00\x00\x00\x03")
write("frame_scanner", "negative-length", b"\x00\x00" + b"Q\xff\xff\xff\xff")
write("frame_scanner", "huge-length", b"\x0f\x00" + b"D\x7f\xff\xff\xff" + b"x" * 16)
write("frame_scanner", "partial", b"\x02\x01\x00" + msg(b"S", b"TimeZone\0UTC\0") + b"Z\x00\x00")

# startup: the packet after its length word
write("startup", "message", startup([(b"user", b"app"), (b"database", b"app"),
                                     (b"application_name", b"psql"), (b"options", b"-c search_path=a\\ b --work-mem=4MB")]))
write("startup", "ssl", struct.pack("!I", 80877103))
write("startup", "gss", struct.pack("!I", 80877104))
write("startup", "cancel", struct.pack("!III", 80877102, 1234, 5678))
write("startup", "cancel-short", struct.pack("!II", 80877102, 1234))
write("startup", "protocol-2", startup([(b"user", b"app")], code=0x00020000))
write("startup", "no-terminator", struct.pack("!I", 196608) + b"user\0app")
write("startup", "nul-in-value", struct.pack("!I", 196608) + b"user\0a\0pp\0\0")
write("startup", "pq-option", startup([(b"user", b"app"), (b"_pq_.x", b"1")]))

# scram_server: mode byte; even: client-first NUL client-final; odd: a genuine client's nonce
write("scram_server", "first", b"\x00n,,n=,r=rOprNGfwEbeRWgbNEkqO\0c=biws,r=rOprNGfwEbeRWgbNEkqOfuzzServerNonce0123456789,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
write("scram_server", "genuine", b"\x01rOprNGfwEbeRWgbNEkqO")
write("scram_server", "channel-binding", b"\x00p=tls-server-end-point,,n=,r=abc\0")
write("scram_server", "authzid", b"\x00n,a=admin,n=,r=abc\0")
write("scram_server", "no-nonce", b"\x00n,,n=\0")
write("scram_server", "huge-nonce", b"\x00n,,n=,r=" + b"A" * 3000 + b"\0c=biws,r=" + b"A" * 3000 + b"fuzzServerNonce0123456789,p=")

# scram_client: server-first NUL server-final
write("scram_client", "exchange", b"r=clientNonce3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096\0v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
write("scram_client", "error", b"r=clientNonceX,s=QSXCR+Q6sek8bf92,i=4096\0e=invalid-proof")
write("scram_client", "absurd-iterations", b"r=clientNonceX,s=QSXCR+Q6sek8bf92,i=2147483647\0")
write("scram_client", "bad-salt", b"r=clientNonceX,s=!!!,i=4096\0")
write("scram_client", "nonce-not-extended", b"r=other,s=QSXCR+Q6sek8bf92,i=4096\0")

# server_messages: a stream of typed messages
write("server_messages", "login", msg(b"R", struct.pack("!I", 10) + b"SCRAM-SHA-256\0\0") +
      msg(b"R", struct.pack("!I", 11) + b"r=abc,s=c2FsdA==,i=4096") + msg(b"R", struct.pack("!I", 12) + b"v=AAAA") +
      msg(b"R", struct.pack("!I", 0)) + msg(b"S", b"server_version\x0015.5\0") + msg(b"K", struct.pack("!II", 42, 7)) +
      msg(b"Z", b"I"))
write("server_messages", "md5", msg(b"R", struct.pack("!I", 5) + b"salt") + msg(b"R", struct.pack("!I", 3)))
write("server_messages", "error", msg(b"E", b"SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed\0\0") +
      msg(b"N", b"SNOTICE\0Mhello\0\0"))
write("server_messages", "error-without-sqlstate", msg(b"E", b"SERROR\0Mno code\0\0"))
write("server_messages", "error-unterminated", msg(b"E", b"SERROR\0Mno end"))
write("server_messages", "command-complete", msg(b"C", b"INSERT 0 1\0") + msg(b"Z", b"T") + msg(b"Z", b"E") + msg(b"Z", b"?"))
write("server_messages", "client-login", msg(b"p", b"SCRAM-SHA-256\0" + struct.pack("!I", 5) + b"n,,n=") +
      msg(b"p", b"SCRAM-SHA-256\0\xff\xff\xff\xff") + msg(b"p", b"password\0"))
write("server_messages", "sasl-huge-length", msg(b"p", b"SCRAM-SHA-256\0\x7f\xff\xff\xff"))

# extended_query: a client's stream of extended-query messages and short Queries
def bind(portal, statement, rest=b"\0\0\0\x01\0\0\0\x011\0\0"):
    return msg(b"B", portal + b"\0" + statement + b"\0" + rest)


write("extended_query", "pipeline", msg(b"P", b"s1\0select $1::int\0\0\x01\0\0\0\x17") + bind(b"", b"s1") +
      msg(b"D", b"Ps1\0") + msg(b"E", b"\0\0\0\0\0") + msg(b"C", b"Ss1\0") + msg(b"S") + msg(b"H"))
write("extended_query", "unnamed", msg(b"P", b"\0select 1\0\0\0") + bind(b"p", b"") + msg(b"E", b"p\0\0\0\0\x0a"))
write("extended_query", "bad-counts", msg(b"P", b"s\0q\0\0\x05\0\0\0\x17") + msg(b"B", b"p\0s\0\0") +
      msg(b"D", b"Xs\0") + msg(b"C", b"S") + msg(b"E", b"\0\0"))
write("extended_query", "deallocate", msg(b"Q", b"DEALLOCATE PREPARE \"My \"\"s\"\"\" ;\0") +
      msg(b"Q", b"deallocate all\0") + msg(b"Q", b"DISCARD ALL;\0") + msg(b"Q", b"DEALLOCATE prepare\0") +
      msg(b"Q", b"DEALLOCATE \"unterminated\0") + msg(b"Q", b"DEALLOCATE s1; select 1\0"))

# config_loader: YAML text
with open(os.path.join(HERE, "..", "..", "deploy", "examples", "pgsluice.yaml"), "rb") as f:
    write("config_loader", "example", f.read())
write("config_loader", "minimal", b"databases:\n  app: {}\nusers:\n  app: {password: x}\n")
write("config_loader", "secrets", b"listen: {address: 0.0.0.0, port: 6433, unix_socket_dir: /tmp}\n"
      b"databases:\n  app: {host: /var/run/postgresql, pool_size: 5, pool_mode: session, user: u, password: {env: APP_PASSWORD}}\n"
      b"users:\n  app: {password: {file: /run/secrets/app}}\n"
      b"  v: {password: 'SCRAM-SHA-256$4096:QSXCR+Q6sek8bf92$6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=:HZbuOlKbWl+eR8AfIposuKbhX30hSTu6GVu5K7mZ6PM='}\n")
write("config_loader", "errors", b"defaults:\n  pool_szie: 5\n  query_wait_timeout: 5 parsecs\ndatabases:\n  app: [1, 2\n")
write("config_loader", "durations", b"defaults: {query_timeout: 500ms, server_lifetime: 1h, client_idle_timeout: 0}\n"
      b"limits: {max_client_conn: 4294967296}\nworkers: auto\ndatabases: {a: {port: 70000}}\nusers: {}\n")
write("config_loader", "anchors", b"x: &a {pool_size: 3}\ndefaults: *a\ndatabases:\n  app: {<<: *a}\nusers:\n  app: {password: x}\n")
