package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7/pkg/signer"
	"github.com/spf13/cobra"

	"github.com/filegate/filegate/datadir"
	"github.com/filegate/filegate/internal/serveproc"
	"github.com/filegate/filegate/sigv4"
)

type benchOptions struct {
	rounds      int
	duration    time.Duration
	concurrency int
	bareServer  string
	bareBytes   int
	only        string
	debugAddr   string
	bundleGiB   int
	loadgen     string
	clientMiB   int
	clientFiles int
}

// Command filegate-bench measures filegate against what users would pick
// instead, in one run on one machine, and prints a table of medians and
// ratios. It runs the filegate binary beside it (or --filegate) in a
// process of its own, so the product never links the baselines (minio-go).
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := benchCmd(os.Stdout, os.Stderr).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "filegate-bench:", err)
		os.Exit(1)
	}
}

func benchCmd(stdout, stderr io.Writer) *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:           "filegate-bench",
		SilenceUsage:  true,
		SilenceErrors: true,
		Short:         "Measure signing and grant throughput against aws-sdk-go-v2, minio-go, boto3 and a bare net/http handler",
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.bareServer != "" {
				return serveBare(cmd.Context(), o.bareServer, o.bareBytes, stdout)
			}
			return bench(cmd.Context(), o, stdout, stderr)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.rounds, "rounds", 5, "rounds per measurement; the table shows medians")
	f.DurationVar(&o.duration, "duration", 2*time.Second, "length of each load round")
	f.IntVar(&o.concurrency, "concurrency", 64, "concurrent connections of the load generator")
	f.StringVar(&o.only, "only", "", `run one section: "startup", "sign", "http", "bundle", "caption", "client" (against aws s3 cp), or "hostile" (peak memory under hostile mixes; only when named)`)
	f.StringVar(&o.loadgen, "loadgen", "auto", `HTTP load generator: "wrk" (Debian's wrk), "go" (a Go client in this process), or "auto" (wrk when on PATH)`)
	f.IntVar(&o.clientMiB, "client-mib", 1024, "size of the client benchmark's large file, in MiB")
	f.IntVar(&o.clientFiles, "client-files", 1000, "number of 16 KiB files in the client benchmark's directory")
	f.IntVar(&o.bundleGiB, "bundle-gib", 1, "size of the large bundle benchmark, in GiB (as 100 × 10 MiB objects per GiB)")
	f.StringVar(&o.bareServer, "bare-server", "", "internal: serve the bare handler on this address")
	_ = f.MarkHidden("bare-server")
	f.IntVar(&o.bareBytes, "bare-bytes", 400, "internal: size of the bare handler's JSON answer")
	_ = f.MarkHidden("bare-bytes")
	f.StringVar(&filegateBinary, "filegate", "", "the filegate binary to measure (default: filegate beside this command, then on PATH)")
	f.StringVar(&o.debugAddr, "debug-addr", "", "pass --debug-addr to the filegate under test, to profile it")
	return cmd
}

// serveBare is the baseline: the smallest useful net/http handler, in its
// own process like filegate, answering a JSON object of size bytes (the
// size of filegate's answer, so that both write as much).
func serveBare(ctx context.Context, addr string, size int, stdout io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	const frame = `{"url":"","method":"GET"}` + "\n"
	body := []byte(`{"url":"` + strings.Repeat("x", max(0, size-len(frame))) + `","method":"GET"}` + "\n")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})}
	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type row struct {
	name, value, ratio, note string
}

