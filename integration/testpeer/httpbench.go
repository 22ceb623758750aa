package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// httpServe serves GET /small (3 bytes) on addr, for the --publish
// benchmark; it prints "ready" once listening.
func httpServe(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: http-serve ADDR:PORT")
	}
	l, err := net.Listen("tcp", args[0])
	if err != nil {
		return err
	}
	fmt.Println("ready")
	return http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	}))
}

// httpLatency GETs url n times, one after the other, each on a new
// connection unless keepalive; it prints the median in microseconds.
func httpLatency(args []string) error {
	if len(args) < 2 {
		return fmt.Errorf("usage: http-latency URL N [keepalive]")
	}
	n, err := strconv.Atoi(args[1])
	if err != nil || n < 1 {
		return fmt.Errorf("bad count %q", args[1])
	}
	keep := len(args) > 2 && args[2] == "keepalive"
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: !keep, Proxy: nil}, Timeout: 10 * time.Second}
	times := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		resp, err := client.Get(args[0])
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", args[0], resp.Status)
		}
		times = append(times, time.Since(start))
	}
	slices.Sort(times)
	fmt.Println(times[n/2].Microseconds())
	return nil
}

// proxy forwards every connection to LISTEN on to TARGET, moving the
// bytes as claudebox's relay and --publish do (io.Copy between TCP
// connections: splice(2)); nothing else. make bench measures --publish
// against it: the least any proxy in user space costs.
func proxy(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: proxy LISTEN TARGET")
	}
	l, err := net.Listen("tcp", args[0])
	if err != nil {
		return err
	}
	fmt.Println("ready")
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go func(in *net.TCPConn) {
			defer in.Close()
			o, err := net.Dial("tcp", args[1])
			if err != nil {
				return
			}
			out := o.(*net.TCPConn)
			defer out.Close()
			done := make(chan struct{})
			go func() {
				_, _ = io.Copy(out, in)
				_ = out.CloseWrite()
				close(done)
			}()
			_, _ = io.Copy(in, out)
			_ = in.CloseWrite()
			<-done
		}(c.(*net.TCPConn))
	}
}
