package main

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/filegate/filegate/internal/cli"
	"github.com/filegate/filegate/internal/harness"
)

// clientRun is one run of a filegate client command.
type clientRun struct {
	stdout, stderr string
	code           int
}

// user is a person at a terminal-less shell: a home directory (config and
// cache), a server URL and a token in the environment.
type user struct {
	t     *testing.T
	home  string
	env   map[string]string
	input string
}

func newUser(t *testing.T, e *harness.Env, token string) *user {
	home := t.TempDir()
	return &user{t: t, home: home, env: map[string]string{"HOME": home, "FILEGATE_URL": e.Base, "FILEGATE_TOKEN": token}}
}

func (u *user) getenv(k string) string { return u.env[k] }

// run runs a client command in the test process, through cli.Run as main
// does, with stdout and stderr that are not terminals.
func (u *user) run(args ...string) clientRun {
	u.t.Helper()
	return u.runCtx(context.Background(), nil, args...)
}

func (u *user) runCtx(ctx context.Context, stdout io.Writer, args ...string) clientRun {
	u.t.Helper()
	var out, errb bytes.Buffer
	var w io.Writer = &out
	if stdout != nil {
		w = io.MultiWriter(&out, stdout)
	}
	err := cli.Run(ctx, append([]string{"filegate"}, args...), u.getenv, strings.NewReader(u.input), w, &errb)
	if err != nil {
		fmt.Fprintln(&errb, "filegate:", err)
	}
	return clientRun{stdout: out.String(), stderr: errb.String(), code: cli.ExitCode(err)}
}