func bench(ctx context.Context, o benchOptions, stdout, stderr io.Writer) error {
	switch o.loadgen {
	case "auto", "wrk", "go":
	default:
		return fmt.Errorf("--loadgen %q: want wrk, go or auto", o.loadgen)
	}
	var rows []row
	if o.only == "" || o.only == "startup" {
		r, err := benchStartup(ctx, o, stderr)
		if err != nil {
			return err
		}
		rows = append(rows, r...)
	}
	if o.only == "" || o.only == "sign" {
		r, err := benchSigning(o, stderr)
		if err != nil {
			return err
		}
		rows = append(rows, r...)
	}
	if o.only == "" || o.only == "bundle" {
		r, err := benchBundle(ctx, o, stderr)
		if err != nil {
			return err
		}
		rows = append(rows, r...)
	}
	if o.only == "" || o.only == "caption" {
		r, err := benchCaption(ctx, o, stderr)
		if err != nil {
			return err
		}
		rows = append(rows, r...)
	}
	if o.only == "" || o.only == "client" {
		r, err := benchClient(ctx, o, stderr)
		if err != nil {
			return err
		}
		rows = append(rows, r...)
	}
	if o.only == "hostile" { // not in the default run: it is about limits, not speed
		r, err := benchHostile(ctx, o, stderr)
		if err != nil {
			return err
		}
		rows = append(rows, r...)
	}
	if o.only == "" || o.only == "http" {
		r, err := benchHTTP(ctx, o, stderr)
		if err != nil {
			return err
		}
		rows = append(rows, r...)
	}
	fmt.Fprintf(stdout, "\nfilegate bench: %d CPUs, %s, medians of %d rounds\n\n", runtime.NumCPU(), runtime.Version(), o.rounds)
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEASUREMENT\tMEDIAN\tRATIO\tNOTE")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.name, r.value, r.ratio, r.note)
	}
	return tw.Flush()
}

// measure runs fn repeatedly for about 300 ms per round and returns the
// median ns and allocations per call.
func measure(rounds int, fn func()) (ns, allocs float64) {
	var nss, als []float64
	for range rounds {
		n := 0
		var ms0, ms1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		start := time.Now()
		for time.Since(start) < 300*time.Millisecond {
			for range 100 {
				fn()
			}
			n += 100
		}
		el := time.Since(start)
		runtime.ReadMemStats(&ms1)
		nss = append(nss, float64(el.Nanoseconds())/float64(n))
		als = append(als, float64(ms1.Mallocs-ms0.Mallocs)/float64(n))
	}
	return median(nss), median(als)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

const (
	benchAKID   = "AKIDEXAMPLE"
	benchSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	benchKey    = "users/alice/photos/2026/summer holiday/IMG_0042.jpg"
	benchEP     = "http://127.0.0.1:9000"
)

func benchSigning(o benchOptions, stderr io.Writer) ([]row, error) {
	fmt.Fprintln(stderr, "bench: signing")
	ctx := context.Background()
	creds := aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(benchAKID, benchSecret, ""))
	sg, err := sigv4.New(creds, "us-east-1", benchEP, true)
	if err != nil {
		return nil, err
	}
	get := &sigv4.Request{Method: "GET", Op: "GetObject", Bucket: "filegate", Key: benchKey, Expires: 15 * time.Minute}
	put := &sigv4.Request{Method: "PUT", Op: "PutObject", Bucket: "filegate", Key: benchKey, Expires: 15 * time.Minute, ContentType: "image/jpeg", ContentLength: 123456}
	part := &sigv4.Request{Method: "PUT", Op: "UploadPart", Bucket: "filegate", Key: benchKey, Expires: 15 * time.Minute, PartNumber: 42, UploadID: "2~iCw_lDY8VZdBPL8ZSXrNRkTRVTr7Dk5"}
	conds := []sigv4.Condition{{Op: "starts-with", Field: "key", Value: "users/alice/"}, {Op: "starts-with", Field: "Content-Type", Value: "image/"}, {Op: "content-length-range", Max: 10 << 20}}

	fgGet, fgGetA := measure(o.rounds, func() { _, _ = sg.Presign(ctx, get, time.Now()) })
	fgPut, fgPutA := measure(o.rounds, func() { _, _ = sg.Presign(ctx, put, time.Now()) })
	fgPart, fgPartA := measure(o.rounds, func() { _, _ = sg.Presign(ctx, part, time.Now()) })
	fgPost, fgPostA := measure(o.rounds, func() { _, _ = sg.PresignPost(ctx, "filegate", "users/alice/", conds, 15*time.Minute, time.Now()) })

	client := s3.New(s3.Options{Region: "us-east-1", Credentials: creds, UsePathStyle: true, BaseEndpoint: aws.String(benchEP)})
	pc := s3.NewPresignClient(client)
	in := &s3.GetObjectInput{Bucket: aws.String("filegate"), Key: aws.String(benchKey)}
	sdkGet, sdkGetA := measure(o.rounds, func() { _, _ = pc.PresignGetObject(ctx, in, s3.WithPresignExpires(15*time.Minute)) })

	req, _ := http.NewRequest("GET", benchEP+"/filegate/"+benchKey, nil)
	mGet, mGetA := measure(o.rounds, func() {
		u := *req.URL
		r := *req
		r.URL = &u
		_ = signer.PreSignV4(r, benchAKID, benchSecret, "", "us-east-1", 900).URL.String()
	})

	us := func(ns, allocs float64) string { return fmt.Sprintf("%.2f µs, %.0f allocs", ns/1000, allocs) }
	rows := []row{
		{"presign GET: filegate sigv4", us(fgGet, fgGetA), "1.00×", "goal ≤ 4 µs, ≤ 10 allocs"},
		{"presign GET: aws-sdk-go-v2", us(sdkGet, sdkGetA), fmt.Sprintf("%.1f× slower", sdkGet/fgGet), ""},
		{"presign GET: minio-go signer", us(mGet, mGetA), fmt.Sprintf("%.1f× slower", mGet/fgGet), ""},
	}
	if boto, err := benchBoto3(o.rounds); err == nil {
		rows = append(rows, row{"presign GET: boto3", fmt.Sprintf("%.2f µs", boto/1000), fmt.Sprintf("%.1f× slower", boto/fgGet), "python3 in a child process"})
	} else {
		rows = append(rows, row{"presign GET: boto3", "-", "-", "skipped: " + err.Error()})
	}
	rows = append(rows,
		row{"presign PUT: filegate sigv4", us(fgPut, fgPutA), fmt.Sprintf("%.2f× GET", fgPut/fgGet), "type and length signed"},
		row{"presign UploadPart: filegate sigv4", us(fgPart, fgPartA), fmt.Sprintf("%.2f× GET", fgPart/fgGet), ""},
		row{"presign POST policy: filegate sigv4", us(fgPost, fgPostA), fmt.Sprintf("%.2f× GET", fgPost/fgGet), "goal within 2× of GET"},
	)
	return rows, nil
}

