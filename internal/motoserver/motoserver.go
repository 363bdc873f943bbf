// Package motoserver starts moto_server (Python moto's stand-alone server,
// installed on the machines that run the tests) on a loopback port, for
// tests of filegate's SSM and STS wiring. moto accepts any signature: it
// proves requests are well formed, never that access is enforced.
package motoserver

import (
	"fmt"
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/filegate/filegate/internal/testtool"
)

// Start runs moto_server for the test and returns its endpoint URL. When
// moto_server is missing the test fails in CI and is skipped elsewhere.
func Start(t *testing.T) string {
	t.Helper()
	bin := testtool.Find(t, "moto_server", "Python moto's server, on the machines that run the tests")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for range 200 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("moto_server did not start")
	return ""
}
