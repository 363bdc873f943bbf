package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/filegate/filegate/client"
)

// clientEnv is what every client command shares: where the server is, the
// token, the user's config and cache directories, and the streams.
type clientEnv struct {
	getenv         func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer
	url            string // --url / FILEGATE_URL
	out            outputMode
	concurrency    int
	noResume       bool
}

// savedLogin is the config file `filegate login` writes.
type savedLogin struct {
	URL   string `json:"url"`
	Token string `json:"token"`
}

// userDir is the user's config or cache directory for filegate, read from
// the environment Run was given (XDG on Unix, as os.UserConfigDir does).
func (e *clientEnv) userDir(kind string) (string, error) {
	xdg, fallback := "XDG_CONFIG_HOME", ".config"
	if kind == "cache" {
		xdg, fallback = "XDG_CACHE_HOME", ".cache"
	}
	if runtime.GOOS != "windows" && runtime.GOOS != "darwin" {
		if d := e.getenv(xdg); d != "" && filepath.IsAbs(d) {
			return filepath.Join(d, "filegate"), nil
		}
		if h := e.getenv("HOME"); h != "" {
			return filepath.Join(h, fallback, "filegate"), nil
		}
	}
	var d string
	var err error
	if kind == "cache" {
		d, err = os.UserCacheDir()
	} else {
		d, err = os.UserConfigDir()
	}
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "filegate"), nil
}

func (e *clientEnv) configPath() (string, error) {
	d, err := e.userDir("config")
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "config.json"), nil
}

// client returns a client for the configured server: FILEGATE_URL and
// FILEGATE_TOKEN win over the saved login.
func (e *clientEnv) client() (*client.Client, error) {
	base, token := e.url, e.getenv("FILEGATE_TOKEN")
	if base == "" || token == "" {
		p, err := e.configPath()
		if err != nil {
			return nil, err
		}
		var saved savedLogin
		b, err := os.ReadFile(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, err
		default:
			if err := json.Unmarshal(b, &saved); err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
		}
		if base == "" {
			base = saved.URL
		}
		if token == "" && (saved.URL == base || e.url == "") {
			token = saved.Token
		}
	}
	if base == "" {
		return nil, usageErr(errors.New("no server: run `filegate login URL`, or set FILEGATE_URL"))
	}
	return client.New(base, token)
}

func (e *clientEnv) transfer() (*client.Transfer, error) {
	t := &client.Transfer{Concurrency: e.concurrency}
	if !e.noResume {
		d, err := e.userDir("cache")
		if err != nil {
			return nil, err
		}
		t.State = d
	}
	return t, nil
}

// clientFlags adds the flags every client command takes.
func (e *clientEnv) clientFlags(cmd *cobra.Command, transfers bool) {
	cmd.Flags().StringVar(&e.url, "url", "", "filegate's URL (default: the saved login's)")
	cmd.Flags().BoolVar(&e.out.json, "json", false, "JSON output (one event a line for transfers)")
	if transfers {
		cmd.Flags().BoolVarP(&e.out.quiet, "quiet", "q", false, "print errors only")
		cmd.Flags().IntVar(&e.concurrency, "concurrency", 8, "requests to the store at once (parts, ranges and files)")
		cmd.Flags().BoolVar(&e.noResume, "no-resume", false, "neither keep nor use resume state")
	}
}

func clientCmds(getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) []*cobra.Command {
	newEnv := func() *clientEnv {
		return &clientEnv{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	}
	return []*cobra.Command{
		loginCmd(newEnv()), logoutCmd(newEnv()), whoamiCmd(newEnv()), lsCmd(newEnv()), urlCmd(newEnv()),
		putCmd(newEnv()), getCmd(newEnv()), zipCmd(newEnv()), captionCmd(newEnv()), sessionsCmd(newEnv()), credentialsCmd(newEnv()),
	}
}

func loginCmd(e *clientEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "login URL",
		Short: "Save a server's URL and a token (read without echo, or from standard input) for the client commands",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			token, err := readToken(e.stdin, e.stderr)
			if err != nil {
				return err
			}
			c, err := client.New(args[0], token)
			if err != nil {
				return usageErr(err)
			}
			who, err := c.Whoami(cmd.Context())
			if err != nil {
				return err
			}
			p, err := e.configPath()
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				return err
			}
			b, _ := json.MarshalIndent(savedLogin{URL: c.Base(), Token: token}, "", "  ")
			if err := writePrivate(p, b); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Signed in to %s as %s (%s). Saved in %s.\n", c.Base(), who.Name, scopeText(who), p)
			return nil
		},
	}
	return cmd
}

