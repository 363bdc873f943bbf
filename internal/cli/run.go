// Package cli is the filegate command: its flags and subcommands (serve,
// token), wiring the packages together. cmd/filegate's main only calls Run.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/filegate/filegate/client"
)

// Version is set at build time with
// -ldflags "-X github.com/filegate/filegate/internal/cli.Version=...".
var Version = "dev"

// Run is the whole filegate command: main calls it with the process's
// arguments, environment and streams; tests with their own, and cancel ctx
// to stop a server.
func Run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	root := &cobra.Command{
		Use:           "filegate",
		Short:         "A secure, fast file gateway for S3-compatible object storage",
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return applyEnv(cmd, getenv)
		},
	}
	if getenv("AWS_LAMBDA_RUNTIME_API") != "" && len(args) <= 1 {
		args = []string{args[0], "serve"} // the Lambda runtime starts the bootstrap with no arguments
	}
	root.SetArgs(args[1:])
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr(err) })
	root.AddCommand(serveCmd(getenv, stdout, stderr), tokenCmd(stdout))
	root.AddCommand(clientCmds(getenv, stdin, stdout, stderr)...)
	err := root.ExecuteContext(ctx)
	if err != nil && strings.HasPrefix(err.Error(), "unknown command") {
		err = usageErr(err)
	}
	return err
}

// The exit statuses of the filegate command, documented in README.
const (
	ExitOK          = 0
	ExitFailed      = 1   // the work failed: network, store, verification
	ExitUsage       = 2   // bad arguments or flags
	ExitRefused     = 3   // the token is missing, invalid, expired or not allowed (401, 403)
	ExitNotFound    = 4   // no such object, prefix or session (404)
	ExitInterrupted = 130 // stopped by a signal
)

// ExitCode is the exit status for an error Run returned.
func ExitCode(err error) int {
	var ue usageError
	var nf notFoundError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		return ExitUsage
	case errors.As(err, &nf):
		return ExitNotFound
	case errors.Is(err, context.Canceled):
		return ExitInterrupted
	}
	switch client.StatusOf(err) {
	case 401, 403:
		return ExitRefused
	case 404:
		return ExitNotFound
	}
	return ExitFailed
}

type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func usageErr(err error) error { return usageError{err} }

type notFoundError struct{ error }

func (e notFoundError) Unwrap() error { return e.error }

func notFoundErr(err error) error { return notFoundError{err} }

// usageArgs marks an argument-count error as a usage error.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageErr(fmt.Errorf("%w\nUsage: %s", err, cmd.UseLine()))
		}
		return nil
	}
}

func jsonOut(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// applyEnv gives every flag an environment twin: --bundle-bucket is also
// FILEGATE_BUNDLE_BUCKET. A flag given on the command line wins.
func applyEnv(cmd *cobra.Command, getenv func(string) string) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		name := "FILEGATE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s=%q: %w", name, v, e)
			}
		}
	})
	return err
}
