"""Test client using python's ssl module (SSL_read_ex/SSL_write_ex).
Usage: tls_client.py PORT MODE. Modes: simple | threads | openai | bigai | big"""
import http.client, json, ssl, sys, threading

port, mode = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE

def post(path, body, marker):
    c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
    c.request("POST", path, body=body, headers={"Content-Type": "application/json", "X-Marker": marker})
    r = c.getresponse()
    data = r.read()
    c.close()
    return data

if mode == "simple":
    print(post("/py/simple", b'{"model":"gpt-4o","messages":[{"role":"user","content":"python hello"}]}', "PY-SIMPLE").decode())
elif mode == "threads":
    def worker(tag):
        for i in range(5):
            post("/py/thread-" + tag, (("THREAD-" + tag + "-") * 200).encode(), "T" + tag)
    ts = [threading.Thread(target=worker, args=(t,)) for t in ("AAAA", "BBBB")]
    [t.start() for t in ts]
    [t.join() for t in ts]
    print("threads done")
elif mode == "openai":
    # An OpenAI SDK-style call: Host api.openai.com, bearer key, JSON body; then a streamed one.
    for stream in (False, True):
        c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
        body = json.dumps({"model": "gpt-4o-mini", "stream": stream, "temperature": 0.2,
                           "messages": [{"role": "system", "content": "Be brief."},
                                        {"role": "user", "content": "Say hello " + ("streamed" if stream else "plain")}]})
        c.request("POST", "/v1/chat/completions", body=body, headers={
            "Host": "api.openai.com", "Authorization": "Bearer sk-proj-TESTKEY1234567890abcdefghij",
            "Content-Type": "application/json"})
        print(c.getresponse().read().decode()[:200])
        c.close()
elif mode == "bigai":
    # An agent's long context: a 64 KiB call in one write (messages first, as the OpenAI SDK
    # orders its body), then a short call on the same keep-alive connection.
    c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
    for size in (65536, 10):
        body = json.dumps({"messages": [{"role": "system", "content": "You are a coding agent."},
                                        {"role": "user", "content": "x" * size}], "model": "gpt-4o", "stream": False})
        c.request("POST", "/v1/chat/completions", body=body, headers={
            "Host": "api.openai.com", "Authorization": "Bearer sk-proj-BIGKEY1234567890abcdefghij",
            "Content-Type": "application/json"})
        print(c.getresponse().read().decode()[:100])
    c.close()
elif mode == "big":
    body = bytes((i * 7 + 3) % 251 for i in range(65536))
    body = body.hex().encode()[:65536]  # 64 KiB of printable text
    print(post("/py/big", body, "PY-BIG").decode())
