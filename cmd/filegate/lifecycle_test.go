package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/harness"
	"github.com/filegate/filegate/internal/serveproc"
)

func waitRefused(t *testing.T, endpoint string, within time.Duration) bool {
	t.Helper()
	u, _ := url.Parse(endpoint)
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", u.Host, 100*time.Millisecond)
		if err != nil {
			return true
		}
		c.Close()
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func TestStoreChildDiesWithKilledParent(t *testing.T) {
	t.Parallel()
	p := harness.StartProcess(t)
	ep := p.StoreEndpoint(t)
	if waitRefused(t, ep, 50*time.Millisecond) {
		t.Fatal("embedded store not listening while filegate runs")
	}
	if err := p.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.Cmd.Wait()
	if !waitRefused(t, ep, 5*time.Second) {
		t.Fatal("embedded store still listening 5 s after its parent was killed")
	}
}

func TestGracefulShutdownDrainsInFlight(t *testing.T) {
	t.Parallel()
	p := harness.StartProcess(t)
	ep := p.StoreEndpoint(t)
	token := strings.TrimSpace(string(harness.MustRead(t, filepath.Join(p.Data, "admin.token"))))

	// Start a request and hold its body half-sent while SIGTERM arrives.
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.Base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"key":"a.txt","check":false}`
	fmt.Fprintf(conn, "POST /v1/downloads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", token, len(body), body[:10])
	time.Sleep(200 * time.Millisecond)
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	// New connections are refused while the old request is still served.
	if _, err := http.Get(p.Base + "/healthz"); err == nil {
		t.Error("a new request was accepted after SIGTERM")
	}
	fmt.Fprint(conn, body[10:])
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request lost: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "X-Amz-Signature") {
		t.Errorf("in-flight request: %d %s, want 200 with a grant", resp.StatusCode, b)
	}
	done := make(chan error, 1)
	go func() { done <- p.Cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("filegate exited with %v, want 0", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("filegate did not exit after SIGTERM")
	}
	if !waitRefused(t, ep, 5*time.Second) {
		t.Error("embedded store still up after filegate stopped")
	}
}

// TestBuiltBinariesStartTheEmbeddedStore checks the packagers' contract:
// `go build -o DIR/ ./cmd/...`, then `DIR/filegate serve` finds the
// filegate-store helper beside itself and serves; and filegate alone links
// no versitygw code.
func TestBuiltBinariesStartTheEmbeddedStore(t *testing.T) {
	t.Parallel() // waits on timeouts and backoff, not on the CPU
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", dir+"/", "./cmd/filegate", "./cmd/filegate-store")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	mods, err := exec.Command("go", "version", "-m", filepath.Join(dir, "filegate")).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"versitygw", "minio-go", "gofiber", "google.golang.org/grpc"} {
		if strings.Contains(string(mods), m) {
			t.Errorf("the filegate binary links %s", m)
		}
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FILEGATE_") {
			env = append(env, kv)
		}
	}
	sp, err := serveproc.Start(context.Background(), filepath.Join(dir, "filegate"), []string{"serve", "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data")}, env, nil)
	if err != nil {
		t.Fatalf("the built filegate did not start: %v", err)
	}
	t.Cleanup(sp.Stop)
	base := sp.Base
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/readyz = %d", resp.StatusCode)
	}
}
