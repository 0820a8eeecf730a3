"""A registry token server for the tests (docker/distribution's token auth): GET /token with basic auth answers an
RS256 JWT signed with KEY, its certificate in the x5c header (the registry trusts it through rootcertbundle), granting
the scopes asked for to USER. Each grant is logged to LOG ("scope1 scope2" per line, "-" for none).

    python3 token_server.py PORT_FILE KEY CERT SERVICE ISSUER USER PASSWORD LOG
"""
import base64, http.server, json, os, subprocess, sys, time, urllib.parse

port_file, key, cert, service, issuer, user, password, log = sys.argv[1:9]


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


with open(cert) as f:
    pem = f.read()
der = base64.b64decode("".join(l for l in pem.splitlines() if l and not l.startswith("-----")))


def token(scopes):
    access = []
    for scope in scopes:
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        access.append({"type": kind, "name": name, "actions": [a for a in actions.split(",") if a]})
    now = int(time.time())
    header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
    claims = {"iss": issuer, "sub": user, "aud": service, "exp": now + 300, "nbf": now - 10, "iat": now,
              "jti": b64(os.urandom(12)), "access": access}
    signing = (b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())).encode()
    signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing, capture_output=True, check=True).stdout
    return signing.decode() + "." + b64(signature)


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        query = urllib.parse.parse_qs(url.query)
        expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        if url.path != "/token" or query.get("service") != [service]:
            self.send_response(404); self.end_headers(); return
        if self.headers.get("Authorization") != expected:
            body = b'{"details":"incorrect username or password"}'
            self.send_response(401); self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body); return
        scopes = query.get("scope", [])
        with open(log, "a") as f:
            f.write((" ".join(scopes) or "-") + "\n")
        t = token(scopes)
        body = json.dumps({"token": t, "access_token": t, "expires_in": 300}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
