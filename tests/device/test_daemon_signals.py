#!/usr/bin/env python3
"""regulars-device as an operator meets it: a bad configuration is refused
with exit 2 and the key named; SIGHUP applies a changed staff PIN and screen
settings; a SIGHUP with a bad or non-reloadable configuration keeps the
running one (and says so); SIGTERM stops cleanly with exit 0.

usage: test_daemon_signals.py REGULARS-DEVICE REGULARSCTL UI-DIR
"""
import http.client as httpc
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

DAEMON, CTL, UI = sys.argv[1], sys.argv[2], sys.argv[3]
WAIT_S = 10


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def run(args, stdin=None):
    p = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def wait_for(pred, what):
    end = time.monotonic() + WAIT_S
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    fail("timed out waiting for " + what)


def http(port, method, path, body=None, cookie=None):
    c = httpc.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    if cookie:
        headers["Cookie"] = cookie
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    r = c.getresponse()
    data = r.read()
    cookie = r.getheader("Set-Cookie")
    c.close()
    return r.status, data, cookie


def main():
    d = tempfile.mkdtemp(prefix="rg-daemon-sig-", dir=os.environ.get("TMPDIR", "/tmp"))
    proc = None
    try:
        cfg_path = os.path.join(d, "device.json")
        log_path = os.path.join(d, "device.log")
        base = {
            "device_id": "dev-0042-k9", "store_id": "0042", "role": "kiosk",
            "database": os.path.join(d, "device.db"),
            "keystore": {"backend": "file", "options": "dir=" + os.path.join(d, "keys")},
            "readers": [{"backend": "sim", "options": "path=" + os.path.join(d, "reader.sock")}],
            "http": {"port": 0, "assets": UI},
        }

        def write(cfg):
            with open(cfg_path, "w") as f:
                json.dump(cfg, f)

        # 1. Bad command lines and configurations: exit 2, the key named, nothing created.
        rc, _, err = run([DAEMON])
        if rc != 2 or "--config" not in err:
            fail("no --config: exit %d, %r" % (rc, err))
        bad = dict(base, htpp={"port": 1})
        write(bad)
        rc, _, err = run([DAEMON, "--config", cfg_path])
        if rc != 2 or "htpp" not in err:
            fail("unknown key: exit %d, %r" % (rc, err))
        write(dict(base, http={"port": 70000}))
        rc, _, err = run([DAEMON, "--config", cfg_path])
        if rc != 2 or "http.port" not in err:
            fail("bad port: exit %d, %r" % (rc, err))
        if os.path.exists(base["database"]):
            fail("a refused configuration created the database")
        write(base)
        rc, out, _ = run([DAEMON, "--config", cfg_path, "--check-config"])
        if rc != 0 or "ok" not in out:
            fail("--check-config of a good file: exit %d" % rc)
        # Without a tenant key the daemon refuses to start, saying how to fix it.
        rc, _, err = run([DAEMON, "--config", cfg_path])
        if rc != 1 or "provision" not in err:
            fail("no tenant key: exit %d, %r" % (rc, err))
        rc, _, err = run([CTL, "device", "provision", "--config", cfg_path, "--generate-tenant-key"])
        if rc != 0:
            fail("provision: " + err)

        # 2. Start without a staff PIN.
        log = open(log_path, "w")
        proc = subprocess.Popen([DAEMON, "--config", cfg_path], stderr=log,
                                env=dict(os.environ, REGULARS_LOG_LEVEL="info"))

        def logged(text):
            with open(log_path) as f:
                return text in f.read()

        def port():
            with open(log_path) as f:
                for line in f:
                    if "event=http_listening" in line:
                        return int(line.split("port=")[1].split()[0])
            return 0

        p = wait_for(port, "http_listening")
        wait_for(lambda: logged("event=started"), "started")
        st, body, _ = http(p, "POST", "/api/v1/session", {"pin": "1234"})
        if st != 503:
            fail("login without a configured PIN: %d %r" % (st, body))

        # 3. SIGHUP with a PIN and new screen settings: applied.
        rc, pin_hash, err = run([CTL, "device", "pin-hash", "--iterations", "1000"], stdin="1234\n")
        if rc != 0:
            fail("pin-hash: " + err)
        good = dict(base, staff={"pin_hash": pin_hash.strip()},
                    screen={"idle_after_ms": 4321, "default_language": "nl"})
        write(good)
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: logged("event=reloaded"), "reloaded")
        st, body, cookie = http(p, "POST", "/api/v1/session", {"pin": "1234"})
        if st != 200 or not cookie:
            fail("login after reload: %d %r" % (st, body))
        st, body, _ = http(p, "GET", "/api/v1/screen")
        screen = json.loads(body)
        if screen.get("default_language") != "nl":
            fail("screen settings not reloaded: %r" % screen)

        # 4. SIGHUP with a change that needs a restart: refused, still serving.
        write(dict(good, database=os.path.join(d, "other.db")))
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: logged("event=reload_refused"), "reload_refused")
        # 5. SIGHUP with broken JSON: refused too, the running configuration stays.
        with open(cfg_path, "w") as f:
            f.write("{ not json")
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: open(log_path).read().count("event=reload_refused") >= 2, "second refusal")
        st, _, _ = http(p, "GET", "/healthz")
        if st != 200 or proc.poll() is not None:
            fail("the daemon stopped serving after a refused reload")
        st, _, _ = http(p, "POST", "/api/v1/session", {"pin": "1234"})
        if st != 200:
            fail("the running PIN was lost by a refused reload: %d" % st)
        if os.path.exists(os.path.join(d, "other.db")):
            fail("a refused reload opened the other database")

        # 6. SIGTERM: clean stop, exit 0.
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            fail("SIGTERM did not stop the daemon")
        proc = None
        if rc != 0 or not logged("event=stopped"):
            fail("SIGTERM: exit %d" % rc)
        print("ok: bad configs exit 2, SIGHUP reloads PIN and screen, refused reloads keep "
              "running, SIGTERM exits 0")
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        shutil.rmtree(d, ignore_errors=True)


main()
