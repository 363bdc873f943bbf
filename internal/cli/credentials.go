package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

// processCredentials is the aws CLI's credential_process output.
type processCredentials struct {
	Version         int    `json:"Version"`
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	SessionToken    string `json:"SessionToken"`
	Expiration      string `json:"Expiration"`
}

func credentialsCmd(e *clientEnv) *cobra.Command {
	var expires time.Duration
	var format string
	cmd := &cobra.Command{
		Use:   "credentials",
		Short: "Print temporary store credentials confined to the token's scope (for an aws CLI profile's credential_process)",
		Long: `Print temporary store credentials (STS) confined to the token's prefix and actions.

The default output is what the aws CLI's credential_process reads, so a profile
can call filegate for credentials:

  [profile filegate]
  credential_process = filegate credentials
  region = us-east-1
  endpoint_url = http://127.0.0.1:9000   ; the store's endpoint, for MinIO

--format env prints shell export lines; --format json the whole answer
(endpoint, bucket and prefix included).`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			var secs int64
			if cmd.Flags().Changed("expires") {
				if expires < 15*time.Minute {
					return usageErr(errors.New("--expires must be at least 15m (STS's shortest session)"))
				}
				secs = int64(expires / time.Second)
			}
			cr, err := c.Credentials(cmd.Context(), secs)
			if err != nil {
				return err
			}
			switch format {
			case "process":
				return jsonOut(e.stdout, processCredentials{Version: 1, AccessKeyID: cr.AccessKeyID, SecretAccessKey: cr.SecretAccessKey,
					SessionToken: cr.SessionToken, Expiration: cr.Expiration.UTC().Format(time.RFC3339)})
			case "json":
				return jsonOut(e.stdout, cr)
			case "env":
				fmt.Fprintf(e.stdout, "export AWS_ACCESS_KEY_ID=%s\nexport AWS_SECRET_ACCESS_KEY=%s\nexport AWS_SESSION_TOKEN=%s\nexport AWS_REGION=%s\n",
					shellQuote(cr.AccessKeyID), shellQuote(cr.SecretAccessKey), shellQuote(cr.SessionToken), shellQuote(cr.Region))
				if cr.Endpoint != "" {
					fmt.Fprintf(e.stdout, "export AWS_ENDPOINT_URL_S3=%s\n", shellQuote(cr.Endpoint))
				}
				return nil
			}
			return usageErr(fmt.Errorf("--format %q: want process, json or env", format))
		},
	}
	cmd.Flags().DurationVar(&expires, "expires", 0, "lifetime (default: the server's, 1h; at least 15m)")
	cmd.Flags().StringVar(&format, "format", "process", "process (credential_process JSON), json, or env")
	cmd.Flags().StringVar(&e.url, "url", "", "filegate's URL (default: the saved login's)")
	return cmd
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	out := "'"
	for _, r := range s {
		if r == '\'' {
			out += `'\''`
		} else {
			out += string(r)
		}
	}
	return out + "'"
}
