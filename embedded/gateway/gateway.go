// Package gateway is the embedded store itself: versitygw
// (github.com/versity/versitygw) with its posix backend, behind a guard
// that makes it take object keys literally. It runs in the filegate-store
// helper process that package embedded starts; nothing else imports it, so
// the filegate binary carries none of versitygw.
package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/versity/versitygw/backend/meta"
	"github.com/versity/versitygw/backend/posix"
	"github.com/versity/versitygw/embedgw"

	"github.com/filegate/filegate/embedded"
)

// Child runs the store and exits when this process was started as the store
// child (embedded.ChildEnv is set); it returns at once otherwise. A test
// binary that stands in for the helper calls it first thing in TestMain.
func Child() {
	if os.Getenv(embedded.ChildEnv) != "1" {
		return
	}
	if err := Run(os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, "embedded store:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Run reads an embedded.Config line from stdin and serves the store until
// SIGTERM or until stdin closes (the parent is gone).
func Run(stdin io.Reader) error {
	br := bufio.NewReader(stdin)
	line, err := br.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("read configuration: %w", err)
	}
	var cfg embedded.Config
	if err := json.Unmarshal(line, &cfg); err != nil {
		return fmt.Errorf("decode configuration: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	signal.Ignore(syscall.SIGINT, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		// The parent holds our stdin open; EOF means it is gone.
		_, _ = io.Copy(io.Discard, br)
		cancel()
	}()
	be, err := posix.New(cfg.Dir, meta.XattrMeta{}, posix.PosixOpts{
		// Embedded, the threshold defaults to 0, which refuses every CopyObject.
		CopyObjectThreshold: 5 << 30,
		NewDirPerm:          0o700,
		NewFilePerm:         0o600,
	})
	if err != nil {
		return fmt.Errorf("open posix backend: %w", err)
	}
	defer be.Shutdown()
	// Every key the backend sees passes the guard first (see CheckKey).
	return embedgw.RunVersityGW(ctx, guard{Backend: be, list: lister{p: be}}, &embedgw.Config{
		RootUserAccess: cfg.AccessKey,
		RootUserSecret: cfg.SecretKey,
		Region:         cfg.Region,
		Ports:          []string{cfg.Addr},
		// Connections (idle ones included) beyond requests: filegate keeps
		// up to --store-connections open (512) and three quarters as many
		// for small GETs, beside clients' presigned transfers.
		MaxConnections:    2048,
		MaxRequests:       1024,
		MultipartMaxParts: 10000,
		Quiet:             true,
		KeepAlive:         true,
	})
}

// StandIn is for test binaries: started as the store child, it runs the
// store and exits; otherwise it makes the running binary the helper that
// package embedded starts (it sets embedded.HelperEnv), so tests need no
// separately built filegate-store. Call it first thing in TestMain.
func StandIn() {
	Child()
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	os.Setenv(embedded.HelperEnv, exe)
}
