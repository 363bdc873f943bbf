package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/harness"
)

// browserTools finds node, Chromium and the test's npm packages. In CI
// they are installed by .ci/run and their absence fails the test; on a
// developer machine without them the test is skipped with the reason.
func browserTools(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../../web/browsertest")
	if err != nil {
		t.Fatal(err)
	}
	var missing string
	switch {
	case func() bool { _, err := exec.LookPath("node"); return err != nil }():
		missing = "node"
	case func() bool { _, err := exec.LookPath("chromium"); return err != nil }():
		missing = "chromium (apt-get install chromium)"
	case func() bool {
		_, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core"))
		return err != nil
	}():
		missing = "the npm packages (npm ci --prefix web/browsertest)"
	}
	if missing != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("browser tests need %s", missing)
		}
		t.Skipf("browser tests need %s", missing)
	}
	return dir
}

// TestBrowser drives the web app in Debian's Chromium end to end against a
// real filegate with the embedded store (sign in, list, upload small and
// 40 MiB files with a reload mid-upload, download, share, zip, caption,
// sign out, axe on each view), then Uppy 5's AwsS3 plugin from npm on a
// page of another origin and Uppy 6's on filegate's origin with the session
// cookie. The store is checked from here.
func TestBrowser(t *testing.T) {
	t.Parallel()
	if raceEnabled {
		// The browser's timeouts are set for filegate at full speed; CI
		// runs this test in the plain pass.
		t.Skip("run without -race (CI's plain pass runs it)")
	}
	dir := browserTools(t)

	// The Uppy 5 page's server: another origin, known before filegate starts.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pageOrigin := "http://" + ln.Addr().String()
	page := &http.Server{Handler: http.FileServer(http.Dir(dir)), ReadHeaderTimeout: 5 * time.Second}
	go page.Serve(ln)
	t.Cleanup(func() { page.Close() })

	e := harness.Start(t, "embedded", "--cors-origin", pageOrigin)
	tok := e.Token("alice", "users/alice/", 0, "list", "download", "upload", "bundle", "caption")
	cat := testJPEG(t, 800, 600)
	e.Put("users/alice/cat.jpg", cat)
	e.Put("users/alice/docs/readme.txt", []byte("read me\n"))

	files, out := t.TempDir(), t.TempDir()
	local := map[string][]byte{
		"small.txt":       []byte("a small file, uploaded from the browser\n"),
		"folder.txt":      []byte("uploaded while the docs folder was shown\n"),
		"big.bin":         harness.RandomBytes(40 << 20),
		"uppy5-small.txt": []byte("uploaded by Uppy 5 from another origin\n"),
		"uppy5-big.bin":   harness.RandomBytes(12 << 20),
		"uppy6-small.txt": []byte("uploaded by Uppy 6 with the session cookie\n"),
		"uppy6-big.bin":   harness.RandomBytes(12 << 20),
		"hidden-etag.bin": harness.RandomBytes(9 << 20),
	}
	for name, b := range local {
		if err := os.WriteFile(filepath.Join(files, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run := func(phase string) map[string]any {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "node", "run.mjs")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "FG_BASE="+e.Base, "FG_TOKEN="+tok, "FG_FILES="+files, "FG_OUT="+out,
			"FG_PAGE="+pageOrigin, "FG_PHASE="+phase, "FG_SCREENSHOTS="+os.Getenv("FILEGATE_SCREENSHOTS"))
		start := time.Now()
		b, err := cmd.CombinedOutput()
		t.Logf("browser, %s phase (%s):\n%s", phase, time.Since(start).Round(time.Millisecond), b)
		if err != nil {
			t.Fatalf("browser %s phase: %v", phase, err)
		}
		var res map[string]any
		raw, err := os.ReadFile(filepath.Join(out, "results-"+phase+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &res); err != nil {
			t.Fatal(err)
		}
		return res
	}

	res := run("main")
	for key, name := range map[string]string{
		"users/alice/small.txt": "small.txt", "users/alice/big.bin": "big.bin", "users/alice/docs/folder.txt": "folder.txt",
		"users/alice/uppy5/uppy5-small.txt": "uppy5-small.txt", "users/alice/uppy5/uppy5-big.bin": "uppy5-big.bin",
		"users/alice/uppy6/uppy6-small.txt": "uppy6-small.txt", "users/alice/uppy6/uppy6-big.bin": "uppy6-big.bin",
	} {
		if got, _ := e.Object(key); !bytes.Equal(got, local[name]) {
			var differ []int
			for off := 0; off < len(got) && off < len(local[name]); off += 1 << 20 {
				if !bytes.Equal(got[off:min(off+1<<20, len(got))], local[name][off:min(off+1<<20, len(local[name]))]) {
					differ = append(differ, off>>20)
				}
			}
			if len(differ) > 0 {
				probe := got[differ[0]<<20 : differ[0]<<20+64]
				t.Logf("first differing MiB found at offset %d of the local file; zero: %v", bytes.Index(local[name], probe), bytes.Count(probe, []byte{0}) == 64)
			}
			t.Errorf("%s: stored %d bytes, want the %d of %s; MiB that differ: %v", key, len(got), len(local[name]), name, differ)
		}
	}
	if n := e.UploadsInProgress(); n != 0 {
		t.Errorf("%d multipart uploads left in progress", n)
	}
	if sum := e.StoreSnapshot(t)[e.Bucket+"/users/alice/hidden-etag.bin"]; sum != "" {
		t.Error("the upload whose part ETags the browser could not read was stored")
	}

	// The zip the browser saved holds both files.
	zr, err := zip.OpenReader(res["zip"].(string))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		var buf bytes.Buffer
		buf.ReadFrom(rc)
		rc.Close()
		got[filepath.Base(f.Name)] = buf.Bytes()
	}
	zr.Close()
	if !bytes.Equal(got["small.txt"], local["small.txt"]) || !bytes.Equal(got["cat.jpg"], cat) {
		t.Errorf("zip entries %v: want small.txt and cat.jpg with their bytes", keys(got))
	}

	// The caption is stored inside the prefix: a JPEG of the same size,
	// not the same pixels.
	ck, _ := res["caption_key"].(string)
	cb, _ := e.Object(ck)
	img, err := jpeg.Decode(bytes.NewReader(cb))
	if err != nil || img.Bounds().Dx() != 800 || img.Bounds().Dy() != 600 || bytes.Equal(cb, cat) {
		t.Errorf("caption %q: %d bytes, decode err %v", ck, len(cb), err)
	}
	t.Logf("timings (ms): %v; axe: %v; resume: %v (re-selected: %v); part PUTs in flight at most: %v", res["timings"], res["axe"], res["resume"], res["resume_needed_reselect"], res["parts_in_flight_max"])

}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func testJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), 160, 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestBrowserFirefox drives the web app's core flows in Debian's Firefox
// ESR through WebDriver BiDi (puppeteer-core): sign in from the link, list,
// upload a small and a multipart file through Uppy's Dashboard, download,
// caption. The store is checked from here.
func TestBrowserFirefox(t *testing.T) {
	t.Parallel()
	if raceEnabled {
		t.Skip("run without -race (CI's plain pass runs it)")
	}
	dir := browserTools(t)
	missing := ""
	if _, err := exec.LookPath("firefox-esr"); err != nil {
		missing = "firefox-esr (apt-get install firefox-esr)"
	} else if _, err := os.Stat(filepath.Join(dir, "node_modules", "puppeteer-core")); err != nil {
		missing = "the npm packages (npm ci --prefix web/browsertest)"
	}
	if missing != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("the Firefox test needs %s", missing)
		}
		t.Skipf("the Firefox test needs %s", missing)
	}
	e := harness.Start(t, "embedded")
	tok := e.Token("alice", "users/alice/", 0, "list", "download", "upload", "caption")
	e.Put("users/alice/cat.jpg", testJPEG(t, 800, 600))
	files, out := t.TempDir(), t.TempDir()
	local := map[string][]byte{
		"ff-small.txt": []byte("a small file, uploaded from Firefox\n"),
		"ff-big.bin":   harness.RandomBytes(20 << 20),
	}
	for name, b := range local {
		if err := os.WriteFile(filepath.Join(files, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "firefox.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "FG_BASE="+e.Base, "FG_TOKEN="+tok, "FG_FILES="+files, "FG_OUT="+out)
	start := time.Now()
	b, err := cmd.CombinedOutput()
	t.Logf("firefox (%s):\n%s", time.Since(start).Round(time.Millisecond), b)
	if err != nil {
		t.Fatalf("firefox: %v", err)
	}
	var res map[string]any
	raw, err := os.ReadFile(filepath.Join(out, "results-firefox.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatal(err)
	}
	t.Logf("firefox: %v, timings %v", res["user_agent"], res["timings"])
	for name, want := range local {
		if got, _ := e.Object("users/alice/" + name); !bytes.Equal(got, want) {
			t.Errorf("%s: stored %d bytes, want the %d uploaded from Firefox", name, len(got), len(want))
		}
	}
	if res["downloaded"] != string(local["ff-small.txt"]) {
		t.Errorf("downloaded in Firefox: %q", res["downloaded"])
	}
	if key, _ := res["caption_key"].(string); key == "" {
		t.Error("no caption was saved")
	} else if got, _ := e.Object(key); len(got) == 0 {
		t.Errorf("the caption %s is not in the store", key)
	}
	if n := e.UploadsInProgress(); n != 0 {
		t.Errorf("%d multipart uploads left in progress", n)
	}
}
