package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// benchHostile measures filegate's peak memory (VmHWM) under the request
// mixes that exhausted it before the memory budgets: captions of a
// 39-megapixel noise JPEG asked as inline PNG, four at once; and 150
// parallel tiny bundles with 8 worst-case captions. Each mix runs on a
// server of its own with default settings, so each peak is its own.
func benchHostile(ctx context.Context, o benchOptions, stderr io.Writer) ([]row, error) {
	big := noiseJPEG(7200, 5400, 60)   // 38.9 MP
	worst := noiseJPEG(6000, 4000, 60) // 24 MP: the largest JPEG class the default budget takes
	fmt.Fprintf(stderr, "bench: hostile: noise JPEGs of %.1f MiB (7200×5400) and %.1f MiB (6000×4000)\n", float64(len(big))/(1<<20), float64(len(worst))/(1<<20))

	mix := func(name string, run func(base, token string) map[int]int) (row, error) {
		data, err := os.MkdirTemp("", "filegate-bench-")
		if err != nil {
			return row{}, err
		}
		defer os.RemoveAll(data)
		fg, err := startChild(ctx, "serve", "--listen", "127.0.0.1:0", "--data", data, "--log-level", "error")
		if err != nil {
			return row{}, err
		}
		defer fg.stop()
		_, s3c, err := benchStore(data)
		if err != nil {
			return row{}, err
		}
		put := func(key string, b []byte) error {
			_, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("filegate"), Key: aws.String(key), Body: bytes.NewReader(b)})
			return err
		}
		if err := put("hostile/big.jpg", big); err != nil {
			return row{}, err
		}
		if err := put("hostile/worst.jpg", worst); err != nil {
			return row{}, err
		}
		for i := range 150 {
			if err := put(fmt.Sprintf("tiny/%03d.txt", i), []byte(strings.Repeat("x", 100+i))); err != nil {
				return row{}, err
			}
		}
		base := peakRSS(fg.cmd.Process.Pid)
		began := time.Now()
		statuses := run(fg.base, fg.token)
		took := time.Since(began)
		peak := peakRSS(fg.cmd.Process.Pid)
		fmt.Fprintf(stderr, "bench: hostile %s: peak %d MiB (idle %d MiB), %v, answers %v\n", name, peak>>20, base>>20, took.Round(time.Millisecond), statuses)
		return row{name, fmt.Sprintf("%d MiB", peak>>20), "", fmt.Sprintf("goal < 512 MiB; VmHWM of filegate; %s in %.1f s", statusText(statuses), took.Seconds())}, nil
	}

	var rows []row
	r, err := mix("peak RSS, 4 × inline PNG caption of 39 MP noise", func(base, token string) map[int]int {
		return parallel(4, func(int) int {
			return postJSON(base, token, "/v1/captions", `{"key":"hostile/big.jpg","text":"hello","format":"png","inline":true}`)
		})
	})
	if err != nil {
		return nil, err
	}
	rows = append(rows, r)
	r, err = mix("peak RSS, 150 tiny bundles + 8 worst-case captions", func(base, token string) map[int]int {
		return parallel(158, func(i int) int {
			if i < 8 {
				return postJSON(base, token, "/v1/captions", `{"key":"hostile/worst.jpg","text":"hello"}`)
			}
			return postJSON(base, token, "/v1/bundles", fmt.Sprintf(`{"keys":["tiny/%03d.txt"]}`, i-8))
		})
	})
	if err != nil {
		return nil, err
	}
	return append(rows, r), nil
}

// noiseJPEG encodes w×h pixels of noise: the worst case for a codec.
func noiseJPEG(w, h, quality int) []byte {
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	r := rand.New(rand.NewPCG(1, 2))
	for _, p := range [][]byte{img.Y, img.Cb, img.Cr} {
		for i := range p {
			p[i] = byte(r.Uint32())
		}
	}
	var b bytes.Buffer
	_ = jpeg.Encode(&b, img, &jpeg.Options{Quality: quality})
	return b.Bytes()
}

// parallel runs n calls at once and counts their HTTP statuses.
func parallel(n int, call func(i int) int) map[int]int {
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := map[int]int{}
	for i := range n {
		wg.Go(func() {
			st := call(i)
			mu.Lock()
			out[st]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

var hostileClient = &http.Client{Timeout: 2 * time.Minute}

func postJSON(base, token, path, body string) int {
	req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hostileClient.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func statusText(m map[int]int) string {
	codes := make([]int, 0, len(m))
	for c := range m {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d× %d", m[c], c))
	}
	return "answers " + strings.Join(parts, ", ")
}