func (r clientRun) ok(t *testing.T) clientRun {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	return r
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// smallParts makes multipart start at 5 MiB, with 5 MiB parts, so that
// part boundaries are cheap to cross.
var smallParts = []string{"--multipart-threshold", "5242880", "--part-size", "5242880"}

func TestClientRoundTrips(t *testing.T) {
	t.Parallel()
	for _, name := range harness.Stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := harness.Start(t, name, smallParts...)
			u := newUser(t, e, e.Admin)
			const mib = 1 << 20
			files := map[string][]byte{
				"empty":                 {},
				"one":                   {'x'},
				"below-part.bin":        harness.RandomBytes(5*mib - 1),
				"at-part.bin":           harness.RandomBytes(5 * mib),
				"above-part.bin":        harness.RandomBytes(5*mib + 1),
				"two-parts.bin":         harness.RandomBytes(10 * mib),
				"big/sixty.bin":         harness.RandomBytes(60 * mib),
				"données/été ☀ 日本語.txt": []byte("bonjour"),
			}
			src := t.TempDir()
			for rel, b := range files {
				writeFile(t, filepath.Join(src, rel), b)
			}
			u.run("put", src, "rt/").ok(t)
			// The store holds exactly the bytes.
			for rel, want := range files {
				got, head := e.Object("rt/" + rel)
				if head == nil || !bytes.Equal(got, want) {
					t.Fatalf("store: rt/%s has %d bytes, want %d", rel, len(got), len(want))
				}
			}
			// Content types were guessed from the names.
			if _, head := e.Object("rt/données/été ☀ 日本語.txt"); head == nil || !strings.HasPrefix(*head.ContentType, "text/plain") {
				t.Fatalf("content type of a .txt: %v", head)
			}
			// The 60 MiB file went up in 12 parts.
			if _, head := e.Object("rt/big/sixty.bin"); !strings.HasSuffix(strings.Trim(*head.ETag, `"`), "-12") {
				t.Fatalf("60 MiB ETag %s: want a 12-part multipart upload", *head.ETag)
			}
			// And comes back the same, through a prefix and one by one.
			dst := t.TempDir()
			u.run("get", "rt/", dst).ok(t)
			for rel, want := range files {
				if got := harness.MustRead(t, filepath.Join(dst, rel)); !bytes.Equal(got, want) {
					t.Fatalf("get rt/: %s differs", rel)
				}
			}
			one := filepath.Join(t.TempDir(), "copy.bin")
			u.run("get", "rt/above-part.bin", one).ok(t)
			if !bytes.Equal(harness.MustRead(t, one), files["above-part.bin"]) {
				t.Fatal("get KEY FILE: content differs")
			}
			r := u.run("get", "rt/données/été ☀ 日本語.txt", "-").ok(t)
			if r.stdout != "bonjour" {
				t.Fatalf("get KEY -: %q", r.stdout)
			}
			// A single file to a key, and to a prefix.
			u.run("put", filepath.Join(src, "one"), "single/named.txt").ok(t)
			u.run("put", filepath.Join(src, "one"), "single/").ok(t)
			for _, k := range []string{"single/named.txt", "single/one"} {
				if got, _ := e.Object(k); string(got) != "x" {
					t.Fatalf("%s: %q", k, got)
				}
			}
			// ls shows folders and files, human sizes; --json every field.
			ls := u.run("ls", "rt/").ok(t).stdout
			for _, want := range []string{"DIR", "rt/big/", "rt/données/", "5.0 MiB", "rt/at-part.bin"} {
				if !strings.Contains(ls, want) {
					t.Fatalf("ls rt/ lacks %q:\n%s", want, ls)
				}
			}
			var listing struct {
				Objects []struct {
					Key  string `json:"key"`
					Size int64  `json:"size"`
				} `json:"objects"`
			}
			if err := json.Unmarshal([]byte(u.run("ls", "-r", "rt/", "--json").ok(t).stdout), &listing); err != nil {
				t.Fatal(err)
			}
			if len(listing.Objects) != len(files) {
				t.Fatalf("ls -r --json: %d objects, want %d", len(listing.Objects), len(files))
			}
			// A link that works, with the chosen name.
			link := strings.TrimSpace(u.run("url", "rt/one", "--expires", "1m", "--download-name", "hello.txt").ok(t).stdout)
			status, body, h := harness.Fetch(t, link)
			if status != 200 || string(body) != "x" || !strings.Contains(h.Get("Content-Disposition"), "hello.txt") {
				t.Fatalf("url: %d %q %q", status, body, h.Get("Content-Disposition"))
			}
			// A zip of a prefix, streamed into a file.
			zipPath := filepath.Join(t.TempDir(), "out.zip")
			u.run("zip", "rt/données/", "-o", zipPath).ok(t)
			zr, err := zip.OpenReader(zipPath)
			if err != nil {
				t.Fatal(err)
			}
			defer zr.Close()
			if len(zr.File) != 1 || zr.File[0].Name != "été ☀ 日本語.txt" {
				t.Fatalf("zip: entries %v", zr.File)
			}
			if rc, err := zr.File[0].Open(); err != nil {
				t.Fatal(err)
			} else if b, _ := io.ReadAll(rc); string(b) != "bonjour" {
				t.Fatalf("zip entry: %q", b)
			}
			stored := u.run("zip", "rt/one", "rt/empty", "--store").ok(t)
			if status, zb, _ := harness.Fetch(t, strings.TrimSpace(stored.stdout)); status != 200 || !bytes.HasPrefix(zb, []byte("PK")) {
				t.Fatalf("zip --store: link gives %d", status)
			}
		})
	}
}

func TestClientCaption(t *testing.T) {
	t.Parallel()
	e := harness.Start(t, "embedded")
	e.Put("pics/meme.png", harness.MustRead(t, "../../caption/testdata/meme.png"))
	u := newUser(t, e, e.Admin)
	out := filepath.Join(t.TempDir(), "captioned.png")
	u.run("caption", "pics/meme.png", "--top", "TOP", "--bottom", "BOTTOM", "--output-key", "pics/out.png", "-o", out).ok(t)
	got := harness.MustRead(t, out)
	stored, _ := e.Object("pics/out.png")
	if !bytes.HasPrefix(got, []byte("\x89PNG")) || !bytes.Equal(got, stored) {
		t.Fatalf("caption -o: %d bytes, the store has %d", len(got), len(stored))
	}
	if r := u.run("caption", "pics/meme.png"); r.code != cli.ExitUsage {
		t.Fatalf("caption without text: exit %d", r.code)
	}
}

