package api

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/filegate/filegate/grant"
	"github.com/filegate/filegate/telemetry"
)

type cookieRequestJSON struct {
	Prefix    string `json:"prefix,omitempty"`
	ExpiresIn expiry `json:"expires_in,omitzero"`
}

type cookiesJSON struct {
	Resource  string    `json:"resource"`
	Domain    string    `json:"domain"`
	ExpiresAt time.Time `json:"expires_at"`
	Cookies   []string  `json:"cookies"`
}

// handleCookies sets CloudFront signed cookies covering a prefix in the
// caller's scope: Secure, HttpOnly, scoped to the distribution's domain,
// expiring with the grant.
func handleCookies(g *grant.Service, m *telemetry.Metrics, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in cookieRequestJSON
		if r.ContentLength != 0 {
			if err := decode(w, r, &in); err != nil {
				writeError(w, r, log, err)
				return
			}
		}
		c, err := g.Cookies(r.Context(), Principal(r.Context()), grant.CookieRequest{Prefix: in.Prefix, ExpiresIn: in.ExpiresIn.d})
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		m.Grants.WithLabelValues("cookies").Inc()
		names := []string{"CloudFront-Policy", "CloudFront-Signature", "CloudFront-Key-Pair-Id"}
		for i, v := range []string{c.Policy, c.Signature, c.KeyPairID} {
			http.SetCookie(w, &http.Cookie{
				Name: names[i], Value: v, Domain: c.Domain, Path: "/", Expires: c.Expires,
				MaxAge: int(time.Until(c.Expires).Seconds()), Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode,
			})
		}
		w.Header().Set("Cache-Control", "no-store")
		WriteJSON(w, http.StatusOK, cookiesJSON{Resource: c.Resource, Domain: c.Domain, ExpiresAt: c.Expires.UTC(), Cookies: names})
	})
}
