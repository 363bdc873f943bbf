package api

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/filegate/filegate"
	"github.com/filegate/filegate/telemetry"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestDecodeJSON(t *testing.T) {
	tests := []struct {
		body string
		ok   bool
	}{
		{`{"key":"a"}`, true},
		{` {"key":"a","expires_in":60} `, true},
		{`{"key":"a","unknown":1}`, false},
		{`{"key":1}`, false},
		{`{"key":"a"} {"key":"b"}`, false},
		{`{"key":"a"}x`, false},
		{`[`, false},
		{``, false},
		{`null`, true},
	}
	for _, tt := range tests {
		var v downloadRequestJSON
		err := DecodeJSON(strings.NewReader(tt.body), &v)
		if (err == nil) != tt.ok {
			t.Errorf("DecodeJSON(%q) = %v, want ok=%v", tt.body, err, tt.ok)
		}
		if err != nil && filegate.KindOf(err) != filegate.Invalid {
			t.Errorf("DecodeJSON(%q): kind %v, want Invalid", tt.body, filegate.KindOf(err))
		}
	}
}

func TestUncleanPath(t *testing.T) {
	for p, want := range map[string]bool{"/": false, "/v1/objects/a/b": false, "/v1/objects/a/": false,
		"/v1/objects/a/../b": true, "/v1//objects": true, "/./x": true, "": true, "x": true} {
		if got := uncleanPath(p); got != want {
			t.Errorf("uncleanPath(%q) = %v, want %v", p, got, want)
		}
	}
}

// FuzzDecodeJSON: the request decoder never panics, refuses with Invalid
// only, and accepts exactly what encoding/json's Decoder accepts (one value,
// unknown fields refused, nothing after it), into the same value.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"key":"a"}`, `{"key":"a","expires_in":5,"check":false}`, `{"key":"\u0000"}`, `{`, `{"key":"a"}{}`,
		`{"KEY":"a","Check":true}`, `{"key":"\ud800"}`, "{\"key\":\"\xff\"}", `{"not_before":"2026-01-02T03:04:05+01:00","expires_in":null}`,
		`{"key":"a","key":"b"}`, `{"expires_in":1.5}`, `{"source_ip":null,"check":null}`, ` null `, `{"key":"a"} x`, `{"key":"a"} 1`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var v downloadRequestJSON
		err := DecodeJSON(strings.NewReader(body), &v)
		var ref downloadRequestJSON
		refOK := decodeReference(body, &ref)
		if err != nil {
			if filegate.KindOf(err) != filegate.Invalid {
				t.Fatalf("kind %v for %q", filegate.KindOf(err), body)
			}
			if refOK {
				t.Fatalf("refused %q (%v), which encoding/json accepts as %+v", body, err, ref)
			}
			return
		}
		if !refOK {
			t.Fatalf("accepted %q as %+v, which encoding/json refuses", body, v)
		}
		if !reflect.DeepEqual(v, ref) {
			t.Fatalf("%q decoded to %+v, encoding/json to %+v", body, v, ref)
		}
		if v.Key != "" {
			_ = filegate.ValidateKey("fuzz", v.Key)
		}
	})
}

// decodeReference is DecodeJSON as encoding/json's Decoder does it.
func decodeReference(body string, v any) bool {
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if dec.Decode(v) != nil || dec.More() {
		return false
	}
	_, err := dec.Token()
	return errors.Is(err, io.EOF)
}

func TestDecodeJSONTooLarge(t *testing.T) {
	var v bundleRequestJSON
	body := `{"keys":["` + strings.Repeat("a", MaxBody) + `"]}`
	if err := DecodeJSON(strings.NewReader(body), &v); filegate.KindOf(err) != filegate.TooLarge {
		t.Errorf("a body over MaxBody: %v", err)
	}
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	if err := decode(rec, r, &v); filegate.KindOf(err) != filegate.TooLarge {
		t.Errorf("a body over MaxBody through HTTP: %v", err)
	}
}

// TestObserveCountsPanicsAndAborts: a panic is answered 500 and, like an
// aborted stream, logged and counted.
func TestObserveCountsPanicsAndAborts(t *testing.T) {
	var logs strings.Builder
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	m := telemetry.NewMetrics()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /boom", func(http.ResponseWriter, *http.Request) { panic("boom") })
	mux.HandleFunc("GET /cut", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("partial"))
		panic(http.ErrAbortHandler)
	})
	h := observe(recoverPanics(mux, log), log, m)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/boom", nil))
	if rec.Code != 500 {
		t.Errorf("panic answered %d", rec.Code)
	}
	func() {
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Errorf("the abort did not reach net/http: %v", v)
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/cut", nil))
	}()
	if got := testutil.ToFloat64(m.Requests.WithLabelValues("GET /boom", "GET", "500")); got != 1 {
		t.Errorf("panics counted %v", got)
	}
	if got := testutil.ToFloat64(m.Requests.WithLabelValues("GET /cut", "GET", "aborted")); got != 1 {
		t.Errorf("aborts counted %v", got)
	}
	if !strings.Contains(logs.String(), `"route":"GET /boom","status":500`) || !strings.Contains(logs.String(), `"route":"GET /cut","status":200,"aborted":true`) {
		t.Errorf("logs: %s", logs.String())
	}
}