func TestClientLoginAndWhoami(t *testing.T) {
	t.Parallel()
	e := harness.Start(t, "embedded")
	tok := e.Token("alice", "users/alice/", time.Hour, "list", "download", "upload")
	u := newUser(t, e, "")
	delete(u.env, "FILEGATE_URL")
	delete(u.env, "FILEGATE_TOKEN")
	if r := u.run("whoami"); r.code != cli.ExitUsage || !strings.Contains(r.stderr, "filegate login") {
		t.Fatalf("whoami before login: exit %d, %s", r.code, r.stderr)
	}
	u.input = "not-a-token\n"
	if r := u.run("login", e.Base); r.code != cli.ExitRefused || !strings.Contains(r.stderr, "Unauthorized") {
		t.Fatalf("login with a bad token: exit %d, %s", r.code, r.stderr)
	}
	u.input = tok + "\n"
	u.run("login", e.Base).ok(t)
	cfg := filepath.Join(u.home, ".config", "filegate", "config.json")
	fi, err := os.Stat(cfg)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config %v: mode %v, want 0600", err, fi)
	}
	w := u.run("whoami").ok(t).stdout
	for _, want := range []string{"alice", "download, list, upload", "users/alice/", "expires", "(in "} {
		if !strings.Contains(w, want) {
			t.Fatalf("whoami lacks %q:\n%s", want, w)
		}
	}
	var who struct {
		Name      string     `json:"name"`
		Prefix    string     `json:"prefix"`
		ExpiresAt *time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal([]byte(u.run("whoami", "--json").ok(t).stdout), &who); err != nil || who.Name != "alice" || who.Prefix != "users/alice/" || who.ExpiresAt == nil || time.Until(*who.ExpiresAt) > time.Hour {
		t.Fatalf("whoami --json: %+v %v", who, err)
	}
	u.run("logout").ok(t)
	if _, err := os.Stat(cfg); !os.IsNotExist(err) {
		t.Fatalf("logout left the config: %v", err)
	}
}

func TestClientScopeRefusals(t *testing.T) {
	t.Parallel()
	e := harness.Start(t, "embedded")
	e.Put("users/bob/secret.txt", []byte("bob's"))
	alice := newUser(t, e, e.Token("alice", "users/alice/", 0, "list", "download", "upload"))
	reader := newUser(t, e, e.Token("reader", "users/alice/", 0, "list", "download"))
	f := filepath.Join(t.TempDir(), "f.txt")
	writeFile(t, f, []byte("hello"))
	cases := []struct {
		u    *user
		args []string
		code int
		want string
	}{
		{alice, []string{"put", f, "users/bob/f.txt"}, cli.ExitRefused, `outside the token's prefix "users/alice/"`},
		{alice, []string{"get", "users/bob/secret.txt", filepath.Join(t.TempDir(), "x")}, cli.ExitRefused, "outside the token's prefix"},
		{alice, []string{"ls", "users/bob/"}, cli.ExitRefused, "outside"},
		{alice, []string{"url", "users/bob/secret.txt"}, cli.ExitRefused, "outside"},
		{alice, []string{"zip", "users/bob/", "-o", filepath.Join(t.TempDir(), "z.zip")}, cli.ExitRefused, "may not bundle"},
		{reader, []string{"put", f, "users/alice/f.txt"}, cli.ExitRefused, "may not upload"},
		{alice, []string{"get", "users/alice/missing.txt", filepath.Join(t.TempDir(), "x")}, cli.ExitNotFound, "Not Found"},
		{alice, []string{"put", filepath.Join(t.TempDir(), "no-such-file"), "users/alice/x"}, cli.ExitUsage, "no such file"},
		{alice, []string{"put", f}, cli.ExitUsage, "Usage: filegate put"},
		{newUser(t, e, "fg_bad_token"), []string{"ls"}, cli.ExitRefused, "Unauthorized"},
	}
	for _, c := range cases {
		r := c.u.run(c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, want %d with %q; stderr:\n%s", c.args, r.code, c.code, c.want, r.stderr)
		}
		if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "X-Amz-Signature") {
			t.Errorf("%v: a stack or a signature on stderr:\n%s", c.args, r.stderr)
		}
	}
	// Nothing was written outside alice's prefix, and bob's file is intact.
	for k := range e.StoreSnapshot(t) {
		if !strings.HasPrefix(k, "filegate/users/bob/secret.txt") && !strings.Contains(k, "users/alice/") {
			t.Errorf("store holds %s", k)
		}
	}
}

