package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/filegate/filegate/internal/harness"
)

// TestMultipartScript runs examples/multipart-upload.sh (the README's
// multipart example) against a real server and checks the stored bytes.
func TestMultipartScript(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "curl", "jq", "dd"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (.ci/run installs it)", tool)
		}
	}
	e := harness.Start(t, "embedded", "--multipart-threshold", "1048576", "--part-size", "5242880")
	body := harness.RandomBytes(12<<20 + 77)
	file := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(file, body, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "../../examples/multipart-upload.sh", file, "videos/big.bin")
	cmd.Env = append(os.Environ(), "FILEGATE="+e.Base, "TOKEN="+e.Admin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("script failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "part 3/3 stored") || !strings.Contains(string(out), `"size":12582989`) {
		t.Errorf("script output:\n%s", out)
	}
	if got, _ := e.Object("videos/big.bin"); !bytes.Equal(got, body) {
		t.Fatalf("stored %d bytes, want the file's %d", len(got), len(body))
	}
}
