// Package jwtauth verifies JWT/OIDC bearer tokens against the keys an
// identity provider publishes at a JWKS URL (MicahParks/keyfunc over
// golang-jwt), and maps their claims to a filegate principal.
//
// The mapping rule (documented in README):
//   - actions: the "filegate_actions" claim (an array, or a space-separated
//     string) or else the "scope" claim (space-separated); only filegate's
//     action names count (list, download, upload, bundle, caption, admin),
//     also written "filegate:list" and so on; none means no rights;
//   - prefix: the "filegate_prefix" claim, or else "users/<sub>/";
//   - name: the "email" claim, or else "sub"; the principal id is
//     "jwt:" + issuer + "#" + sub (upload sessions are bound to it);
//   - expiry: "exp", required; "nbf" and "iat" are checked too, with the
//     configured leeway for clock skew;
//   - max upload size: the "filegate_max_size" claim (bytes), when present.
package jwtauth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/filegate/filegate"
)

// Config says whose tokens to accept.
type Config struct {
	JWKSURL  string
	Issuer   string        // required: the "iss" every token must carry
	Audience string        // required: an "aud" every token must carry
	Leeway   time.Duration // clock skew allowed on exp/nbf/iat (default 60 s)
	// Refresh is how often the key set is fetched again (default 1 h); an
	// unknown key id fetches it at once, at most every RefreshUnknown
	// (default 10 s), so a rotated key is honoured without a restart.
	Refresh, RefreshUnknown time.Duration
}

// Verifier checks JWTs. It is safe for concurrent use.
type Verifier struct {
	cfg    Config
	keys   keyfunc.Keyfunc
	parser *jwt.Parser
}

// New starts fetching the key set; ctx ends its refresh goroutine.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	if cfg.JWKSURL == "" || cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("jwtauth: a JWKS URL, an issuer and an audience are all required")
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = time.Minute
	}
	if cfg.Refresh == 0 {
		cfg.Refresh = time.Hour
	}
	if cfg.RefreshUnknown == 0 {
		cfg.RefreshUnknown = 10 * time.Second
	}
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{cfg.JWKSURL}, keyfunc.Override{
		RefreshInterval:   cfg.Refresh,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(cfg.RefreshUnknown), 1),
	})
	if err != nil {
		return nil, fmt.Errorf("jwtauth: %w", err)
	}
	p := jwt.NewParser(
		jwt.WithIssuer(cfg.Issuer), jwt.WithAudience(cfg.Audience), jwt.WithLeeway(cfg.Leeway),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
		// Asymmetric algorithms only: never "none", never an HMAC whose
		// "secret" would be a published public key.
		jwt.WithValidMethods([]string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}),
	)
	return &Verifier{cfg: cfg, keys: kf, parser: p}, nil
}

// LooksLikeJWT reports whether a bearer token has a JWT's shape.
func LooksLikeJWT(token string) bool {
	return strings.Count(token, ".") == 2 && !strings.HasPrefix(token, "fg_")
}

// Authenticate verifies token and returns the principal its claims map to.
func (v *Verifier) Authenticate(token string) (*filegate.Principal, error) {
	const op = "jwtauth.Authenticate"
	fail := func(msg string, err error) (*filegate.Principal, error) {
		return nil, filegate.NewError(filegate.Unauthenticated, op, "invalid_token", msg).Wrap(err)
	}
	if len(token) > 16<<10 {
		return fail("token not valid", errors.New("token too long"))
	}
	claims := jwt.MapClaims{}
	t, err := v.parser.ParseWithClaims(token, claims, v.keys.Keyfunc)
	if err != nil || !t.Valid {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return fail("token expired", err)
		}
		return fail("token not valid", err)
	}
	return principal(v.cfg.Issuer, claims)
}

// principal maps verified claims to a principal.
func principal(issuer string, c jwt.MapClaims) (*filegate.Principal, error) {
	sub, _ := c["sub"].(string)
	if sub == "" {
		return nil, filegate.NewError(filegate.Unauthenticated, "jwtauth.principal", "invalid_token", "token has no subject")
	}
	p := &filegate.Principal{ID: "jwt:" + issuer + "#" + sub, Name: sub}
	if email, _ := c["email"].(string); email != "" {
		p.Name = email
	}
	var names []string
	switch a := c["filegate_actions"].(type) {
	case []any:
		for _, x := range a {
			if s, ok := x.(string); ok {
				names = append(names, s)
			}
		}
	case string:
		names = strings.Fields(a)
	default:
		if s, ok := c["scope"].(string); ok {
			names = strings.Fields(s)
		}
	}
	seen := map[filegate.Action]bool{}
	for _, n := range names {
		if act, err := filegate.ParseAction(strings.TrimPrefix(n, "filegate:")); err == nil && !seen[act] {
			seen[act] = true
			p.Actions = append(p.Actions, act)
		}
	}
	p.Prefix = "users/" + sub + "/"
	if pre, ok := c["filegate_prefix"].(string); ok {
		p.Prefix = pre
	}
	prefix, err := filegate.NormalizeScopePrefix(p.Prefix)
	if err != nil {
		return nil, filegate.NewError(filegate.Unauthenticated, "jwtauth.principal", "invalid_token", "the token's prefix is not a valid scope").Wrap(err)
	}
	p.Prefix = prefix
	if exp, err := c.GetExpirationTime(); err == nil && exp != nil {
		p.Expires = exp.Time
	}
	if n, ok := c["filegate_max_size"].(float64); ok && n > 0 {
		p.MaxSize = int64(n)
	}
	return p, nil
}

// Chain authenticates JWT-shaped bearer tokens with v and the others with
// next (filegate's own tokens).
type Chain struct {
	JWT  *Verifier
	Next interface {
		Authenticate(token string) (*filegate.Principal, error)
	}
}

// Authenticate picks the verifier by the token's shape.
func (c Chain) Authenticate(token string) (*filegate.Principal, error) {
	if c.JWT != nil && LooksLikeJWT(token) {
		return c.JWT.Authenticate(token)
	}
	return c.Next.Authenticate(token)
}
