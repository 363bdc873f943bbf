package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/filegate/filegate/datadir"
)

// benchBundle compares bundling with a raw copy of the same bytes, with
// fetching small objects one after another, and with the seed's own
// approach (Python, boto3, BytesIO), against one embedded store.
func benchBundle(ctx context.Context, o benchOptions, stderr io.Writer) ([]row, error) {
	data, err := os.MkdirTemp("", "filegate-bench-bundle-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(data)
	fg, err := startChild(ctx, "serve", "--listen", "127.0.0.1:0", "--data", data, "--log-level", "error")
	if err != nil {
		return nil, err
	}
	defer fg.stop()
	sf, s3c, err := benchStore(data)
	if err != nil {
		return nil, err
	}
	src := "filegate"

	// 1. Large: N × 10 MiB.
	nLarge := o.bundleGiB * 100
	fmt.Fprintf(stderr, "bench: seeding %d × 10 MiB\n", nLarge)
	obj := make([]byte, 10<<20) // incompressible, like photos and video
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range obj {
		obj[i] = byte(rng.Uint32())
	}
	var largeKeys []string
	for i := range nLarge {
		k := fmt.Sprintf("large/%04d.bin", i)
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: &src, Key: &k, Body: bytes.NewReader(obj)}); err != nil {
			return nil, err
		}
		largeKeys = append(largeKeys, k)
	}
	var bundleT, copyT []float64
	sampler := sampleAnon(fg.cmd.Process.Pid)
	for round := range o.rounds * min(nLarge, 1) { // --bundle-gib 0: small objects only
		// A new name each round, so no bundle is reused.
		body := fmt.Sprintf(`{"prefix":"large/","compression":"store","name":"r%d"}`, round)
		settle()
		t0 := time.Now()
		if err := postOK(fg, "/v1/bundles", body); err != nil {
			return nil, err
		}
		bundleT = append(bundleT, time.Since(t0).Seconds())
		settle()
		t0 = time.Now()
		if err := rawCopy(ctx, s3c, src, largeKeys, fmt.Sprintf("copy-%d.bin", round)); err != nil {
			return nil, err
		}
		copyT = append(copyT, time.Since(t0).Seconds())
		fmt.Fprintf(stderr, "bench: round %d bundle %.2fs raw copy %.2fs\n", round+1, bundleT[round], copyT[round])
	}
	rss := peakRSS(fg.cmd.Process.Pid)
	anon := sampler()

	// 2. Small: 5,000 × 4 KiB, bundled vs fetched one after another.
	fmt.Fprintln(stderr, "bench: seeding 5,000 × 4 KiB")
	small := bytes.Repeat([]byte("4k"), 2048)
	var smallKeys []string
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := range 5000 {
		k := fmt.Sprintf("small/%05d.txt", i)
		smallKeys = append(smallKeys, k)
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, _ = s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: &src, Key: &k, Body: bytes.NewReader(small)})
		})
	}
	wg.Wait()
	var smallT, seqT, parT []float64
	bestN := 0
	for round := range o.rounds {
		settle()
		t0 := time.Now()
		if err := postOK(fg, "/v1/bundles", fmt.Sprintf(`{"prefix":"small/","compression":"store","name":"s%d"}`, round)); err != nil {
			return nil, err
		}
		smallT = append(smallT, time.Since(t0).Seconds())
		t0 = time.Now()
		for _, k := range smallKeys {
			out, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: &src, Key: aws.String(k)})
			if err != nil {
				return nil, err
			}
			_, _ = io.Copy(io.Discard, out.Body)
			out.Body.Close()
		}
		seqT = append(seqT, time.Since(t0).Seconds())
		// The same fetches in parallel, at the best of several
		// concurrencies: what the store itself can serve.
		best := 0.0
		for _, n := range []int{32, 64, 128, 256} {
			settle()
			t0 = time.Now()
			work := make(chan string)
			var fw sync.WaitGroup
			for range n {
				fw.Go(func() {
					for k := range work {
						if out, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: &src, Key: aws.String(k)}); err == nil {
							_, _ = io.Copy(io.Discard, out.Body)
							out.Body.Close()
						}
					}
				})
			}
			for _, k := range smallKeys {
				work <- k
			}
			close(work)
			fw.Wait()
			if secs := time.Since(t0).Seconds(); best == 0 || secs < best {
				best, bestN = secs, n
			}
		}
		parT = append(parT, best)
		fmt.Fprintf(stderr, "bench: round %d 5,000 small: bundle %.2fs sequential %.2fs\n", round+1, smallT[round], seqT[round])
	}

	var rows []row
	if nLarge > 0 {
		rows = append(rows,
			row{fmt.Sprintf("bundle %d × 10 MiB (store)", nLarge), fmt.Sprintf("%.2f s", median(bundleT)), fmt.Sprintf("%.2f× raw copy", median(bundleT)/median(copyT)), "goal ≤ 1.15× raw copy"},
			row{fmt.Sprintf("raw copy of the same %d GiB", o.bundleGiB), fmt.Sprintf("%.2f s", median(copyT)), "1.00×", "GET each, one multipart upload, same SDK and store"},
			row{fmt.Sprintf("filegate peak RSS, %d GiB bundle", o.bundleGiB), fmt.Sprintf("%.0f MiB", float64(rss)/(1<<20)), "", fmt.Sprintf("goal ≤ 64 MiB VmHWM (whole server); anonymous memory peaked at %.0f MiB (goal ≤ 48)", float64(anon)/(1<<20))})
	}
	rows = append(rows, []row{
		{"bundle 5,000 × 4 KiB", fmt.Sprintf("%.2f s", median(smallT)), fmt.Sprintf("%.2f× best GETs; %.1f× sequential", median(parT)/median(smallT), median(seqT)/median(smallT)), "goal ≥ 0.90× the store's best parallel GETs"},
		{"fetch 5,000 × 4 KiB in parallel", fmt.Sprintf("%.2f s", median(parT)), "1.00×", fmt.Sprintf("best of 32–256 GETs at a time (last round's best: %d), SDK", bestN)},
		{"fetch 5,000 × 4 KiB one after another", fmt.Sprintf("%.2f s", median(seqT)), fmt.Sprintf("%.1f× best GETs' time", median(seqT)/median(parT)), "SDK GetObject in a loop"},
	}...)
	lat, err := benchSmallLatency(ctx, o, sf, smallKeys, stderr)
	if err != nil {
		return nil, err
	}
	rows = append(rows, lat...)
	if nLarge == 0 {
		return rows, nil
	}
	if t, mem, err := benchSeedZipper(sf, largeKeys); err == nil {
		rows = append(rows, row{"seed lambda-zipper (boto3, BytesIO)", fmt.Sprintf("%.2f s, %.0f MiB peak", t, mem/(1<<20)), fmt.Sprintf("%.2f× filegate's time", t/median(bundleT)), "same objects, same store, one run"})
	} else {
		rows = append(rows, row{"seed lambda-zipper (boto3, BytesIO)", "-", "-", "skipped: " + err.Error()})
	}
	return rows, nil
}