// writePrivate writes a file only its owner can read, atomically.
func writePrivate(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".config-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// readToken reads a token without echo on a terminal, or the first line of
// standard input otherwise (for scripts: `filegate login URL < token`).
func readToken(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Token: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(string(b)), nil
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 64<<10)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	if t := strings.TrimSpace(line); t != "" {
		return t, nil
	}
	return "", usageErr(errors.New("no token on standard input"))
}

func logoutCmd(e *clientEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Forget the saved login",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := e.configPath()
			if err != nil {
				return err
			}
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			return nil
		},
	}
}

func scopeText(w client.Whoami) string {
	prefix := w.Prefix
	if prefix == "" {
		prefix = "the whole bucket"
	}
	return strings.Join(w.Actions, ", ") + " on " + prefix
}

func whoamiCmd(e *clientEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Show the token's name, actions, prefix and expiry",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			w, err := c.Whoami(cmd.Context())
			if err != nil {
				return err
			}
			if e.out.json {
				return json.NewEncoder(e.stdout).Encode(w)
			}
			tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "server\t%s\n", c.Base())
			fmt.Fprintf(tw, "name\t%s\n", w.Name)
			fmt.Fprintf(tw, "actions\t%s\n", strings.Join(w.Actions, ", "))
			prefix := w.Prefix
			if prefix == "" {
				prefix = "(the whole bucket)"
			}
			fmt.Fprintf(tw, "prefix\t%s\n", prefix)
			exp := "never"
			if w.ExpiresAt != nil {
				exp = w.ExpiresAt.Local().Format(time.RFC3339) + " (in " + time.Until(*w.ExpiresAt).Round(time.Second).String() + ")"
			}
			fmt.Fprintf(tw, "expires\t%s\n", exp)
			if w.MaxSize > 0 {
				fmt.Fprintf(tw, "max size\t%s\n", humanSize(w.MaxSize))
			}
			return tw.Flush()
		},
	}
	e.clientFlags(cmd, false)
	return cmd
}

func lsCmd(e *clientEnv) *cobra.Command {
	var recursive bool
	cmd := &cobra.Command{
		Use:   "ls [PREFIX]",
		Short: "List folders and files under a prefix (default: the token's)",
		Args:  usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			prefix := ""
			if len(args) == 1 {
				prefix = args[0]
			}
			delim := "/"
			if recursive {
				delim = ""
			}
			all := client.Listing{Objects: []client.Object{}, Folders: []string{}}
			cursor := ""
			for {
				page, err := c.List(cmd.Context(), prefix, delim, cursor)
				if err != nil {
					return err
				}
				all.Objects = append(all.Objects, page.Objects...)
				all.Folders = append(all.Folders, page.Folders...)
				if page.Cursor == "" {
					break
				}
				cursor = page.Cursor
			}
			if e.out.json {
				return json.NewEncoder(e.stdout).Encode(all)
			}
			tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
			for _, f := range all.Folders {
				fmt.Fprintf(tw, "DIR\t\t%s\t\n", f)
			}
			for _, o := range all.Objects {
				fmt.Fprintf(tw, "%s\t%s\t%s\t\n", humanSize(o.Size), o.LastModified.Local().Format("2006-01-02 15:04"), o.Key)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "list every object under the prefix, not folders")
	e.clientFlags(cmd, false)
	return cmd
}

func urlCmd(e *clientEnv) *cobra.Command {
	var expires time.Duration
	var name string
	var inline bool
	cmd := &cobra.Command{
		Use:   "url KEY",
		Short: "Print a download link for an object",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			if expires < time.Second || expires > 7*24*time.Hour {
				return usageErr(errors.New("--expires must be between 1s and 168h"))
			}
			req := client.DownloadRequest{Key: args[0], ExpiresIn: int64(expires / time.Second), Filename: name}
			if inline {
				req.Disposition = "inline"
			}
			d, err := c.Download(cmd.Context(), req)
			if err != nil {
				return err
			}
			if e.out.json {
				return json.NewEncoder(e.stdout).Encode(d)
			}
			fmt.Fprintln(e.stdout, d.URL)
			return nil
		},
	}
	cmd.Flags().DurationVar(&expires, "expires", 10*time.Minute, "how long the link works")
	cmd.Flags().StringVar(&name, "download-name", "", "file name the browser saves it as")
	cmd.Flags().BoolVar(&inline, "inline", false, "show in the browser instead of downloading")
	e.clientFlags(cmd, false)
	return cmd
}

