// Package embedded runs an S3-compatible store on local disk: versitygw
// (github.com/versity/versitygw) with its posix backend, in a child process
// of the current binary.
//
// versitygw's posix backend changes the process's working directory and keeps
// package-level state, so it never runs inside the filegate process: Start
// re-executes os.Executable() with a marker variable, and every binary that
// may start the store calls Child first thing in main (and in TestMain). The
// child never outlives its parent: it is killed by the kernel when the parent
// dies (Pdeathsig) and also exits when the pipe on its standard input closes.
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
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/versity/versitygw/backend/meta"
	"github.com/versity/versitygw/backend/posix"
	"github.com/versity/versitygw/embedgw"
)

// childEnv marks a re-executed binary as the store child.
const childEnv = "FILEGATE_EMBEDDED_STORE_CHILD"

// Options configures the embedded store.
type Options struct {
	Dir       string // where objects live; made absolute
	Host      string // address to listen on; default 127.0.0.1
	Port      string // "" or "0" picks a free port
	Region    string
	AccessKey string
	SecretKey string
	Log       *slog.Logger
}

// childConfig is sent to the child on its standard input, so that the secret
// never appears in a command line or an environment.
type childConfig struct {
	Dir       string `json:"dir"`
	Addr      string `json:"addr"`
	Region    string `json:"region"`
	AccessKey string `json:"access_key"`
	SecretKey string `json:"secret_key"`
}

// Server is a running embedded store.
type Server struct {
	// Endpoint is the store's URL, such as http://127.0.0.1:41234.
	Endpoint string
	// Startup is how long the child took from exec to accepting connections.
	Startup time.Duration

	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
	err   error
	log   *slog.Logger
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
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("embedded: find own executable: %w", err)
	}
	// versitygw listens on an address string, not a net.Listener, so a free
	// port is picked here first; a lost race shows as an early exit and is
	// retried.
	cfg := childConfig{Dir: dir, Region: o.Region, AccessKey: o.AccessKey, SecretKey: o.SecretKey}
	if o.Port != "" && o.Port != "0" {
		cfg.Addr = net.JoinHostPort(o.Host, o.Port)
		return launch(ctx, exe, cfg, o.Log)
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort(o.Host)
		if err != nil {
			return nil, err
		}
		cfg.Addr = net.JoinHostPort(o.Host, strconv.Itoa(port))
		s, err := launch(ctx, exe, cfg, o.Log)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func launch(ctx context.Context, exe string, cfg childConfig, log *slog.Logger) (*Server, error) {
	start := time.Now()
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Pdeathsig: syscall.SIGKILL, // the kernel kills the child if filegate dies
		Setpgid:   true,            // a terminal's Ctrl-C goes to filegate, which drains first
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("embedded: start store process: %w", err)
	}
	s := &Server{Endpoint: "http://" + cfg.Addr, cmd: cmd, stdin: stdin, done: make(chan struct{}), log: log}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			log.Info("embedded store", "line", sc.Text())
		}
	}()
	go func() { s.err = cmd.Wait(); close(s.done) }()
	if err := json.NewEncoder(stdin).Encode(cfg); err != nil {
		s.kill()
		return nil, fmt.Errorf("embedded: configure store process: %w", err)
	}
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	for {
		c, err := net.DialTimeout("tcp", cfg.Addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			s.Startup = time.Since(start)
			return s, nil
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("embedded: store process exited during start: %v", s.err)
		case <-ctx.Done():
			s.kill()
			return nil, ctx.Err()
		case <-deadline.C:
			s.kill()
			return nil, errors.New("embedded: store did not accept connections within 15s")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (s *Server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// Stop asks the store to finish (SIGTERM), and kills it if it has not within
// the context's deadline (or 5 s).
func (s *Server) Stop(ctx context.Context) error {
	select {
	case <-s.done:
		return nil
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.stdin.Close()
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
	case <-t.C:
	}
	s.kill()
	return errors.New("embedded: store did not stop in time and was killed")
}

// PID returns the child's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Done is closed when the child has exited.
func (s *Server) Done() <-chan struct{} { return s.done }

func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("embedded: pick a port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Child runs the store and exits if this process was started by Start; it
// returns at once otherwise. Call it first thing in main and in TestMain.
func Child() {
	if os.Getenv(childEnv) != "1" {
		return
	}
	if err := runChild(os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, "embedded store:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runChild(stdin io.Reader) error {
	br := bufio.NewReader(stdin)
	line, err := br.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("read configuration: %w", err)
	}
	var cfg childConfig
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
	return embedgw.RunVersityGW(ctx, guard{be}, &embedgw.Config{
		RootUserAccess:    cfg.AccessKey,
		RootUserSecret:    cfg.SecretKey,
		Region:            cfg.Region,
		Ports:             []string{cfg.Addr},
		MaxConnections:    1024,
		MaxRequests:       1024,
		MultipartMaxParts: 10000,
		Quiet:             true,
		KeepAlive:         true,
	})
}