func postOK(c *child, path, body string) error {
	req, _ := http.NewRequest("POST", c.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("bench: %s: %d %s", path, resp.StatusCode, b)
	}
	return nil
}

// rawCopy concatenates the sources into one object: the floor a bundle
// is measured against.
func rawCopy(ctx context.Context, c *s3.Client, bucket string, keys []string, dst string) error {
	dstBucket := "filegate-bundles"
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &dstBucket, Key: &dst})
	if err != nil {
		return err
	}
	var parts []types.CompletedPart
	for i, k := range keys {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String(k)})
		if err != nil {
			return err
		}
		buf, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil {
			return err
		}
		n := int32(i + 1)
		p, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: &dstBucket, Key: &dst, UploadId: up.UploadId, PartNumber: &n, Body: bytes.NewReader(buf)})
		if err != nil {
			return err
		}
		parts = append(parts, types.CompletedPart{PartNumber: &n, ETag: p.ETag})
	}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &dstBucket, Key: &dst, UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	return err
}

// sampleAnon polls a process's anonymous resident memory (RssAnon: heap,
// stacks, buffers; not the binary's file pages) every 20 ms until the
// returned function is called, which returns the largest value seen.
func sampleAnon(pid int) func() int64 {
	var peak int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if v := procStatus(pid, "RssAnon:"); v > peak {
				peak = v
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 { close(stop); <-done; return peak }
}

// procStatus reads one "Name: N kB" line of /proc/pid/status, in bytes.
func procStatus(pid int, name string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// peakRSS reads a process's peak resident set (VmHWM) in bytes.
func peakRSS(pid int) int64 { return procStatus(pid, "VmHWM:") }

// seedZipper is the seed's lambda-zipper logic: every object read into an
// in-memory zip (BytesIO), uploaded with put_object, then presigned for 90 s.
const seedZipper = `
import sys, io, time, zipfile, resource, json
import boto3
from botocore.config import Config
ep, ak, sk, keys = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.stdin.read())
s3 = boto3.client("s3", endpoint_url=ep, region_name="us-east-1", aws_access_key_id=ak, aws_secret_access_key=sk,
    config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
t = time.perf_counter()
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
    for k in keys:
        z.writestr(k, s3.get_object(Bucket="filegate", Key=k)["Body"].read())
buf.seek(0)
s3.put_object(Bucket="filegate-bundles", Key="seed.zip", Body=buf)
s3.generate_presigned_url("get_object", Params={"Bucket": "filegate-bundles", "Key": "seed.zip"}, ExpiresIn=90)
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
`

func benchSeedZipper(sf datadir.StoreFile, keys []string) (secs, peak float64, err error) {
	if _, err := exec.LookPath("python3"); err != nil {
		return 0, 0, fmt.Errorf("no python3")
	}
	in, _ := json.Marshal(keys)
	cmd := exec.Command("python3", "-c", seedZipper, sf.Endpoint, sf.AccessKeyID, sf.SecretAccessKey)
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		return 0, 0, fmt.Errorf("python3 with boto3 not available or failed")
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("unexpected output")
	}
	secs, _ = strconv.ParseFloat(f[0], 64)
	peak, _ = strconv.ParseFloat(f[1], 64)
	return secs, peak, nil
}

// settle writes dirty pages back before a timed phase: the store writes a
// GiB into the page cache in a large bundle or copy, and the kernel would
// otherwise write it back during the next phase, charging one side of a
// comparison with the other's work.
func settle() { syscall.Sync() }
