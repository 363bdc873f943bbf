// Package serverless runs filegate's HTTP handler as an AWS Lambda function
// behind API Gateway (REST API proxy events, payload 1.0; HTTP API events,
// payload 2.0) and Lambda Function URLs, with buffered responses.
//
// The adapter between events and net/http is written here rather than taken
// from akrylysov/algnhsa, the maintained one, because the module proxy this
// project builds from refuses that module; it follows the event shapes of
// aws-lambda-go's events package, whose test events the tests replay.
package serverless

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// MaxPayload is the largest response a buffered Lambda invocation may
// return through API Gateway or a Function URL (6 MB, JSON envelope and
// base64 included).
const MaxPayload = 6 << 20

// envelope is what the adapter needs to tell the event kinds apart.
type envelope struct {
	Version            string          `json:"version"`
	HTTPMethod         string          `json:"httpMethod"`
	RouteKey           string          `json:"routeKey"`
	Type               string          `json:"type"`
	AuthorizationToken string          `json:"authorizationToken"`
	RequestContext     json.RawMessage `json:"requestContext"`
}

// Kind is the kind of an event.
type Kind int

// The event kinds filegate serves.
const (
	Unknown     Kind = iota
	RESTProxy        // API Gateway REST API, proxy integration (payload 1.0)
	HTTPAPI          // API Gateway HTTP API (payload 2.0) or a Function URL
	TokenAuth        // REST API TOKEN authorizer
	RequestAuth      // REST API REQUEST authorizer (or HTTP API, payload 1.0)
	HTTPAuthV2       // HTTP API Lambda authorizer, payload 2.0
	FunctionURL      // a Function URL (payload 2.0, like HTTPAPI)
)

// Detect tells what an event is.
func Detect(raw []byte) Kind {
	var e envelope
	if json.Unmarshal(raw, &e) != nil {
		return Unknown
	}
	switch {
	case e.Type == "TOKEN":
		return TokenAuth
	case e.Type == "REQUEST" && e.Version == "2.0":
		return HTTPAuthV2
	case e.Type == "REQUEST":
		return RequestAuth
	case e.Version == "2.0":
		var rc struct {
			DomainName string `json:"domainName"`
			HTTP       struct {
				Method string `json:"method"`
			} `json:"http"`
		}
		_ = json.Unmarshal(e.RequestContext, &rc)
		switch {
		case rc.HTTP.Method == "":
			return Unknown
		case strings.Contains(rc.DomainName, ".lambda-url."):
			return FunctionURL
		}
		return HTTPAPI
	case e.HTTPMethod != "":
		return RESTProxy
	}
	return Unknown
}

// IsAuthorizer reports whether k is an authorizer event.
func (k Kind) IsAuthorizer() bool { return k == TokenAuth || k == RequestAuth || k == HTTPAuthV2 }

// AuthorizerContext is the context an API Gateway Lambda authorizer
// attached to a request (nil when none).
type AuthorizerContext map[string]any

type authCtxKey struct{}

// AuthorizerContextOf returns the authorizer context the adapter found in
// the event behind r's context.
func AuthorizerContextOf(ctx context.Context) AuthorizerContext {
	a, _ := ctx.Value(authCtxKey{}).(AuthorizerContext)
	return a
}

// Adapter turns HTTP events into requests to an http.Handler and its
// answers into API Gateway responses.
type Adapter struct {
	Handler http.Handler
}

// Invoke serves one HTTP event.
func (a *Adapter) Invoke(ctx context.Context, raw json.RawMessage) (any, error) {
	switch k := Detect(raw); k {
	case RESTProxy:
		var ev events.APIGatewayProxyRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, err
		}
		req, err := restRequest(ctx, ev)
		if err != nil {
			return nil, err
		}
		status, h, body, b64 := a.serve(req)
		resp := events.APIGatewayProxyResponse{StatusCode: status, MultiValueHeaders: h, Body: body, IsBase64Encoded: b64}
		return resp, nil
	case HTTPAPI, FunctionURL:
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, err
		}
		req, err := v2Request(ctx, ev)
		if err != nil {
			return nil, err
		}
		status, h, body, b64 := a.serve(req)
		resp := events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: map[string]string{}, Body: body, IsBase64Encoded: b64}
		for k, vs := range h {
			if http.CanonicalHeaderKey(k) == "Set-Cookie" {
				resp.Cookies = append(resp.Cookies, vs...)
				continue
			}
			resp.Headers[k] = strings.Join(vs, ",")
		}
		return resp, nil
	case Unknown:
		return nil, errors.New("serverless: not an API Gateway or Function URL event")
	default:
		return nil, fmt.Errorf("serverless: an authorizer event reached the API function (set FILEGATE_LAMBDA_ROLE=authorizer on the authorizer)")
	}
}