func TestClientProgressOutput(t *testing.T) {
	t.Parallel()
	e := harness.Start(t, "embedded", smallParts...)
	u := newUser(t, e, e.Admin)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.txt"), []byte("aaa"))
	writeFile(t, filepath.Join(dir, "b.bin"), harness.RandomBytes(12<<20))

	// Not a terminal: a plain line per file on stderr, nothing on stdout.
	r := u.run("put", dir, "p/").ok(t)
	if r.stdout != "" {
		t.Fatalf("put wrote to stdout: %q", r.stdout)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if len(lines) != 2 {
		t.Fatalf("want a line per file, got:\n%s", r.stderr)
	}
	for _, l := range lines {
		if !strings.Contains(l, " in ") || !strings.Contains(l, "→ p/") || strings.Contains(l, "\r") || strings.Contains(l, "\x1b") {
			t.Fatalf("plain line %q", l)
		}
	}
	if !strings.Contains(r.stderr, "12.0 MiB") {
		t.Fatalf("no human size in:\n%s", r.stderr)
	}
	// -q: nothing at all on success.
	if r := u.run("put", "-q", dir, "q/").ok(t); r.stdout != "" || r.stderr != "" {
		t.Fatalf("-q printed %q %q", r.stdout, r.stderr)
	}
	// --json: start, progress and done events, one object a line.
	r = u.run("get", "--json", "p/", t.TempDir()).ok(t)
	counts := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		var ev struct {
			Event string `json:"event"`
			Name  string `json:"name"`
			Size  int64  `json:"size"`
			Bytes int64  `json:"bytes"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("not a JSON line: %q", sc.Text())
		}
		counts[ev.Event]++
		if ev.Event == "done" && ev.Name == "p/b.bin" && (ev.Size != 12<<20 || ev.Bytes != 12<<20) {
			t.Fatalf("done event %+v", ev)
		}
	}
	if counts["start"] != 2 || counts["done"] != 2 || counts["progress"] < 1 {
		t.Fatalf("events %v:\n%s", counts, r.stdout)
	}
}

// multipartParts counts the parts the store holds for the multipart upload
// in progress under key whose content is right: 5 MiB of data at their
// offset, with its MD5 as ETag (0 when there is no upload). A part cut short
// by a kill may be stored anyway: the embedded store (versitygw 1.8.0) was
// seen to list one at its full declared size with the ETag of other bytes.
// The client must send such a part again, so it is not counted.
func multipartParts(t *testing.T, e *harness.Env, key string, data []byte) int {
	ctx := context.Background()
	ups, err := e.S3.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &e.Bucket})
	if err != nil {
		t.Fatal(err)
	}
	for _, up := range ups.Uploads {
		if *up.Key == key {
			parts, err := e.S3.ListParts(ctx, &s3.ListPartsInput{Bucket: &e.Bucket, Key: up.Key, UploadId: up.UploadId})
			if err != nil {
				return 0
			}
			n := 0
			for _, p := range parts.Parts {
				off := int64(*p.PartNumber-1) * 5 << 20
				if *p.Size != 5<<20 || off+*p.Size > int64(len(data)) {
					continue
				}
				if sum := md5.Sum(data[off : off+*p.Size]); strings.Trim(*p.ETag, `"`) == hex.EncodeToString(sum[:]) {
					n++
				}
			}
			return n
		}
	}
	return 0
}

