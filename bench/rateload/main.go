// rateload: an open-loop, fixed-rate HTTP/1.1 load generator for mutual's gateway benchmark.
//
// Requests are sent at start + i/rate whatever the answers do (open loop: a slow answer never
// delays the next request), each on its own goroutine; the latency of each is measured from its
// send to the end of its body, including any wait for a free connection, so a server that falls
// behind shows it in the percentiles. Connections are kept alive (mutual TLS when -cert is
// given, plain HTTP otherwise) and opened before the clock starts. Prints one JSON line.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8443", "host:port (loopback)")
	sni := flag.String("sni", "localhost", "TLS server name")
	certFile := flag.String("cert", "", "client certificate chain PEM (mutual TLS); empty: plain HTTP")
	keyFile := flag.String("key", "", "client key PEM")
	caFile := flag.String("ca", "", "CA PEM that verifies the server")
	rate := flag.Float64("rate", 1000, "requests per second")
	dur := flag.Duration("d", 10*time.Second, "measured duration")
	warmup := flag.Duration("warmup", time.Second, "warm-up at the same rate, not measured")
	conns := flag.Int("conns", 64, "kept-alive connections")
	path := flag.String("path", "/", "request path")
	label := flag.String("label", "", "copied into the output")
	flag.Parse()

	scheme := "http"
	transport := &http.Transport{
		MaxConnsPerHost:     *conns,
		MaxIdleConnsPerHost: *conns,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}
	if *certFile != "" {
		scheme = "https"
		pair, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		fail(err)
		pool := x509.NewCertPool()
		pem, err := os.ReadFile(*caFile)
		fail(err)
		pool.AppendCertsFromPEM(pem)
		transport.TLSClientConfig = &tls.Config{
			Certificates:           []tls.Certificate{pair},
			RootCAs:                pool,
			ServerName:             *sni,
			MinVersion:             tls.VersionTLS13,
			SessionTicketsDisabled: true,
		}
	}
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	url := fmt.Sprintf("%s://%s%s", scheme, *addr, *path)
	var fresh int64
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		if !info.Reused {
			atomic.AddInt64(&fresh, 1)
		}
	}}
	one := func() error {
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", url, nil)
		if err != nil {
			return err
		}
		res, err := client.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if err == nil && res.StatusCode != 200 {
			err = fmt.Errorf("status %d", res.StatusCode)
		}
		return err
	}
	// Open every connection before the clock starts.
	var wg sync.WaitGroup
	for i := 0; i < *conns; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); fail(one()) }()
	}
	wg.Wait()

	atomic.StoreInt64(&fresh, 0)
	interval := time.Duration(float64(time.Second) / *rate)
	total := int((*warmup + *dur).Seconds() * *rate)
	skip := int(warmup.Seconds() * *rate)
	lat := make([]time.Duration, total)
	var errors int64
	start := time.Now().Add(10 * time.Millisecond)
	var done sync.WaitGroup
	for i := 0; i < total; i++ {
		at := start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		done.Add(1)
		go func(i int) {
			defer done.Done()
			// From the send, not the schedule: Go 1.19's timers wake with millisecond granularity, so
			// the schedule's lag is the client's. The send never waits for earlier answers.
			sent := time.Now()
			if err := one(); err != nil {
				atomic.AddInt64(&errors, 1)
				lat[i] = -1
				return
			}
			lat[i] = time.Since(sent)
		}(i)
	}
	done.Wait()
	elapsed := time.Since(start.Add(*warmup))

	measured := make([]float64, 0, total-skip)
	for _, l := range lat[skip:] {
		if l >= 0 {
			measured = append(measured, float64(l.Microseconds()))
		}
	}
	sort.Float64s(measured)
	pct := func(p float64) float64 {
		if len(measured) == 0 {
			return 0
		}
		i := int(p / 100 * float64(len(measured)))
		if i >= len(measured) {
			i = len(measured) - 1
		}
		return measured[i]
	}
	out := map[string]any{
		"label": *label, "rate": *rate, "conns": *conns, "requests": len(measured), "errors": errors,
		"newConnections": atomic.LoadInt64(&fresh),
		"achievedRps":    float64(len(measured)) / elapsed.Seconds(),
		"p50_us":         pct(50), "p90_us": pct(90), "p99_us": pct(99), "p999_us": pct(99.9), "max_us": pct(100),
	}
	enc := json.NewEncoder(os.Stdout)
	fail(enc.Encode(out))
}

func fail(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "rateload:", err)
		os.Exit(1)
	}
}
