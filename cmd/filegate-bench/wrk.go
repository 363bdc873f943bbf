package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// wrkTarget is a request wrk sends over and over.
type wrkTarget struct {
	method, url, body string
	header            map[string]string
}

// luaQuote quotes s as a Lua long-bracket-free string literal.
func luaQuote(s string) string { return strconv.Quote(s) }

var (
	wrkRPS    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkNon2xx = regexp.MustCompile(`Non-2xx or 3xx responses:\s+([0-9]+)`)
	wrkTotal  = regexp.MustCompile(`([0-9]+) requests in`)
	wrkErrors = regexp.MustCompile(`Socket errors: connect ([0-9]+), read ([0-9]+), write ([0-9]+), timeout ([0-9]+)`)
)

// loadWrk measures t with wrk (one thread, o.concurrency connections,
// o.duration): a C load generator on one core costs far less than the Go
// servers it measures, where a Go client in the same CPU budget was the
// bottleneck and flattered the slower side. The script holds the bearer
// token: it is written mode 0600 and removed.
func loadWrk(ctx context.Context, o benchOptions, t wrkTarget) (float64, error) {
	var lua strings.Builder
	fmt.Fprintf(&lua, "wrk.method = %s\n", luaQuote(t.method))
	if t.body != "" {
		fmt.Fprintf(&lua, "wrk.body = %s\n", luaQuote(t.body))
	}
	for k, v := range t.header {
		fmt.Fprintf(&lua, "wrk.headers[%s] = %s\n", luaQuote(k), luaQuote(v))
	}
	f, err := os.CreateTemp("", "filegate-bench-*.lua")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(lua.String()); err != nil {
		f.Close()
		return 0, err
	}
	f.Close()
	secs := max(1, int(o.duration.Seconds()))
	out, err := exec.CommandContext(ctx, "wrk", "-t1", "-c"+strconv.Itoa(o.concurrency), "-d"+strconv.Itoa(secs)+"s", "-s", f.Name(), t.url).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("bench: wrk: %v: %s", err, out)
	}
	m := wrkRPS.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("bench: wrk printed no rate: %s", out)
	}
	rps, _ := strconv.ParseFloat(string(m[1]), 64)
	total := 0
	if m := wrkTotal.FindSubmatch(out); m != nil {
		total, _ = strconv.Atoi(string(m[1]))
	}
	bad := 0
	if m := wrkNon2xx.FindSubmatch(out); m != nil {
		bad, _ = strconv.Atoi(string(m[1]))
	}
	if m := wrkErrors.FindSubmatch(out); m != nil {
		for _, g := range m[1:] {
			n, _ := strconv.Atoi(string(g))
			bad += n
		}
	}
	if total == 0 || bad > total/100 {
		return 0, fmt.Errorf("bench: wrk: %d of %d requests failed", bad, total)
	}
	return rps, nil
}