// settledParts waits until the store's part count stops changing: a part
// whose body was sent whole before the kill may still be stored after it.
func settledParts(t *testing.T, e *harness.Env, key string, data []byte) int {
	n := multipartParts(t, e, key, data)
	for range 50 {
		time.Sleep(100 * time.Millisecond)
		m := multipartParts(t, e, key, data)
		if m == n {
			return n
		}
		n = m
	}
	return n
}

func TestClientPutResumesAfterKill(t *testing.T) {
	t.Parallel()
	e := harness.Start(t, "embedded", smallParts...)
	u := newUser(t, e, e.Admin)
	big := harness.RandomBytes(200 << 20) // 40 parts
	path := filepath.Join(t.TempDir(), "big.bin")
	writeFile(t, path, big)

	// Run put as its own process, one part at a time, and kill it once the
	// store holds a few parts.
	cmd := exec.Command(os.Args[0], "put", "--concurrency", "1", path, "resume/big.bin")
	cmd.Env = append(os.Environ(), "FILEGATE_TEST_AS_MAIN=1", "HOME="+u.home, "FILEGATE_URL="+e.Base, "FILEGATE_TOKEN="+e.Admin)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stored := 0
	deadline := time.Now().Add(30 * time.Second)
	for stored < 3 && time.Now().Before(deadline) {
		stored = multipartParts(t, e, "resume/big.bin", big)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	stored = settledParts(t, e, "resume/big.bin", big)
	if stored < 3 || stored >= 40 {
		t.Fatalf("killed with %d of 40 parts stored; want some but not all", stored)
	}
	if got, _ := e.Object("resume/big.bin"); got != nil {
		t.Fatal("a killed upload left an object")
	}

	// The session is listed as unfinished.
	var sessions []struct {
		Key         string `json:"key"`
		PartsStored int    `json:"parts_stored"`
		PartCount   int    `json:"part_count"`
	}
	if err := json.Unmarshal([]byte(u.run("sessions", "--json").ok(t).stdout), &sessions); err != nil {
		t.Fatal(err)
	}
	if len(sessions) != 1 || sessions[0].Key != "resume/big.bin" || sessions[0].PartsStored < stored || sessions[0].PartCount != 40 {
		t.Fatalf("sessions: %+v, want resume/big.bin with %d/40 parts", sessions, stored)
	}

	// The same command continues: only the missing parts are sent.
	r := u.run("put", "--json", path, "resume/big.bin").ok(t)
	want := fmt.Sprintf("resumed (%d parts kept, %d sent)", stored, 40-stored)
	if !strings.Contains(r.stdout, want) {
		t.Fatalf("want %q in:\n%s\nstderr: %s", want, r.stdout, r.stderr)
	}
	got, head := e.Object("resume/big.bin")
	if !bytes.Equal(got, big) || !strings.HasSuffix(strings.Trim(*head.ETag, `"`), "-40") {
		t.Fatal("the resumed object differs")
	}
	if e.UploadsInProgress() != 0 {
		t.Fatal("an upload is left in progress")
	}
	if r := u.run("sessions", "--json").ok(t); strings.TrimSpace(r.stdout) != "[]" {
		t.Fatalf("sessions after completion: %s", r.stdout)
	}

	// A session for a file that has since changed is aborted, not reused.
	cmd = exec.Command(os.Args[0], "put", "--concurrency", "1", path, "resume/again.bin")
	cmd.Env = append(os.Environ(), "FILEGATE_TEST_AS_MAIN=1", "HOME="+u.home, "FILEGATE_URL="+e.Base, "FILEGATE_TOKEN="+e.Admin)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for multipartParts(t, e, "resume/again.bin", big) < 1 && time.Now().Before(deadline.Add(30*time.Second)) {
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	changed := append([]byte("changed"), big[7:100<<20]...)
	writeFile(t, path, changed)
	r = u.run("put", "--json", path, "resume/again.bin").ok(t)
	if strings.Contains(r.stdout, "resumed") {
		t.Fatalf("a changed file resumed the old session:\n%s", r.stdout)
	}
	if got, _ := e.Object("resume/again.bin"); !bytes.Equal(got, changed) {
		t.Fatal("resume/again.bin differs from the changed file")
	}
	if n := e.UploadsInProgress(); n != 0 {
		t.Fatalf("%d abandoned uploads left in the store", n)
	}

	// sessions abort drops an unfinished upload's parts.
	cmd = exec.Command(os.Args[0], "put", "--concurrency", "1", path, "resume/aborted.bin")
	cmd.Env = append(os.Environ(), "FILEGATE_TEST_AS_MAIN=1", "HOME="+u.home, "FILEGATE_URL="+e.Base, "FILEGATE_TOKEN="+e.Admin)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for multipartParts(t, e, "resume/aborted.bin", changed) < 1 && time.Now().Before(deadline.Add(60*time.Second)) {
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if !strings.Contains(u.run("sessions", "abort", "--all").ok(t).stdout, "aborted") || e.UploadsInProgress() != 0 {
		t.Fatal("sessions abort --all left the upload")
	}
}

func TestClientGetResumes(t *testing.T) {
	t.Parallel()
	e := harness.Start(t, "embedded", smallParts...)
	u := newUser(t, e, e.Admin)
	big := harness.RandomBytes(100 << 20)
	src := filepath.Join(t.TempDir(), "big.bin")
	writeFile(t, src, big)
	u.run("put", src, "dl/big.bin").ok(t)

	// Stop the download once the first ranges are kept.
	dst := filepath.Join(t.TempDir(), "big.bin")
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer cancel()
		for range 20000 {
			if m, _ := filepath.Glob(filepath.Join(u.home, ".cache", "filegate", "downloads", "*.json")); len(m) > 0 {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	r := u.runCtx(ctx, nil, "get", "--concurrency", "1", "dl/big.bin", dst)
	if r.code != cli.ExitInterrupted {
		t.Fatalf("interrupted get: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(dst); !os.IsNotExist(err) {
		t.Fatal("an interrupted download is visible under its name")
	}
	if _, err := os.Stat(dst + ".filegate-partial"); err != nil {
		t.Fatal("no partial file kept")
	}
	r = u.run("get", "dl/big.bin", dst).ok(t)
	if !strings.Contains(r.stderr, "resumed") {
		t.Fatalf("the second get did not resume:\n%s", r.stderr)
	}
	if !bytes.Equal(harness.MustRead(t, dst), big) {
		t.Fatal("resumed download differs")
	}
	if _, err := os.Stat(dst + ".filegate-partial"); !os.IsNotExist(err) {
		t.Fatal("the partial file is left behind")
	}
}

// TestClientProgressBarInTmux runs put in a real terminal (tmux) and reads
// the screen while it runs: a bar per file and a total bar, with sizes,
// percentages and rates.
func TestClientProgressBarInTmux(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tmux is not installed (.ci/run installs it)")
		}
		t.Skip("tmux is not installed")
	}
	e := harness.Start(t, "embedded", smallParts...)
	u := newUser(t, e, e.Admin)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "src", "one.bin"), harness.RandomBytes(300<<20))
	writeFile(t, filepath.Join(dir, "src", "two.bin"), harness.RandomBytes(100<<20))
	script := filepath.Join(dir, "run.sh")
	writeFile(t, script, []byte(fmt.Sprintf("#!/bin/sh\nexport FILEGATE_TEST_AS_MAIN=1 HOME=%q FILEGATE_URL=%q FILEGATE_TOKEN=%q\n%q put --concurrency 2 %q tty/\necho EXIT=$?\nsleep 60\n",
		u.home, e.Base, e.Admin, os.Args[0], filepath.Join(dir, "src"))))
	sock := fmt.Sprintf("filegate-test-%d", os.Getpid())
	tmux := func(args ...string) string {
		out, err := exec.Command("tmux", append([]string{"-L", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	tmux("new-session", "-d", "-s", "fg", "-x", "150", "-y", "20", "sh "+script)
	t.Cleanup(func() { _ = exec.Command("tmux", "-L", sock, "kill-server").Run() })
	var sawBar, sawTotal bool
	var screen string
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		screen = tmux("capture-pane", "-p", "-t", "fg")
		for _, line := range strings.Split(screen, "\n") {
			if strings.Contains(line, "one.bin") && strings.Contains(line, "MiB / 300.0 MiB") && strings.Contains(line, "%") && strings.Contains(line, "MiB/s") && strings.Contains(line, "[") {
				sawBar = true
			}
			if strings.Contains(line, "total 0/2 files") || strings.Contains(line, "total 1/2 files") {
				sawTotal = true
			}
		}
		if strings.Contains(screen, "EXIT=") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(screen, "EXIT=0") {
		t.Fatalf("put did not finish well; the screen:\n%s", screen)
	}
	if !sawBar || !sawTotal {
		t.Fatalf("no progress bar seen (bar %v, total %v); the last screen:\n%s", sawBar, sawTotal, screen)
	}
	if got, _ := e.Object("tty/one.bin"); len(got) != 300<<20 {
		t.Fatal("tty/one.bin was not stored")
	}
}

// TestClientRetriesTransientStoreErrors puts a proxy in front of the store
// (grants are signed for it with --public-endpoint) that answers the first
// attempt at every part PUT and every ranged GET with 503 SlowDown: the
// client's retries still move every byte.
func TestClientRetriesTransientStoreErrors(t *testing.T) {
	t.Parallel()
	var target atomic.Pointer[url.URL]
	var injected atomic.Int64
	var mu sync.Mutex
	seen := map[string]bool{}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target.Load())
		r.Out.Host = r.In.Host // the signature covers the host the client used
	}}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Method + " " + r.URL.Path + " " + r.URL.Query().Get("partNumber") + " " + r.Header.Get("Range")
		mu.Lock()
		first := !seen[id]
		seen[id] = true
		mu.Unlock()
		if first && (r.Method == http.MethodPut || r.Method == http.MethodGet) {
			injected.Add(1)
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(503)
			_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	e := harness.Start(t, "embedded", append([]string{"--public-endpoint", proxy.URL}, smallParts...)...)
	u0, _ := url.Parse(harness.StoreFileOf(t, e.Data).Endpoint)
	target.Store(u0)
	u := newUser(t, e, e.Admin)
	data := harness.RandomBytes(23 << 20) // 5 parts, the last short
	src := filepath.Join(t.TempDir(), "flaky.bin")
	writeFile(t, src, data)
	u.run("put", src, "flaky/x.bin").ok(t)
	if got, _ := e.Object("flaky/x.bin"); !bytes.Equal(got, data) {
		t.Fatal("stored bytes differ")
	}
	dst := filepath.Join(t.TempDir(), "back.bin")
	u.run("get", "flaky/x.bin", dst).ok(t)
	if !bytes.Equal(harness.MustRead(t, dst), data) {
		t.Fatal("downloaded bytes differ")
	}
	if n := injected.Load(); n < 10 { // 5 part PUTs and 5 ranged GETs, each refused once
		t.Fatalf("only %d failures injected", n)
	}
}
