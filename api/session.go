package api

import (
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/filegate/filegate"
	"github.com/filegate/filegate/websession"
)

// The session cookie's names: with the __Host- prefix under TLS (browsers
// then insist on Secure, Path=/ and no Domain), plain otherwise (a
// loopback http:// server cannot set a Secure cookie).
const (
	sessionCookie       = "filegate-session"
	sessionCookieSecure = "__Host-filegate-session"
)

func secureRequest(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// handleSessionStart sets the web app's session cookie for the bearer
// token of the request: HttpOnly, SameSite=Strict, Secure under TLS, no
// longer than the token lives (websession.MaxAge at most).
func handleSessionStart(s *websession.Sealer, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		const op = "api.session"
		if err := sameOrigin(op, r, true); err != nil {
			writeError(w, r, log, err)
			return
		}
		scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		token = strings.TrimSpace(token)
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			writeError(w, r, log, filegate.NewError(filegate.Forbidden, op, "session_needs_token", "a session is started with a bearer token"))
			return
		}
		p := Principal(r.Context())
		exp := s.Expiry(p.Expires)
		v, err := s.Seal(token, exp)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		c := &http.Cookie{Name: sessionCookie, Value: v, Path: "/", Expires: exp, MaxAge: int(time.Until(exp).Seconds()),
			HttpOnly: true, SameSite: http.SameSiteStrictMode}
		if secureRequest(r) {
			c.Name, c.Secure = sessionCookieSecure, true
		}
		http.SetCookie(w, c)
		WriteJSON(w, http.StatusOK, map[string]any{"expires_at": exp.UTC()})
	})
}

// handleSessionEnd clears the session cookie (sign-out). It needs no
// authentication: clearing a cookie grants nothing.
func handleSessionEnd() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, name := range []string{sessionCookie, sessionCookieSecure} {
			c := &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode}
			if name == sessionCookieSecure {
				c.Secure = true
			}
			http.SetCookie(w, c)
		}
		WriteJSON(w, http.StatusOK, map[string]string{})
	})
}

func hasSessionCookie(r *http.Request) bool {
	for _, name := range []string{sessionCookieSecure, sessionCookie} {
		if _, err := r.Cookie(name); err == nil {
			return true
		}
	}
	return false
}

// cookiePrincipal authenticates a request by its session cookie: the
// request must come from filegate's own origin, and the token sealed in
// the cookie is checked again (so revocation ends the session at once).
func cookiePrincipal(r *http.Request, s *websession.Sealer, tokens Authenticator) (*filegate.Principal, error) {
	const op = "api.cookie"
	if err := sameOrigin(op, r, r.Method != http.MethodGet && r.Method != http.MethodHead); err != nil {
		return nil, err
	}
	var value string
	for _, name := range []string{sessionCookieSecure, sessionCookie} {
		if c, err := r.Cookie(name); err == nil {
			value = c.Value
			break
		}
	}
	token, exp, err := s.Open(value)
	if err != nil {
		return nil, filegate.NewError(filegate.Unauthenticated, op, "invalid_session", "the session has expired or is not valid: sign in again")
	}
	p, err := tokens.Authenticate(token)
	if err != nil {
		return nil, err
	}
	if p.Expires.IsZero() || exp.Before(p.Expires) {
		cp := *p
		cp.Expires = exp // grants never outlive the session
		p = &cp
	}
	return p, nil
}

// sameOrigin refuses requests that a browser marks as coming from another
// origin. needOrigin (state-changing requests) also requires an Origin
// header naming this host: a session cookie alone never authorizes a
// request another site could make.
func sameOrigin(op string, r *http.Request, needOrigin bool) error {
	refuse := func(msg string) error {
		return filegate.NewError(filegate.Forbidden, op, "cross_origin", msg)
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return refuse("session requests must come from filegate's own pages")
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		if needOrigin {
			return refuse("this request needs an Origin header naming filegate's own origin")
		}
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
		return refuse("session requests must come from filegate's own origin")
	}
	return nil
}

// cors lets pages on the listed origins call /v1 and /s3 with a bearer
// token (Uppy's AwsS3 plugin from another origin). Credentials (cookies)
// are never allowed cross-origin. Other paths (the seed routes) answer
// CORS their own way.
func cors(next http.Handler, origins []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		p := r.URL.Path
		if origin == "" || !(strings.HasPrefix(p, "/v1/") || strings.HasPrefix(p, "/s3/")) || !slices.Contains(origins, origin) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Expose-Headers", "Location, Retry-After, WWW-Authenticate")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
