package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestServeRefusesBadStoreConnections: a bound too small to serve a
// bundle is refused before anything starts, with the flag named.
func TestServeRefusesBadStoreConnections(t *testing.T) {
	var out, errOut bytes.Buffer
	cmd := serveCmd(func(string) string { return "" }, &out, &errOut)
	cmd.SetArgs([]string{"--data", t.TempDir(), "--listen", "127.0.0.1:0", "--store-connections", "8"})
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	err := cmd.ExecuteContext(context.Background())
	if err == nil || !strings.Contains(err.Error(), "--store-connections must be at least 16") {
		t.Fatalf("serve --store-connections 8: %v", err)
	}
}
