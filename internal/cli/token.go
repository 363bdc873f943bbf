package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/filegate/filegate"
	"github.com/filegate/filegate/auth"
	"github.com/filegate/filegate/datadir"
)

func tokenCmd(stdout io.Writer) *cobra.Command {
	var data, spec string
	var acc awsAccess
	cmd := &cobra.Command{Use: "token", Short: "Create, list and revoke bearer tokens"}
	pf := cmd.PersistentFlags()
	pf.StringVar(&data, "data", "./filegate-data", "filegate's data directory")
	pf.StringVar(&spec, "tokens", "", "token store: file:PATH (default <data>/tokens.json), s3://BUCKET/KEY or ssm:NAME")
	pf.StringVar(&acc.endpoint, "endpoint", "", "S3 endpoint of an s3:// token store (default: Amazon S3)")
	pf.StringVar(&acc.region, "region", "", "AWS region (default: AWS_REGION or the AWS profile)")
	pf.StringVar(&acc.accessKeyID, "access-key-id", "", "static access key for an s3:// or ssm: token store (default: the AWS credential chain)")
	pf.StringVar(&acc.secretAccessKey, "secret-access-key", "", "static secret key")
	open := func() (*auth.Tokens, error) {
		if spec != "" && !strings.HasPrefix(spec, "file:") {
			return openTokens(context.Background(), spec, datadir.Dir{}, time.Second, nil, acc)
		}
		d, err := datadir.Open(data)
		if err != nil {
			return nil, err
		}
		return openTokens(context.Background(), spec, d, time.Second, nil, acc)
	}

	var name, prefix string
	var allow []string
	var ttl time.Duration
	var maxSize sizeFlag
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a token; prints the token alone on stdout (it cannot be shown again)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var actions []filegate.Action
			for _, a := range allow {
				act, err := filegate.ParseAction(strings.TrimSpace(a))
				if err != nil {
					return err
				}
				actions = append(actions, act)
			}
			tokens, err := open()
			if err != nil {
				return err
			}
			tok, _, err := tokens.Create(auth.NewSpec{Name: name, Actions: actions, Prefix: prefix, TTL: ttl, MaxSize: int64(maxSize)})
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, tok)
			return nil
		},
	}
	create.Flags().StringVar(&name, "name", "", "who or what the token is for (required)")
	create.Flags().StringVar(&prefix, "prefix", "", `key prefix the token is confined to, such as "users/alice/" (default: the whole bucket)`)
	create.Flags().StringSliceVar(&allow, "allow", []string{"list", "download"}, "actions: list, download, upload, bundle, caption, admin")
	create.Flags().DurationVar(&ttl, "ttl", 0, "lifetime, such as 720h (default: no expiry)")
	create.Flags().Var(&maxSize, "max-size", "largest object the token may upload, such as 10MiB (default: the server's --max-upload-size)")
	_ = create.MarkFlagRequired("name")

	list := &cobra.Command{
		Use:   "list",
		Short: "List tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tokens, err := open()
			if err != nil {
				return err
			}
			recs, err := tokens.List()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tACTIONS\tPREFIX\tCREATED\tEXPIRES")
			for _, r := range recs {
				acts := make([]string, len(r.Actions))
				for i, a := range r.Actions {
					acts[i] = string(a)
				}
				exp := "never"
				if !r.Expires.IsZero() {
					exp = r.Expires.Format(time.RFC3339)
				}
				pfx := r.Prefix
				if pfx == "" {
					pfx = "(all)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Name, strings.Join(acts, ","), pfx, r.Created.Format(time.RFC3339), exp)
			}
			return tw.Flush()
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke ID|NAME",
		Short: "Revoke a token; a running server refuses it from the next request on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tokens, err := open()
			if err != nil {
				return err
			}
			r, err := tokens.Revoke(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "revoked %s (%s)\n", r.ID, r.Name)
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}
