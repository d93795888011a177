// Capture benchmark client for Go crypto/tls: N × ((*tls.Conn).Write of 1 KiB on the client,
// (*tls.Conn).Read of it on the server) over net.Pipe (in memory, no syscalls) after a TLS
// handshake with a self-signed ECDSA certificate made at start. Standard library only.
// Waits WAIT seconds (argv[2], default 1) before timing: the sensor probes a Go binary a few
// milliseconds after its exec. Prints nanoseconds per Write/Read call.
// Build: GO111MODULE=off GOTOOLCHAIN=local GOPROXY=off GOCACHE=<dir> go build -o go_tls_loop .
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
	"math/big"
	"net"
	"os"
	"strconv"
	"time"
)

func main() {
	n := 100000
	wait := 1.0
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	if len(os.Args) > 2 {
		wait, _ = strconv.ParseFloat(os.Args[2], 64)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	check(err)
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	cp, sp := net.Pipe()
	c := tls.Client(cp, &tls.Config{InsecureSkipVerify: true})
	s := tls.Server(sp, &tls.Config{Certificates: []tls.Certificate{cert}})
	done := make(chan error, 1)
	go func() { done <- s.Handshake() }()
	check(c.Handshake())
	check(<-done)
	time.Sleep(time.Duration(wait * float64(time.Second)))
	// one whole HTTP/1.1 request of 1 KiB a write: the path AI traffic takes (see ssl_loop.c)
	buf := make([]byte, 1024)
	head := ""
	for body := 924; ; body = 1024 - len(head) {
		head = fmt.Sprintf("POST /bench HTTP/1.1\r\nHost: bench\r\nContent-Length: %d\r\n\r\n", body)
		if len(head)+body == 1024 {
			break
		}
	}
	copy(buf, head)
	for i := len(head); i < len(buf); i++ {
		buf[i] = byte('a' + i%26)
	}
	go func() {
		in := make([]byte, 1024)
		for i := 0; i < n; i++ {
			if _, err := io.ReadFull(s, in); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		if _, err := c.Write(buf); err != nil {
			check(err)
		}
	}
	check(<-done)
	dt := time.Since(t0)
	fmt.Printf("%.1f\n", float64(dt.Nanoseconds())/(2*float64(n))) // per call (one Write + one Read per iteration)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