const botoScript = `
import sys, time, statistics
import boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id=sys.argv[2],
    aws_secret_access_key=sys.argv[3], config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
res = []
for r in range(int(sys.argv[5])):
    n, t = 0, time.perf_counter()
    while time.perf_counter() - t < 0.3:
        s3.generate_presigned_url("get_object", Params={"Bucket": "filegate", "Key": sys.argv[4]}, ExpiresIn=900)
        n += 1
    res.append((time.perf_counter() - t) / n * 1e9)
print(statistics.median(res))
`

func benchBoto3(rounds int) (float64, error) {
	if _, err := exec.LookPath("python3"); err != nil {
		return 0, errors.New("no python3")
	}
	out, err := exec.Command("python3", "-c", botoScript, benchEP, benchAKID, benchSecret, benchKey, strconv.Itoa(rounds)).Output()
	if err != nil {
		return 0, errors.New("python3 with boto3 not available")
	}
	return strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
}

// child is a process started by the bench, with the address it printed.
// child is a server process under measurement.
type child struct {
	*serveproc.Proc
	cmd   *exec.Cmd
	base  string
	token string
}

// filegateBinary is the filegate under test (--filegate).
var filegateBinary string

// findFilegate resolves the filegate binary: --filegate, then filegate
// beside this command, then on PATH.
func findFilegate() (string, error) {
	if filegateBinary != "" {
		return filegateBinary, nil
	}
	if exe, err := os.Executable(); err == nil {
		beside := filepath.Join(filepath.Dir(exe), "filegate")
		if _, err := os.Stat(beside); err == nil {
			return beside, nil
		}
	}
	if p, err := exec.LookPath("filegate"); err == nil {
		return p, nil
	}
	return "", errors.New("no filegate binary: build both with `go build -o DIR/ ./cmd/...`, or pass --filegate")
}

