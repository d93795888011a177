"""Test peer: an AI client in a pod. Usage: k8s_client.py PORT N TAG
Makes N OpenAI-style chat calls (Host api.openai.com, bearer key) over one kept-alive HTTPS
connection to 127.0.0.1:PORT, each user message naming TAG and the call's number."""
import http.client, json, ssl, sys

port, n, tag = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
for i in range(n):
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "%s call %d" % (tag, i)}]})
    c.request("POST", "/v1/chat/completions", body=body, headers={
        "Host": "api.openai.com", "Authorization": "Bearer sk-proj-K8STESTKEY000000000000000",
        "Content-Type": "application/json"})
    c.getresponse().read()
c.close()
print("ok", tag, n)
