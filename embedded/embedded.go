// Package embedded starts and supervises filegate's embedded S3-compatible
// store: the filegate-store helper (package embedded/gateway: versitygw
// with its posix backend) in a child process.
//
// versitygw's posix backend changes the process's working directory and keeps
// package-level state, so it never runs inside the filegate process; and it
// carries Kafka, NATS, Vault and LDAP clients that a Lambda or a server in
// front of Amazon S3 does not need. So it is a binary of its own: this
// package imports none of it. The child never outlives its parent: it is
// killed by the kernel when the parent dies (Pdeathsig) and also exits when
// the pipe on its standard input closes.
package embedded

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ChildEnv marks a process started as the store child, for binaries that
// are the helper only when asked (test binaries).
const ChildEnv = "FILEGATE_EMBEDDED_STORE_CHILD"

// HelperEnv names the store helper's path when it is not beside the
// running executable or on PATH.
const HelperEnv = "FILEGATE_STORE_HELPER"

// HelperName is the store helper's file name.
const HelperName = "filegate-store"

// Options configures the embedded store.
type Options struct {
	Dir       string // where objects live; made absolute
	Host      string // address to listen on; default 127.0.0.1
	Port      string // "" or "0" picks a free port
	Region    string
	AccessKey string
	SecretKey string
	Log       *slog.Logger
	// Helper is the filegate-store executable; default: $FILEGATE_STORE_HELPER,
	// then filegate-store beside the running executable, then on PATH.
	Helper string
}

// Config is sent to the child on its standard input, so that the secret
// never appears in a command line or an environment.
type Config struct {
	Dir       string `json:"dir"`
	Addr      string `json:"addr"`
	Region    string `json:"region"`
	AccessKey string `json:"access_key"`
	SecretKey string `json:"secret_key"`
}

// Server is a running embedded store: one child process at a time, started
// again by Supervise when it dies.
type Server struct {
	// Endpoint is the store's URL, such as http://127.0.0.1:41234. It stays
	// the same across restarts of the child.
	Endpoint string
	// Startup is how long the first child took from exec to accepting
	// connections.
	Startup time.Duration

	exe string
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	cur      *child
	stopping bool
	restarts int
}

// child is one store process.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
	err   error
}

// Start launches the store and returns once it accepts connections.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("embedded: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded: %w", err)
	}
	exe, err := findHelper(o.Helper)
	if err != nil {
		return nil, err
	}
	s := &Server{exe: exe, log: o.Log, cfg: Config{Dir: dir, Region: o.Region, AccessKey: o.AccessKey, SecretKey: o.SecretKey}}
	if o.Port != "" && o.Port != "0" {
		s.cfg.Addr = net.JoinHostPort(o.Host, o.Port)
		if err := s.launch(ctx); err != nil {
			return nil, err
		}
		return s, nil
	}
	// versitygw listens on an address string, not a net.Listener, so a free
	// port is picked here first; a lost race shows as an early exit and is
	// retried.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort(o.Host)
		if err != nil {
			return nil, err
		}
		s.cfg.Addr = net.JoinHostPort(o.Host, strconv.Itoa(port))
		if lastErr = s.launch(ctx); lastErr == nil {
			return s, nil
		}
	}
	return nil, lastErr
}

// launch starts a child on s.cfg.Addr and waits until it accepts
// connections.
func (s *Server) launch(ctx context.Context) error {
	start := time.Now()
	cmd := exec.Command(s.exe)
	cmd.Env = append(os.Environ(), ChildEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Pdeathsig: syscall.SIGKILL, // the kernel kills the child if filegate dies
		Setpgid:   true,            // a terminal's Ctrl-C goes to filegate, which drains first
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("embedded: start store process: %w", err)
	}
	c := &child{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	log := s.log
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			log.Info("embedded store", "line", sc.Text())
		}
	}()
	go func() { c.err = cmd.Wait(); close(c.done) }()
	if err := json.NewEncoder(stdin).Encode(s.cfg); err != nil {
		c.kill()
		return fmt.Errorf("embedded: configure store process: %w", err)
	}
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	for {
		conn, err := net.DialTimeout("tcp", s.cfg.Addr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			s.mu.Lock()
			s.cur = c
			s.mu.Unlock()
			if s.Endpoint == "" {
				s.Endpoint = "http://" + s.cfg.Addr
				s.Startup = time.Since(start)
			}
			return nil
		}
		select {
		case <-c.done:
			return fmt.Errorf("embedded: store process exited during start: %v", c.err)
		case <-ctx.Done():
			c.kill()
			return ctx.Err()
		case <-deadline.C:
			c.kill()
			return errors.New("embedded: store did not accept connections within 15s")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (c *child) kill() {
	_ = c.cmd.Process.Kill()
	<-c.done
}

func (s *Server) current() *child {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// Supervise restarts the store on the same address whenever its process
// dies, with a bounded backoff (100 ms doubling to 5 s, reset after a child
// has run for a minute), until ctx is done or Stop is called. Meanwhile the
// store does not answer and filegate's /readyz says so.
func (s *Server) Supervise(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for {
		c := s.current()
		began := time.Now()
		select {
		case <-ctx.Done():
			return
		case <-c.done:
		}
		s.mu.Lock()
		stopping := s.stopping
		s.mu.Unlock()
		if stopping {
			return
		}
		if time.Since(began) > time.Minute {
			backoff = 100 * time.Millisecond
		}
		s.log.Warn("the embedded store exited; restarting it", "err", fmt.Sprint(c.err), "in", backoff.String())
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
			err := s.launch(ctx)
			if err == nil {
				s.mu.Lock()
				s.restarts++
				s.mu.Unlock()
				s.log.Info("the embedded store is back", "endpoint", s.Endpoint)
				break
			}
			s.log.Warn("restarting the embedded store failed", "err", err.Error(), "retry_in", backoff.String())
		}
	}
}

// Restarts returns how many times Supervise has restarted the store.
func (s *Server) Restarts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restarts
}

// Stop asks the store to finish (SIGTERM), and kills it if it has not within
// the context's deadline (or 5 s). Supervise does not restart it.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	s.stopping = true
	c := s.cur
	s.mu.Unlock()
	select {
	case <-c.done:
		return nil
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	_ = c.stdin.Close()
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
	case <-t.C:
	}
	c.kill()
	return errors.New("embedded: store did not stop in time and was killed")
}

// PID returns the current child's process id.
func (s *Server) PID() int { return s.current().cmd.Process.Pid }

func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("embedded: pick a port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// findHelper resolves the filegate-store executable.
func findHelper(explicit string) (string, error) {
	if explicit == "" {
		explicit = os.Getenv(HelperEnv)
	}
	if explicit != "" {
		return explicit, nil
	}
	if exe, err := os.Executable(); err == nil {
		beside := filepath.Join(filepath.Dir(exe), HelperName)
		if fi, err := os.Stat(beside); err == nil && !fi.IsDir() {
			return beside, nil
		}
	}
	if p, err := exec.LookPath(HelperName); err == nil {
		return p, nil
	}
	return "", errors.New("embedded: the embedded store needs the filegate-store helper beside filegate or on PATH: build both with `go build -o DIR/ ./cmd/...` (or point FILEGATE_STORE_HELPER at it, or use --endpoint for another S3 store)")
}