// startChild runs filegate with args and waits for its "listening on" line.
func startChild(ctx context.Context, args ...string) (*child, error) {
	exe, err := findFilegate()
	if err != nil {
		return nil, err
	}
	return startExe(ctx, exe, args...)
}

// startSelf runs this command again with args (the bare baseline server).
func startSelf(ctx context.Context, args ...string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return startExe(ctx, exe, args...)
}

func startExe(ctx context.Context, exe string, args ...string) (*child, error) {
	p, err := serveproc.Start(ctx, exe, args, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	return &child{Proc: p, cmd: p.Cmd, base: p.Base, token: p.Token}, nil
}

func (c *child) stop() { c.Stop() }

// target is one thing to load: a request factory.
type target struct {
	name string
	req  func() *http.Request // for the Go load generator
	wrk  wrkTarget            // the same request, for wrk
}

// load sends requests from o.concurrency workers for o.duration and returns
// requests per second (only 2xx/3xx answers count).
func load(ctx context.Context, o benchOptions, client *http.Client, t target) (float64, error) {
	var ok, bad atomic.Int64
	deadline := time.Now().Add(o.duration)
	var wg sync.WaitGroup
	for range o.concurrency {
		wg.Go(func() {
			for time.Now().Before(deadline) && ctx.Err() == nil {
				resp, err := client.Do(t.req())
				if err != nil {
					bad.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode < 400 {
					ok.Add(1)
				} else {
					bad.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := bad.Load(); n > ok.Load()/100 {
		return 0, fmt.Errorf("bench: %s: %d failed requests", t.name, n)
	}
	return float64(ok.Load()) / o.duration.Seconds(), nil
}

func benchHTTP(ctx context.Context, o benchOptions, stderr io.Writer) ([]row, error) {
	fmt.Fprintln(stderr, "bench: starting filegate (embedded store) and the bare handler, each in its own process")
	data, err := os.MkdirTemp("", "filegate-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(data)
	args := []string{"serve", "--listen", "127.0.0.1:0", "--data", data, "--log-level", "error"}
	if o.debugAddr != "" {
		args = append(args, "--debug-addr", o.debugAddr)
	}
	fg, err := startChild(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer fg.stop()
	// The bare handler answers as many bytes as filegate's grant.
	size, err := answerSize(fg, "/v1/downloads", `{"key":"`+benchKey+`","check":false}`)
	if err != nil {
		return nil, err
	}
	bare, err := startSelf(ctx, "--bare-server", "127.0.0.1:0", "--bare-bytes", strconv.Itoa(size))
	if err != nil {
		return nil, err
	}
	defer bare.stop()

	// Seed one object, and presign a HEAD of it for the store's own rate.
	sf, s3c, err := benchStore(data)
	if err != nil {
		return nil, err
	}
	creds := credentials.NewStaticCredentialsProvider(sf.AccessKeyID, sf.SecretAccessKey, "")
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("filegate"), Key: aws.String(benchKey), Body: bytes.NewReader([]byte("hello"))}); err != nil {
		return nil, fmt.Errorf("bench: seed: %w", err)
	}
	sg, err := sigv4.New(creds, sf.Region, sf.Endpoint, true)
	if err != nil {
		return nil, err
	}
	headURL, err := sg.Presign(ctx, &sigv4.Request{Method: "HEAD", Op: "HeadObject", Bucket: "filegate", Key: benchKey, Expires: time.Hour}, time.Now())
	if err != nil {
		return nil, err
	}
	// wrk 4.1 cannot read HEAD answers (it waits for a body), so with wrk
	// the store's own rate is a GET of an empty object: the same lookup,
	// an open file and no body.
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("filegate"), Key: aws.String("bench/empty"), Body: bytes.NewReader(nil)}); err != nil {
		return nil, fmt.Errorf("bench: seed: %w", err)
	}
	emptyURL, err := sg.Presign(ctx, &sigv4.Request{Method: "GET", Op: "GetObject", Bucket: "filegate", Key: "bench/empty", Expires: time.Hour}, time.Now())
	if err != nil {
		return nil, err
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConns: o.concurrency * 2, MaxIdleConnsPerHost: o.concurrency, IdleConnTimeout: time.Minute}, Timeout: 10 * time.Second}
	post := func(name, url, body string) target {
		h := map[string]string{"Authorization": "Bearer " + fg.token, "Content-Type": "application/json"}
		return target{name: name, wrk: wrkTarget{method: "POST", url: url, body: body, header: h}, req: func() *http.Request {
			r, _ := http.NewRequest("POST", url, strings.NewReader(body))
			for k, v := range h {
				r.Header.Set(k, v)
			}
			return r
		}}
	}
	targets := []target{
		post("bare", bare.base+"/", `{"key":"x"}`),
		post("nocheck", fg.base+"/v1/downloads", `{"key":"`+benchKey+`","check":false}`),
		post("check", fg.base+"/v1/downloads", `{"key":"`+benchKey+`"}`),
		{name: "head", wrk: wrkTarget{method: "GET", url: emptyURL}, req: func() *http.Request { r, _ := http.NewRequest("HEAD", headURL, nil); return r }},
	}
	useWrk := o.loadgen == "wrk"
	if o.loadgen == "auto" {
		_, err := exec.LookPath("wrk")
		useWrk = err == nil
	}
	generator := fmt.Sprintf("Go client, %d connections", o.concurrency)
	if useWrk {
		generator = fmt.Sprintf("wrk -t1 -c%d", o.concurrency)
	}
	fmt.Fprintf(stderr, "bench: load generator: %s\n", generator)
	results := map[string][]float64{}
	for round := range o.rounds {
		for _, t := range targets { // interleaved, so drift hits every target alike
			var rps float64
			var err error
			if useWrk {
				rps, err = loadWrk(ctx, o, t.wrk)
			} else {
				rps, err = load(ctx, o, client, t)
			}
			if err != nil {
				return nil, err
			}
			results[t.name] = append(results[t.name], rps)
			fmt.Fprintf(stderr, "bench: round %d %-8s %8.0f req/s\n", round+1, t.name, rps)
		}
	}
	m := func(n string) float64 { return median(results[n]) }
	rps := func(v float64) string { return fmt.Sprintf("%.0f req/s", v) }
	storeRow := "store's own HEAD (presigned, direct)"
	if useWrk {
		storeRow = "store's own GET of an empty object (presigned)"
	}
	rows := []row{
		{"bare net/http handler (baseline)", rps(m("bare")), "1.00×", fmt.Sprintf("%s, %s rounds; answers %d bytes of JSON, as filegate does", generator, o.duration, size)},
		{"POST /v1/downloads, no existence check", rps(m("nocheck")), fmt.Sprintf("%.2f× bare", m("nocheck")/m("bare")), "goal ≥ 0.60× bare"},
		{storeRow, rps(m("head")), "1.00×", "embedded store, sharing every CPU with the load generator"},
		{"POST /v1/downloads, existence checked", rps(m("check")), fmt.Sprintf("%.2f× store", m("check")/m("head")), "store, filegate and load generator share every CPU"},
	}
	if !useWrk || numCPU() < 2 {
		return rows, nil
	}
	pinned, err := benchCheckPinned(ctx, o, fg, client, targets[2], targets[3], stderr)
	if err != nil {
		return nil, err
	}
	return append(rows, pinned...), nil
}

// benchCheckPinned measures the existence-checked grant against the
// store's own rate with the store on a CPU of its own, as a store on
// another machine (Amazon S3) would be: the store's process on the last
// CPU, filegate, this process and the load generator on the first. Sharing
// the CPUs, the check's ratio only says how the two cores were split
// between the store and filegate; separated, it says whether filegate
// keeps up with the store. The store's own rate is the better of a
// presigned HEAD from a Go client (wrk 4.1 cannot read HEAD answers) and
// a presigned GET of an empty object from wrk, both from the first CPU.
func benchCheckPinned(ctx context.Context, o benchOptions, fg *child, client *http.Client, check, head target, stderr io.Writer) ([]row, error) {
	stores, err := childPIDs(fg.cmd.Process.Pid)
	if err != nil || len(stores) != 1 {
		return nil, fmt.Errorf("bench: cannot find the embedded store's process (children of filegate: %v, %v)", stores, err)
	}
	last := numCPU() - 1
	self := os.Getpid()
	defer func() { // every CPU again, for the sections after this one
		_ = setAffinity(self)
		_ = setAffinity(fg.cmd.Process.Pid)
		_ = setAffinity(stores[0])
	}()
	if err := setAffinity(stores[0], last); err != nil {
		return nil, err
	}
	others := make([]int, last)
	for i := range others {
		others[i] = i
	}
	for _, pid := range []int{fg.cmd.Process.Pid, self} { // wrk inherits this process's
		if err := setAffinity(pid, others...); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(stderr, "bench: store on CPU %d; filegate, wrk and this process on CPU 0–%d\n", last, last-1)
	var headGo, headWrk, checked []float64
	for round := range o.rounds {
		g, err := load(ctx, o, client, head)
		if err != nil {
			return nil, err
		}
		w, err := loadWrk(ctx, o, head.wrk)
		if err != nil {
			return nil, err
		}
		c, err := loadWrk(ctx, o, check.wrk)
		if err != nil {
			return nil, err
		}
		headGo, headWrk, checked = append(headGo, g), append(headWrk, w), append(checked, c)
		fmt.Fprintf(stderr, "bench: round %d pinned: store HEAD (Go) %.0f, store GET (wrk) %.0f, check %.0f req/s\n", round+1, g, w, c)
	}
	own := max(median(headGo), median(headWrk))
	rps := func(v float64) string { return fmt.Sprintf("%.0f req/s", v) }
	return []row{
		{"store's own rate, store on a CPU of its own", rps(own), "1.00×", fmt.Sprintf("better of HEAD from a Go client (%.0f) and GET of an empty object from wrk (%.0f), %d connections", median(headGo), median(headWrk), o.concurrency)},
		{"POST /v1/downloads, existence checked, store on a CPU of its own", rps(median(checked)), fmt.Sprintf("%.2f× store", median(checked)/own), "goal ≥ 0.80× the store's own rate; filegate and wrk share the other CPU"},
	}, nil
}

// benchStore reads a filegate's store.json and returns an S3 client for
// its embedded store.
func benchStore(data string) (datadir.StoreFile, *s3.Client, error) {
	sf, err := datadir.ReadStoreFile(data)
	if err != nil {
		return sf, nil, err
	}
	return sf, s3.New(s3.Options{Region: sf.Region, Credentials: credentials.NewStaticCredentialsProvider(sf.AccessKeyID, sf.SecretAccessKey, ""),
		UsePathStyle: true, BaseEndpoint: aws.String(sf.Endpoint), RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired}), nil
}

// benchStartup times `filegate serve` from exec to its "listening on" line,
// embedded store included: on a new data directory (credentials, buckets
// and admin token made) and on an existing one.
func benchStartup(ctx context.Context, o benchOptions, stderr io.Writer) ([]row, error) {
	fmt.Fprintln(stderr, "bench: start-up")
	var cold, warm []float64
	for range max(o.rounds, 10) {
		data, err := os.MkdirTemp("", "filegate-bench-startup-")
		if err != nil {
			return nil, err
		}
		for _, into := range []*[]float64{&cold, &warm} {
			t0 := time.Now()
			c, err := startChild(ctx, "serve", "--listen", "127.0.0.1:0", "--data", data, "--log-level", "error")
			if err != nil {
				os.RemoveAll(data)
				return nil, err
			}
			*into = append(*into, time.Since(t0).Seconds()*1000)
			c.stop()
		}
		os.RemoveAll(data)
	}
	return []row{
		{"start-up: filegate serve, new data dir", fmt.Sprintf("%.0f ms", median(cold)), "", "exec to \"listening on\", embedded store started, buckets made"},
		{"start-up: filegate serve, existing data", fmt.Sprintf("%.0f ms", median(warm)), "", ""},
	}, nil
}

// answerSize is the length of c's answer to a POST of body to path.
func answerSize(c *child, path, body string) (int, error) {
	req, _ := http.NewRequest("POST", c.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		return 0, fmt.Errorf("bench: %s: %d %s %v", path, resp.StatusCode, b, err)
	}
	return len(b), nil
}
