// Package cli is the filegate command: its flags and subcommands (serve,
// token), wiring the packages together. cmd/filegate's main only calls Run.
package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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
	root.SetArgs(args[1:])
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(serveCmd(getenv, stdout, stderr), tokenCmd(stdout))
	return root.ExecuteContext(ctx)
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
