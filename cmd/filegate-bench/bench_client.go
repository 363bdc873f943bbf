package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// benchClient measures the filegate client commands against `aws s3 cp`
// (the aws CLI with its default settings, as its users run it) on the same
// embedded store: a large file up and down, and a directory of small files
// up and down. Each transfer is a process of its own, timed from exec to
// exit; its peak RSS is the kernel's (ru_maxrss, which is VmHWM).
func benchClient(ctx context.Context, o benchOptions, stderr io.Writer) ([]row, error) {
	aws, err := exec.LookPath("aws")
	if err != nil {
		return []row{{name: "client vs aws s3 cp", value: "-", note: "skipped: the aws CLI is not on PATH"}}, nil
	}
	fgExe, err := findFilegate()
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "filegate-bench-client-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	data := filepath.Join(work, "data")
	fg, err := startChild(ctx, "serve", "--listen", "127.0.0.1:0", "--data", data, "--log-level", "error")
	if err != nil {
		return nil, err
	}
	defer fg.stop()
	sf, _, err := benchStore(data)
	if err != nil {
		return nil, err
	}

	size := int64(o.clientMiB) << 20
	fmt.Fprintf(stderr, "bench: client: writing a %d MiB file and %d small files\n", o.clientMiB, o.clientFiles)
	big := filepath.Join(work, "big.bin")
	if err := randomFile(big, size, 1); err != nil {
		return nil, err
	}
	dir := filepath.Join(work, "small")
	for i := range o.clientFiles {
		if err := randomFile(filepath.Join(dir, fmt.Sprintf("d%02d", i%10), fmt.Sprintf("f%04d.bin", i)), 16<<10, uint64(i+2)); err != nil {
			return nil, err
		}
	}
	home := filepath.Join(work, "home")
	fgEnv := append(os.Environ(), "HOME="+home, "XDG_CACHE_HOME=", "XDG_CONFIG_HOME=", "FILEGATE_URL="+fg.base, "FILEGATE_TOKEN="+fg.token)
	awsEnv := append(withoutEnv(os.Environ(), "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"), "AWS_ACCESS_KEY_ID="+sf.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+sf.SecretAccessKey,
		"AWS_DEFAULT_REGION="+sf.Region, "AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	)
	bucket := sf.Buckets["source"]
	s3url := func(k string) string { return "s3://" + bucket + "/" + k }

	type result struct{ secs, rss []float64 }
	res := map[string]*result{}
	run := func(name string, env []string, exe string, args ...string) error {
		cmd := exec.CommandContext(ctx, exe, args...)
		cmd.Env = env
		var errb bytes.Buffer
		cmd.Stderr = &errb
		cmd.Stdout = io.Discard
		t0 := time.Now()
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %v\n%s", name, err, errb.String())
		}
		secs := time.Since(t0).Seconds()
		r := res[name]
		if r == nil {
			r = &result{}
			res[name] = r
		}
		r.secs = append(r.secs, secs)
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			r.rss = append(r.rss, float64(ru.Maxrss)/1024) // KiB → MiB
		}
		return nil
	}
	out := filepath.Join(work, "out")
	for round := range o.rounds {
		_ = os.RemoveAll(out)
		steps := []struct {
			name string
			env  []string
			exe  string
			args []string
		}{
			{"put big/filegate", fgEnv, fgExe, []string{"put", "-q", big, "bench/fg/big.bin"}},
			{"put big/aws", awsEnv, aws, []string{"s3", "cp", "--only-show-errors", "--endpoint-url", sf.Endpoint, big, s3url("bench/aws/big.bin")}},
			{"get big/filegate", fgEnv, fgExe, []string{"get", "-q", "bench/fg/big.bin", filepath.Join(out, "fg-big.bin")}},
			{"get big/aws", awsEnv, aws, []string{"s3", "cp", "--only-show-errors", "--endpoint-url", sf.Endpoint, s3url("bench/aws/big.bin"), filepath.Join(out, "aws-big.bin")}},
			{"put dir/filegate", fgEnv, fgExe, []string{"put", "-q", dir, "bench/fg/small/"}},
			{"put dir/aws", awsEnv, aws, []string{"s3", "cp", "--recursive", "--only-show-errors", "--endpoint-url", sf.Endpoint, dir, s3url("bench/aws/small/")}},
			{"get dir/filegate", fgEnv, fgExe, []string{"get", "-q", "bench/fg/small/", filepath.Join(out, "fg-small")}},
			{"get dir/aws", awsEnv, aws, []string{"s3", "cp", "--recursive", "--only-show-errors", "--endpoint-url", sf.Endpoint, s3url("bench/aws/small/"), filepath.Join(out, "aws-small")}},
		}
		for _, s := range steps {
			if err := run(s.name, s.env, s.exe, s.args...); err != nil {
				return nil, err
			}
		}
		if err := sameFile(big, filepath.Join(out, "fg-big.bin")); err != nil {
			return nil, err
		}
		for _, d := range []string{"fg-small", "aws-small"} {
			n := 0
			_ = filepath.WalkDir(filepath.Join(out, d), func(_ string, e fs.DirEntry, err error) error {
				if err == nil && e.Type().IsRegular() {
					n++
				}
				return nil
			})
			if n != o.clientFiles {
				return nil, fmt.Errorf("bench: %s has %d files after the round trip, want %d", d, n, o.clientFiles)
			}
		}
		fmt.Fprintf(stderr, "bench: client round %d: put %.2fs (aws %.2fs), get %.2fs (aws %.2fs), dir put %.2fs (aws %.2fs), dir get %.2fs (aws %.2fs)\n", round+1,
			res["put big/filegate"].secs[round], res["put big/aws"].secs[round], res["get big/filegate"].secs[round], res["get big/aws"].secs[round],
			res["put dir/filegate"].secs[round], res["put dir/aws"].secs[round], res["get dir/filegate"].secs[round], res["get dir/aws"].secs[round])
	}
	var rows []row
	for _, op := range []struct{ key, label string }{
		{"put big", fmt.Sprintf("client put %d MiB file", o.clientMiB)},
		{"get big", fmt.Sprintf("client get %d MiB file", o.clientMiB)},
		{"put dir", fmt.Sprintf("client put dir of %d × 16 KiB", o.clientFiles)},
		{"get dir", fmt.Sprintf("client get dir of %d × 16 KiB", o.clientFiles)},
	} {
		f, a := res[op.key+"/filegate"], res[op.key+"/aws"]
		fs, as := median(f.secs), median(a.secs)
		rows = append(rows, row{
			name:  op.label,
			value: fmt.Sprintf("%.2f s", fs),
			ratio: fmt.Sprintf("%.2f× aws s3 cp", as/fs),
			note:  fmt.Sprintf("aws s3 cp %.2f s; peak RSS %.0f MiB (aws %.0f MiB)", as, maxOf(f.rss), maxOf(a.rss)),
		})
	}
	return rows, nil
}

// withoutEnv drops variables from an environment.
func withoutEnv(env []string, names ...string) []string {
	var out []string
next:
	for _, kv := range env {
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

func maxOf(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

// randomFile writes size incompressible bytes to path.
func randomFile(path string, size int64, seed uint64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, seed+1))
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		n := min(left, int64(len(buf)))
		for i := 0; i < int(n); i += 8 {
			v := rng.Uint64()
			for j := 0; j < 8 && i+j < int(n); j++ {
				buf[i+j] = byte(v >> (8 * j))
			}
		}
		if _, err := f.Write(buf[:n]); err != nil {
			f.Close()
			return err
		}
		left -= n
	}
	return f.Close()
}

// sameFile checks that two files hold the same bytes.
func sameFile(a, b string) error {
	fa, err := os.Open(a)
	if err != nil {
		return err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return err
	}
	defer fb.Close()
	ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, _ := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return fmt.Errorf("bench: %s and %s differ", a, b)
		}
		if ea != nil {
			return nil
		}
	}
}