func restRequest(ctx context.Context, ev events.APIGatewayProxyRequest) (*http.Request, error) {
	q := url.Values{}
	for k, vs := range ev.MultiValueQueryStringParameters {
		q[k] = append(q[k], vs...)
	}
	if len(ev.MultiValueQueryStringParameters) == 0 {
		for k, v := range ev.QueryStringParameters {
			q.Set(k, v)
		}
	}
	h := http.Header{}
	for k, vs := range ev.MultiValueHeaders {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	if len(ev.MultiValueHeaders) == 0 {
		for k, v := range ev.Headers {
			h.Set(k, v)
		}
	}
	var auth AuthorizerContext
	if len(ev.RequestContext.Authorizer) > 0 {
		auth = AuthorizerContext(ev.RequestContext.Authorizer)
	}
	return build(ctx, ev.HTTPMethod, ev.Path, q.Encode(), h, ev.Body, ev.IsBase64Encoded, ev.RequestContext.Identity.SourceIP, auth)
}

func v2Request(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	h := http.Header{}
	for k, v := range ev.Headers {
		for _, part := range strings.Split(v, ",") {
			if k == "cookie" || k == "Cookie" {
				continue
			}
			h.Add(k, strings.TrimSpace(part))
		}
	}
	if len(ev.Cookies) > 0 {
		h.Set("Cookie", strings.Join(ev.Cookies, "; "))
	}
	var auth AuthorizerContext
	if a := ev.RequestContext.Authorizer; a != nil && a.Lambda != nil {
		auth = AuthorizerContext(a.Lambda)
	}
	method := ev.RequestContext.HTTP.Method
	return build(ctx, method, ev.RawPath, ev.RawQueryString, h, ev.Body, ev.IsBase64Encoded, ev.RequestContext.HTTP.SourceIP, auth)
}

func build(ctx context.Context, method, path, rawQuery string, h http.Header, body string, b64 bool, sourceIP string, auth AuthorizerContext) (*http.Request, error) {
	var b []byte
	if b64 {
		var err error
		if b, err = base64.StdEncoding.DecodeString(body); err != nil {
			return nil, fmt.Errorf("serverless: body: %w", err)
		}
	} else {
		b = []byte(body)
	}
	if path == "" {
		path = "/"
	}
	u := &url.URL{Path: path, RawQuery: rawQuery}
	if strings.Contains(path, "%") {
		if p, err := url.PathUnescape(path); err == nil {
			u.Path, u.RawPath = p, path
		}
	}
	if auth != nil {
		ctx = context.WithValue(ctx, authCtxKey{}, auth)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	// The Lambda runtime hands each invocation the X-Ray trace it belongs
	// to; API Gateway's header carries it too, but not on every event.
	if h.Get("X-Amzn-Trace-Id") == "" {
		if id := TraceID(ctx); id != "" {
			h.Set("X-Amzn-Trace-Id", id)
		}
	}
	req.Header = h
	req.Host = h.Get("Host")
	req.ContentLength = int64(len(b))
	req.RemoteAddr = sourceIP + ":0"
	req.RequestURI = u.RequestURI()
	return req, nil
}

// serve runs the handler and encodes the answer: text bodies as they are,
// others in base64. An answer larger than the invocation payload limit
// becomes a 502 problem, never a truncated body.
func (a *Adapter) serve(req *http.Request) (int, map[string][]string, string, bool) {
	rec := httptest.NewRecorder()
	a.Handler.ServeHTTP(rec, req)
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	text := isText(res.Header.Get("Content-Type"))
	size := len(body)
	if !text {
		size = base64.StdEncoding.EncodedLen(len(body))
	}
	if size > MaxPayload-64<<10 {
		p := `{"type":"about:blank","title":"Bad Gateway","status":502,"code":"response_too_large","detail":"the answer exceeds the 6 MB a Lambda function may return through API Gateway; ask for a link instead"}`
		return http.StatusBadGateway, map[string][]string{"Content-Type": {"application/problem+json"}}, p, false
	}
	if text {
		return res.StatusCode, res.Header, string(body), false
	}
	return res.StatusCode, res.Header, base64.StdEncoding.EncodeToString(body), true
}

func isText(ct string) bool {
	mt, _, _ := mime.ParseMediaType(ct)
	return strings.HasPrefix(mt, "text/") || mt == "application/json" || strings.HasSuffix(mt, "+json") ||
		mt == "application/yaml" || mt == "application/xml" || mt == ""
}
