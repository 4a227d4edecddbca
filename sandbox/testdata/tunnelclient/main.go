// Command tunnelclient exercises the sandbox's program channel from
// inside a container: it talks to the host's server through the
// listener on the loopback (TUNNEL_URL). Built by the tunnel tests.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"
)

func main() {
	base := os.Getenv("TUNNEL_URL")
	if len(os.Args) < 2 || base == "" {
		fmt.Fprintln(os.Stderr, "usage: TUNNEL_URL=http://127.0.0.1:PORT tunnelclient concurrent N | big MB | hold | flood SECONDS | stall | latency N")
		os.Exit(2)
	}
	arg := 0
	if len(os.Args) > 2 {
		arg, _ = strconv.Atoi(os.Args[2])
	}
	var err error
	switch os.Args[1] {
	case "concurrent":
		err = concurrent(base, arg)
	case "big":
		err = big(base, arg)
	case "hold":
		err = hold(base)
	case "flood":
		err = flood(base, arg)
	case "stall":
		err = stall(base)
	case "latency":
		err = latency(base, arg)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		os.Exit(1)
	}
}

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// post sends body to /echo and checks the answer is its hash.
func post(c *http.Client, base string, body []byte) error {
	resp, err := c.Post(base+"/echo", "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if string(got) != sum(body) {
		return fmt.Errorf("echo of %d bytes: got %q, want %s", len(body), got, sum(body))
	}
	return nil
}

func concurrent(base string, n int) error {
	c := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: n, DisableKeepAlives: true}}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := make([]byte, 1000+rand.Intn(200_000))
			rand.Read(body)
			for range 3 {
				if err := post(c, base, body); err != nil {
					errs <- fmt.Errorf("client %d: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	fmt.Printf("OK concurrent %d\n", n)
	return nil
}

func big(base string, mb int) error {
	body := make([]byte, mb<<20)
	rand.Read(body)
	start := time.Now()
	if err := post(http.DefaultClient, base, body); err != nil {
		return err
	}
	up := time.Since(start)
	start = time.Now()
	resp, err := http.Get(base + "/bytes?n=" + strconv.Itoa(mb<<20))
	if err != nil {
		return err
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if len(got) != mb<<20 || resp.Header.Get("X-Sum") != sum(got) {
		return fmt.Errorf("download: %d bytes, sum mismatch", len(got))
	}
	down := time.Since(start)
	fmt.Printf("OK big %d MB up %.1f MB/s down %.1f MB/s\n", mb, float64(mb)/up.Seconds(), float64(mb)/down.Seconds())
	return nil
}

// hold opens a connection and never closes it, then goes on with
// requests on others.
func hold(base string) error {
	u, _ := url.Parse(base)
	nc, err := net.Dial("tcp", u.Host)
	if err != nil {
		return err
	}
	_ = nc // never closed, never written
	if err := post(http.DefaultClient, base, []byte("after hold")); err != nil {
		return err
	}
	fmt.Println("OK hold")
	time.Sleep(time.Hour)
	return nil
}

// flood writes to a raw connection as fast as it can for a while, the
// server reading nothing; requests on other connections still work.
func flood(base string, secs int) error {
	u, _ := url.Parse(base)
	nc, err := net.Dial("tcp", u.Host)
	if err != nil {
		return err
	}
	if _, err := nc.Write([]byte("POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000000\r\n\r\n")); err != nil {
		return err
	}
	var written int64
	go func() {
		buf := make([]byte, 1<<16)
		for {
			n, err := nc.Write(buf)
			written += int64(n)
			if err != nil {
				return
			}
		}
	}()
	deadline := time.Now().Add(time.Duration(secs) * time.Second)
	n := 0
	for time.Now().Before(deadline) {
		if err := post(http.DefaultClient, base, []byte("during flood "+strconv.Itoa(n))); err != nil {
			return err
		}
		n++
	}
	fmt.Printf("OK flood %d requests beside it\n", n)
	return nil
}

// stall asks for an endless answer and reads none of it; other requests
// still work.
func stall(base string) error {
	resp, err := http.Get(base + "/endless")
	if err != nil {
		return err
	}
	_ = resp // never read
	for i := range 20 {
		if err := post(http.DefaultClient, base, []byte("beside a stalled reader "+strconv.Itoa(i))); err != nil {
			return err
		}
	}
	fmt.Println("OK stall")
	return nil
}

func latency(base string, n int) error {
	c := &http.Client{}
	var ds []time.Duration
	for range n {
		start := time.Now()
		if err := post(c, base, []byte("ping")); err != nil {
			return err
		}
		ds = append(ds, time.Since(start))
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	fmt.Printf("OK latency p50 %s p99 %s\n", ds[len(ds)/2], ds[len(ds)*99/100])
	return nil
}
