// Package serveproc runs `filegate serve` (or anything that prints the same
// "listening on" line) as a separate process and waits until it listens:
// the one copy of that wait, for the bench command and the tests.
package serveproc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Proc is a started server process.
type Proc struct {
	Cmd   *exec.Cmd
	Base  string // http://host:port from the "listening on" line
	Token string // the admin token, if it printed one (first start)
}

// Scan reads a server's standard output until its "listening on" line and
// returns the address and any admin token printed before it. The rest of
// r is drained in the background.
func Scan(r io.Reader) (base, token string, err error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "fg_") {
			token = line
		}
		if _, addr, ok := strings.Cut(line, "listening on "); ok {
			go func() { _, _ = io.Copy(io.Discard, r) }()
			return strings.TrimSpace(addr), token, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", token, err
	}
	return "", token, errors.New("the server exited before it listened")
}

// Start runs exe with args (env, when not nil, replaces the environment)
// and returns once it listens. Its standard error goes to stderr (nil:
// discarded).
func Start(ctx context.Context, exe string, args, env []string, stderr io.Writer) (*Proc, error) {
	cmd := exec.CommandContext(ctx, exe, args...)
	if env != nil {
		cmd.Env = env
	}
	if stderr == nil {
		stderr = io.Discard
	}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc{Cmd: cmd}
	if p.Base, p.Token, err = Scan(out); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("%s %v: %w", exe, args, err)
	}
	return p, nil
}

// Stop interrupts the process and waits for it, killing it after 10 s.
func (p *Proc) Stop() {
	_ = p.Cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = p.Cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-done
	}
}
