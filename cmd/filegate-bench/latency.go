package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/filegate/filegate/datadir"
)

// delayProxy is a TCP proxy on loopback that holds every byte the upstream
// sends for delay before passing it on, as a store's first-byte latency
// does (S3: tens of milliseconds per request). Requests go through at
// once; each answer arrives delay later; bandwidth is not limited. It is a
// delay line, not an HTTP proxy, so the same requests reach the store
// whichever client sends them.
type delayProxy struct {
	ln     net.Listener
	target string
	delay  time.Duration
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
}

func startDelayProxy(ctx context.Context, target string, delay time.Duration) (*delayProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &delayProxy{ln: ln, target: target, delay: delay, conns: map[net.Conn]struct{}{}}
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns[c] = struct{}{}
			p.mu.Unlock()
			p.wg.Go(func() { p.serve(ctx, c) })
		}
	})
	return p, nil
}

func (p *delayProxy) Addr() string { return p.ln.Addr().String() }

// Close stops accepting, closes the connections (clients keep idle ones)
// and waits for them to end.
func (p *delayProxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

type chunk struct {
	due  time.Time
	data []byte
}

func (p *delayProxy) serve(ctx context.Context, c net.Conn) {
	defer func() {
		c.Close()
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
	}()
	up, err := (&net.Dialer{}).DialContext(ctx, "tcp", p.target)
	if err != nil {
		return
	}
	defer up.Close()
	go func() {
		_, _ = io.Copy(up, c) // requests: no delay
		up.(*net.TCPConn).CloseWrite()
	}()
	// Answers: read as they come, stamped, written when due. At most 64
	// chunks of 32 KiB wait in the line per connection.
	line := make(chan chunk, 64)
	go func() {
		defer close(line)
		for {
			b := make([]byte, 32<<10)
			n, err := up.Read(b)
			if n > 0 {
				line <- chunk{time.Now().Add(p.delay), b[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	for ch := range line {
		if d := time.Until(ch.due); d > 0 {
			time.Sleep(d)
		}
		if _, err := c.Write(ch.data); err != nil {
			up.Close() // ends the reader
			for range line {
			}
			return
		}
	}
}

// benchSmallLatency bundles the 5,000 small objects through a delayProxy
// in front of the store, as on S3 where first-byte latency, not bandwidth,
// decides: a second filegate uses the proxy as its S3 endpoint; the
// baselines are the same GETs through the same proxy, in parallel at the
// best of several concurrencies, and one after another (on a sample,
// scaled: 5,000 × the delay alone is minutes).
func benchSmallLatency(ctx context.Context, o benchOptions, sf datadir.StoreFile, keys []string, stderr io.Writer) ([]row, error) {
	const delay = 20 * time.Millisecond
	u, err := url.Parse(sf.Endpoint)
	if err != nil {
		return nil, err
	}
	px, err := startDelayProxy(ctx, u.Host, delay)
	if err != nil {
		return nil, err
	}
	defer px.Close()
	endpoint := "http://" + px.Addr()
	data, err := os.MkdirTemp("", "filegate-bench-latency-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(data)
	args := []string{"serve", "--listen", "127.0.0.1:0", "--data", data, "--log-level", "error",
		"--endpoint", endpoint, "--region", sf.Region, "--access-key-id", sf.AccessKeyID, "--secret-access-key", sf.SecretAccessKey,
		"--bucket", "filegate", "--bundle-bucket", "filegate-bundles", "--no-web"}
	if o.debugAddr != "" {
		// This filegate is the one the proxied rows measure; the bundle
		// section's first filegate has the embedded store inside it.
		args = append(args, "--debug-addr", o.debugAddr)
	}
	fg, err := startChild(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer fg.stop()
	s3c := s3.New(s3.Options{Region: sf.Region, Credentials: credentials.NewStaticCredentialsProvider(sf.AccessKeyID, sf.SecretAccessKey, ""),
		UsePathStyle: true, BaseEndpoint: aws.String(endpoint), RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		HTTPClient:                 &http.Client{Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024}}})
	get := func(k string) error {
		out, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("filegate"), Key: aws.String(k)})
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, out.Body)
		out.Body.Close()
		return err
	}
	parallelGets := func(n int) (float64, error) {
		t0 := time.Now()
		work := make(chan string)
		var failed atomic.Int64
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				for k := range work {
					if get(k) != nil {
						failed.Add(1)
					}
				}
			})
		}
		for _, k := range keys {
			work <- k
		}
		close(work)
		wg.Wait()
		if f := failed.Load(); f > 0 {
			return 0, fmt.Errorf("bench: %d GETs through the proxy failed at concurrency %d", f, n)
		}
		return time.Since(t0).Seconds(), nil
	}
	var bundleT, bestT []float64
	bestN := 0
	for round := range o.rounds {
		settle()
		t0 := time.Now()
		if err := postOK(fg, "/v1/bundles", fmt.Sprintf(`{"prefix":"small/","compression":"store","name":"lat%d"}`, round)); err != nil {
			return nil, err
		}
		bundleT = append(bundleT, time.Since(t0).Seconds())
		best := 0.0
		for _, n := range []int{32, 64, 128, 256} { // the embedded store serves at most 1024 connections
			settle()
			secs, err := parallelGets(n)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(stderr, "bench: round %d through +%s: %d parallel GETs %.2fs\n", round+1, delay, n, secs)
			if best == 0 || secs < best {
				best, bestN = secs, n
			}
		}
		bestT = append(bestT, best)
		fmt.Fprintf(stderr, "bench: round %d through +%s: bundle %.2fs, best parallel GETs %.2fs\n", round+1, delay, bundleT[round], best)
	}
	// One after another, on a sample of 250 keys, scaled to 5,000.
	const sample = 250
	t0 := time.Now()
	for _, k := range keys[:sample] {
		if err := get(k); err != nil {
			return nil, err
		}
	}
	seq := time.Since(t0).Seconds() * float64(len(keys)) / sample
	b, best := median(bundleT), median(bestT)
	return []row{
		{fmt.Sprintf("bundle 5,000 × 4 KiB, store +%s per answer", delay), fmt.Sprintf("%.2f s", b), fmt.Sprintf("%.2f× best GETs; %.0f× sequential", best/b, seq/b), "goal ≥ 0.90× best parallel GETs and ≥ 20× sequential"},
		{fmt.Sprintf("fetch 5,000 × 4 KiB in parallel, +%s", delay), fmt.Sprintf("%.2f s", best), "1.00×", fmt.Sprintf("best of 32–256 GETs at a time (last round's best: %d); same proxy", bestN)},
		{fmt.Sprintf("fetch 5,000 × 4 KiB one after another, +%s", delay), fmt.Sprintf("%.1f s", seq), fmt.Sprintf("%.1f× best GETs' time", seq/best), fmt.Sprintf("%d fetched, scaled to 5,000", sample)},
	}, nil
}
