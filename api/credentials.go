package api

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/filegate/filegate/telemetry"
	"github.com/filegate/filegate/tempcreds"
)

type credentialsRequestJSON struct {
	ExpiresIn expiry `json:"expires_in,omitzero"`
}

type credentialsJSON struct {
	AccessKeyID     string    `json:"access_key_id"`
	SecretAccessKey string    `json:"secret_access_key"`
	SessionToken    string    `json:"session_token"`
	Expiration      time.Time `json:"expiration"`
	Region          string    `json:"region"`
	Endpoint        string    `json:"endpoint,omitempty"`
	Bucket          string    `json:"bucket"`
	Prefix          string    `json:"prefix"`
}

// handleCredentials issues temporary store credentials confined to the
// caller's scope (STS AssumeRole with a session policy).
func handleCredentials(s *tempcreds.Service, m *telemetry.Metrics, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in credentialsRequestJSON
		if r.ContentLength != 0 {
			if err := decode(w, r, &in); err != nil {
				writeError(w, r, log, err)
				return
			}
		}
		c, err := s.Issue(r.Context(), Principal(r.Context()), in.ExpiresIn.d)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		m.Grants.WithLabelValues("credentials").Inc()
		w.Header().Set("Cache-Control", "no-store")
		WriteJSON(w, http.StatusOK, credentialsJSON{
			AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken,
			Expiration: c.Expires.UTC(), Region: c.Region, Endpoint: c.Endpoint, Bucket: c.Bucket, Prefix: c.Prefix,
		})
	})
}
