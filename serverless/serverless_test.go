package serverless

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/filegate/filegate"
)

// The events are aws-lambda-go's test events (testdata/LICENSE).
func TestDetect(t *testing.T) {
	want := map[string]Kind{
		"apigw-request.json":                          RESTProxy,
		"apigw-v2-request-no-authorizer.json":         HTTPAPI,
		"apigw-v2-request-lambda-authorizer.json":     HTTPAPI,
		"lambda-urls-request.json":                    FunctionURL,
		"apigw-custom-auth-request.json":              TokenAuth,
		"apigw-custom-auth-request-type-request.json": RequestAuth,
		"apigw-v2-custom-authorizer-v2-request.json":  HTTPAuthV2,
	}
	for name, k := range want {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if got := Detect(b); got != k {
			t.Errorf("%s: %v, want %v", name, got, k)
		}
	}
	for _, junk := range []string{"", "{}", "[]", `{"version":"2.0"}`, `"x"`} {
		if Detect([]byte(junk)) != Unknown {
			t.Errorf("%q is not Unknown", junk)
		}
	}
}

// echo answers with what it received, so the conversion can be checked.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Add("Set-Cookie", "a=1")
	w.Header().Add("Set-Cookie", "b=2")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"method": r.Method, "path": r.URL.Path, "query": r.URL.RawQuery, "body": string(b),
		"auth": r.Header.Get("Authorization"), "remote": r.RemoteAddr, "vouched": AuthorizerContextOf(r.Context()) != nil,
	})
})

func TestAdapterConverts(t *testing.T) {
	a := &Adapter{Handler: echo}
	b, _ := os.ReadFile(filepath.Join("testdata", "apigw-v2-request-lambda-authorizer.json"))
	out, err := a.Invoke(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(out)
	for _, want := range []string{`"cookies":["a=1","b=2"]`, `\"vouched\":true`, `"statusCode":200`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("v2 response lacks %s: %s", want, raw)
		}
	}
	b, _ = os.ReadFile(filepath.Join("testdata", "apigw-request.json"))
	out, err = a.Invoke(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = json.Marshal(out)
	if !strings.Contains(string(raw), `\"path\":\"/hello/world\"`) || !strings.Contains(string(raw), `"multiValueHeaders"`) {
		t.Errorf("v1 response: %s", raw)
	}
}

func TestAdapterRefusesOversizedAnswers(t *testing.T) {
	big := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/zip")
		_, _ = w.Write(make([]byte, 5<<20)) // 6.7 MB in base64
	})
	b, _ := os.ReadFile(filepath.Join("testdata", "apigw-v2-request-no-authorizer.json"))
	out, err := (&Adapter{Handler: big}).Invoke(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(out)
	if !strings.Contains(string(raw), `"statusCode":502`) || !strings.Contains(string(raw), "response_too_large") || len(raw) > 4096 {
		t.Fatalf("oversized answer: %.300s", raw)
	}
}

func TestPrincipalFromContext(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	p := &filegate.Principal{ID: "abc", Name: "alice", Actions: []filegate.Action{filegate.ActDownload, filegate.ActList}, Prefix: "users/alice/", Expires: now.Add(time.Hour), MaxSize: 10}
	c := contextOf(p)
	// REST APIs turn every context value into a string; HTTP APIs keep
	// numbers: both forms must give the principal back.
	got, err := PrincipalFromContext(AuthorizerContext(c), now)
	if err != nil || got.ID != "abc" || got.Prefix != "users/alice/" || len(got.Actions) != 2 || got.MaxSize != 10 || !got.Expires.Equal(p.Expires.Truncate(time.Second)) {
		t.Fatalf("%+v %v", got, err)
	}
	c["fg_max_size"] = float64(10)
	if _, err := PrincipalFromContext(AuthorizerContext(c), now); err != nil {
		t.Fatal(err)
	}
	if _, err := PrincipalFromContext(AuthorizerContext(c), now.Add(2*time.Hour)); filegate.KindOf(err) != filegate.Unauthenticated {
		t.Fatalf("expired: %v", err)
	}
	for _, bad := range []AuthorizerContext{{}, {"fg_id": "x", "fg_actions": "fly"}, {"fg_id": "x", "fg_expires": "soon"}} {
		if _, err := PrincipalFromContext(bad, now); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// FuzzInvoke feeds arbitrary events to the adapter and the authorizer:
// they answer or fail, never panic.
func FuzzInvoke(f *testing.F) {
	entries, _ := os.ReadDir("testdata")
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") {
			b, _ := os.ReadFile(filepath.Join("testdata", e.Name()))
			f.Add(b)
		}
	}
	a := &Adapter{Handler: echo}
	z := &Authorizer{Tokens: denyAll{}}
	f.Fuzz(func(t *testing.T, ev []byte) {
		_, _ = a.Invoke(context.Background(), ev)
		_, _ = z.Invoke(context.Background(), ev)
		var m map[string]any
		if json.Unmarshal(ev, &m) == nil {
			_, _ = PrincipalFromContext(AuthorizerContext(m), time.Now())
		}
	})
}

type denyAll struct{}

func (denyAll) Authenticate(string) (*filegate.Principal, error) {
	return nil, filegate.NewError(filegate.Unauthenticated, "test", "invalid_token", "no")
}

type brokenStore struct{}

func (brokenStore) Authenticate(string) (*filegate.Principal, error) {
	return nil, filegate.NewError(filegate.Unavailable, "test", "", "the token store does not answer")
}

// A token store that cannot be read is a server error (API Gateway answers
// 500), not a refusal of the caller's token (401).
func TestAuthorizerTellsOutagesFromRefusals(t *testing.T) {
	for name, want := range map[string]error{"apigw-custom-auth-request.json": ErrUnauthorized} {
		b, _ := os.ReadFile(filepath.Join("testdata", name))
		if _, err := (&Authorizer{Tokens: denyAll{}}).Invoke(context.Background(), b); err != want {
			t.Fatalf("refused token: %v", err)
		}
		if _, err := (&Authorizer{Tokens: brokenStore{}}).Invoke(context.Background(), b); err == nil || err == ErrUnauthorized {
			t.Fatalf("outage: %v, want a server error", err)
		}
	}
	b, _ := os.ReadFile(filepath.Join("testdata", "apigw-v2-custom-authorizer-v2-request.json"))
	if _, err := (&Authorizer{Tokens: brokenStore{}}).Invoke(context.Background(), b); err == nil {
		t.Fatal("HTTP API authorizer outage: no error")
	}
}
