package serverless

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/filegate/filegate"
)

// Authenticator turns a bearer token into a principal (auth.Tokens, or a
// chain with the shared secret).
type Authenticator interface {
	Authenticate(token string) (*filegate.Principal, error)
}

// ErrUnauthorized is what a REST API authorizer returns to make API Gateway
// answer 401: the error message must be exactly "Unauthorized".
var ErrUnauthorized = errors.New("Unauthorized")

// Authorizer answers API Gateway Lambda authorizer events: REST API TOKEN and
// REQUEST authorizers with an IAM policy, HTTP API authorizers (payload 2.0)
// with a simple response. The principal's scope travels in the context,
// for the API function to trust (FILEGATE_TRUST_AUTHORIZER).
type Authorizer struct {
	Tokens Authenticator
	Now    func() time.Time
}

// Context keys of an authorized request.
const (
	ctxID      = "fg_id"
	ctxName    = "fg_name"
	ctxActions = "fg_actions"
	ctxPrefix  = "fg_prefix"
	ctxExpires = "fg_expires"
	ctxMaxSize = "fg_max_size"
)

// Invoke answers one authorizer event.
func (a *Authorizer) Invoke(ctx context.Context, raw json.RawMessage) (any, error) {
	switch Detect(raw) {
	case TokenAuth:
		var ev events.APIGatewayCustomAuthorizerRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, err
		}
		return a.policy(bearer(ev.AuthorizationToken), ev.MethodArn)
	case RequestAuth:
		var ev events.APIGatewayCustomAuthorizerRequestTypeRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, err
		}
		return a.policy(bearer(header(ev.Headers, "Authorization")), ev.MethodArn)
	case HTTPAuthV2:
		var ev events.APIGatewayV2CustomAuthorizerV2Request
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, err
		}
		p, err := a.Tokens.Authenticate(bearer(header(ev.Headers, "Authorization")))
		switch {
		case filegate.KindOf(err) == filegate.Unauthenticated:
			return events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: false}, nil
		case err != nil:
			return nil, err // the token store cannot be read: a 500, not a refusal
		}
		return events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: true, Context: contextOf(p)}, nil
	}
	return nil, errors.New("serverless: not an authorizer event (set FILEGATE_LAMBDA_ROLE=api on the API function)")
}

func (a *Authorizer) policy(token, methodArn string) (any, error) {
	p, err := a.Tokens.Authenticate(token)
	switch {
	case filegate.KindOf(err) == filegate.Unauthenticated:
		return nil, ErrUnauthorized
	case err != nil:
		return nil, err // the token store cannot be read: a 500, not a 401
	}
	return events.APIGatewayCustomAuthorizerResponse{
		PrincipalID: p.ID,
		PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{
			Version: "2012-10-17",
			Statement: []events.IAMPolicyStatement{{
				Action: []string{"execute-api:Invoke"}, Effect: "Allow", Resource: []string{apiWildcard(methodArn)},
			}},
		},
		Context: contextOf(p),
	}, nil
}

// apiWildcard widens a method ARN (arn:…:api/stage/METHOD/path) to every
// method and path of the stage, so that a cached policy serves every route;
// what the caller may do is decided by filegate from the context.
func apiWildcard(methodArn string) string {
	parts := strings.SplitN(methodArn, "/", 3)
	if len(parts) < 2 {
		return methodArn
	}
	return parts[0] + "/" + parts[1] + "/*/*"
}

func bearer(h string) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(tok)
	}
	return ""
}

func header(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// contextOf is the authorizer context for p. API Gateway passes only
// strings, numbers and booleans, and REST APIs turn them all into strings.
func contextOf(p *filegate.Principal) map[string]any {
	acts := make([]string, len(p.Actions))
	for i, a := range p.Actions {
		acts[i] = string(a)
	}
	c := map[string]any{ctxID: p.ID, ctxName: p.Name, ctxActions: strings.Join(acts, ","), ctxPrefix: p.Prefix}
	if !p.Expires.IsZero() {
		c[ctxExpires] = strconv.FormatInt(p.Expires.Unix(), 10)
	}
	if p.MaxSize > 0 {
		c[ctxMaxSize] = strconv.FormatInt(p.MaxSize, 10)
	}
	return c
}

// PrincipalFromContext rebuilds the principal an authorizer vouched for.
// The expiry is checked again: a cached authorizer answer does not outlive
// the token.
func PrincipalFromContext(c AuthorizerContext, now time.Time) (*filegate.Principal, error) {
	str := func(k string) string {
		switch v := c[k].(type) {
		case string:
			return v
		case float64:
			return strconv.FormatFloat(v, 'f', -1, 64)
		case nil:
			return ""
		default:
			return fmt.Sprint(v)
		}
	}
	p := &filegate.Principal{ID: str(ctxID), Name: str(ctxName), Prefix: str(ctxPrefix)}
	if p.ID == "" {
		return nil, errors.New("serverless: the authorizer context carries no principal")
	}
	for _, a := range strings.Split(str(ctxActions), ",") {
		if a == "" {
			continue
		}
		act, err := filegate.ParseAction(a)
		if err != nil {
			return nil, err
		}
		p.Actions = append(p.Actions, act)
	}
	if s := str(ctxExpires); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("serverless: %s: %w", ctxExpires, err)
		}
		p.Expires = time.Unix(n, 0)
		if !now.Before(p.Expires) {
			return nil, filegate.NewError(filegate.Unauthenticated, "serverless.principal", "invalid_token", "token expired")
		}
	}
	if s := str(ctxMaxSize); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("serverless: %s: %w", ctxMaxSize, err)
		}
		p.MaxSize = n
	}
	return p, nil
}
