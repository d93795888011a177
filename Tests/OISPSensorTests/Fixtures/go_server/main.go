// Test peer: HTTPS server on 127.0.0.1 (HTTP/1.1 and HTTP/2 via ALPN) with an in-memory
// self-signed certificate; answers /v1/chat/completions like OpenAI's API. Standard library only.
// Usage: go_server PORT
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"time"
)

func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: go_server PORT")
		os.Exit(2)
	}
	cert, err := selfSigned()
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("x-request-id", "req-go-1")
		fmt.Fprintf(w, `{"id":"chatcmpl-go1","object":"chat.completion","model":"gpt-4o","proto":%q,`+
			`"choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the test model."}}],`+
			`"usage":{"prompt_tokens":%d,"completion_tokens":6,"total_tokens":%d}}`, r.Proto, len(body)/4, len(body)/4+6)
	})
	srv := &http.Server{Addr: "127.0.0.1:" + os.Args[1], Handler: mux,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}}
	log.Fatal(srv.ListenAndServeTLS("", ""))
}
