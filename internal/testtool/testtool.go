// Package testtool finds the programs tests drive (cjpeg, moto_server…):
// missing, the test fails in CI, which installs them, and is skipped
// elsewhere.
package testtool

import (
	"os"
	"os/exec"
	"testing"
)

// Find returns the path of program name; install says how to get it.
func Find(t testing.TB, name, install string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is needed (%s)", name, install)
		}
		t.Skipf("no %s (%s)", name, install)
	}
	return bin
}