func sessionsCmd(e *clientEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sessions",
		Short: "List the multipart uploads this user left unfinished (resumed by running the same put again)",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, t, err := e.clientAndTransfer()
			if err != nil {
				return err
			}
			ss, err := t.Sessions(c.Base())
			if err != nil {
				return err
			}
			type row struct {
				client.Session
				PartsStored int    `json:"parts_stored"`
				State       string `json:"state"`
			}
			rows := make([]row, 0, len(ss))
			for _, s := range ss {
				r := row{Session: s, State: "open"}
				st, err := c.UploadStatus(cmd.Context(), s.ID)
				switch {
				case err == nil:
					r.PartsStored = len(st.Parts)
				case client.StatusOf(err) != 0:
					r.State = "gone: " + err.Error()
				default:
					return err
				}
				rows = append(rows, r)
			}
			if e.out.json {
				return json.NewEncoder(e.stdout).Encode(rows)
			}
			if len(rows) == 0 {
				fmt.Fprintln(e.stderr, "no unfinished uploads")
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tKEY\tFILE\tSIZE\tPARTS\tSTARTED\tSTATE")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\n", shortID(r.ID), r.Key, r.File, humanSize(r.Size), r.PartsStored, r.PartCount, r.Started.Local().Format("2006-01-02 15:04"), r.State)
			}
			return tw.Flush()
		},
	}
	e.clientFlags(cmd, false)
	var all bool
	abort := &cobra.Command{
		Use:   "abort [ID...]",
		Short: "Abort unfinished uploads (their stored parts are deleted) by ID or ID prefix, or --all",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && !all {
				return usageErr(errors.New("name the sessions to abort, or --all"))
			}
			c, t, err := e.clientAndTransfer()
			if err != nil {
				return err
			}
			ss, err := t.Sessions(c.Base())
			if err != nil {
				return err
			}
			matched := 0
			for _, s := range ss {
				if !all && !matchesID(s.ID, args) {
					continue
				}
				matched++
				err := c.AbortUpload(cmd.Context(), s.ID)
				if err != nil && client.StatusOf(err) != 404 && client.StatusOf(err) != 410 {
					return fmt.Errorf("%s: %w", s.Key, err)
				}
				s.Forget()
				fmt.Fprintf(e.stdout, "aborted %s (%s)\n", shortID(s.ID), s.Key)
			}
			if matched == 0 && !all {
				return notFoundErr(errors.New("no unfinished upload has that ID"))
			}
			return nil
		},
	}
	abort.Flags().BoolVar(&all, "all", false, "abort every unfinished upload on this server")
	e.clientFlags(abort, false)
	cmd.AddCommand(abort)
	return cmd
}

func (e *clientEnv) clientAndTransfer() (*client.Client, *client.Transfer, error) {
	c, err := e.client()
	if err != nil {
		return nil, nil, err
	}
	t, err := e.transfer()
	return c, t, err
}

func shortID(id string) string {
	if len(id) > 16 {
		return id[:16]
	}
	return id
}

func matchesID(id string, wanted []string) bool {
	for _, w := range wanted {
		if len(w) >= 8 && strings.HasPrefix(id, w) {
			return true
		}
	}
	return false
}
