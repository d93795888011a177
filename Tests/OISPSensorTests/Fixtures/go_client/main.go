// Test peer for Go crypto/tls capture: POSTs an OpenAI-style chat completion over HTTPS to
// 127.0.0.1, once over HTTP/1.1 and once over HTTP/2, and prints each response.
// Standard library only. Usage: go_client PORT [h1|h2|both]
// go_client PORT hangup FILE: asks for a long streamed answer over HTTP/1.1, reads its first
// bytes, closes the body (the connection ends), prints "hung up" and waits until FILE exists.
//
// Build (offline, no modules), unstripped and stripped:
//
//	GO111MODULE=off GOTOOLCHAIN=local GOPROXY=off go build -o go_client main.go
//	GO111MODULE=off GOTOOLCHAIN=local GOPROXY=off go build -ldflags='-s -w' -o go_client_stripped main.go
package main

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

const apiKey = "sk-proj-GoTlsTestKey0000000000000000"

func post(name string, tr *http.Transport, port string) error {
	body := fmt.Sprintf(`{"model":"gpt-4o","messages":[{"role":"user","content":"hello from go %s"}]}`, name)
	req, err := http.NewRequest("POST", "https://127.0.0.1:"+port+"/v1/chat/completions", bytes.NewBufferString(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %s %d %s\n", name, resp.Proto, resp.StatusCode, b)
	return nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: go_client PORT [h1|h2|both]")
		os.Exit(2)
	}
	port, mode := os.Args[1], "both"
	if len(os.Args) > 2 {
		mode = os.Args[2]
	}
	insecure := &tls.Config{InsecureSkipVerify: true} // the test server's certificate is self-signed
	if mode == "hangup" && len(os.Args) > 3 {
		tr := &http.Transport{TLSClientConfig: insecure, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
		body := `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"a long answer from go"}]}`
		req, _ := http.NewRequest("POST", "https://127.0.0.1:"+port+"/v1/chat/completions", bytes.NewBufferString(body))
		req.Header.Set("Authorization", "Bearer "+apiKey)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Chunks", "2000")
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			fmt.Fprintln(os.Stderr, "hangup:", err)
			os.Exit(1)
		}
		first := make([]byte, 200)
		io.ReadFull(resp.Body, first)
		resp.Body.Close() // before the end: the transport closes the connection
		fmt.Println("hung up")
		for {
			if _, err := os.Stat(os.Args[3]); err == nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if mode == "h1" || mode == "both" {
		tr := &http.Transport{TLSClientConfig: insecure, ForceAttemptHTTP2: false,
			TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
		if err := post("h1", tr, port); err != nil {
			fmt.Fprintln(os.Stderr, "h1:", err)
			os.Exit(1)
		}
	}
	if mode == "h2" || mode == "both" {
		tr := &http.Transport{TLSClientConfig: insecure, ForceAttemptHTTP2: true}
		if err := post("h2", tr, port); err != nil {
			fmt.Fprintln(os.Stderr, "h2:", err)
			os.Exit(1)
		}
	}
}
