package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/filegate/filegate"
	"github.com/filegate/filegate/auth"
	"github.com/filegate/filegate/browse"
	"github.com/filegate/filegate/grant"
	"github.com/filegate/filegate/store"
	"github.com/filegate/filegate/telemetry"
)

// benchServer is the real handler stack over a store that is never called
// (no existence check), so only filegate's own per-request cost is measured.
func benchServer(b *testing.B) (http.Handler, string) {
	b.Helper()
	st, err := store.New(context.Background(), store.Config{Endpoint: "http://127.0.0.1:9", Region: "us-east-1", AccessKeyID: "AK", SecretAccessKey: "SK", Bucket: "filegate"})
	if err != nil {
		b.Fatal(err)
	}
	tokens := auth.Open(filepath.Join(b.TempDir(), "tokens.json"))
	tok, _, err := tokens.Create(auth.NewSpec{Name: "bench", Actions: filegate.Actions})
	if err != nil {
		b.Fatal(err)
	}
	tp, _, err := telemetry.Tracing(context.Background(), func(string) string { return "" }, "bench")
	if err != nil {
		b.Fatal(err)
	}
	h := NewServer(Deps{
		Tokens: tokens, Browse: browse.New(st.Source()), Grants: grant.New(st.Source(), grant.Limits{}),
		Ready: func(context.Context) error { return nil }, Log: slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Metrics: telemetry.NewMetrics(), Tracing: tp,
	})
	return h, tok
}

func BenchmarkDownloadGrantNoCheck(b *testing.B) {
	h, tok := benchServer(b)
	body := `{"key":"users/alice/photos/IMG_0042.jpg","check":false}`
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("POST", "/v1/downloads", strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
