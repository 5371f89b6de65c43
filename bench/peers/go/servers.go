package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
)

// listen opens 127.0.0.1:port and announces it the way the cio and libuv
// servers do; run.py itself waits until the port accepts connections.
func listen(port int) net.Listener {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "listen on %s: %v\n", addr, err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", addr)
	return ln
}

var hello = []byte("Hello, World!")

// serveHTTPHello: idiomatic net/http. Setting Content-Type keeps Go from
// sniffing the body, and Content-Length keeps it from chunking, so the
// response has the same headers as the other servers' (plus Go's Date).
func serveHTTPHello(port int) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/plain")
		h.Set("Content-Length", "13")
		w.Write(hello)
	})
	err := (&http.Server{Handler: mux}).Serve(listen(port))
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

// serveEcho: a goroutine per connection in a read/write loop. io.Copy is
// avoided on purpose: for a TCP-to-TCP copy it may take the splice path,
// which is not what a Go echo server's per-message cost looks like.
func serveEcho(port int) {
	ln := listen(port)
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		go func(c net.Conn) {
			defer c.Close()
			buf := make([]byte, 16*1024)
			for {
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				if _, err := c.Write(buf[:n]); err != nil {
					return
				}
			}
		}(c)
	}
}
