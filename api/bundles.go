package api

import (
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/filegate/filegate"
	"github.com/filegate/filegate/bundle"
	"github.com/filegate/filegate/telemetry"
)

type bundleRequestJSON struct {
	Keys        []string `json:"keys,omitempty"`
	Prefix      string   `json:"prefix,omitempty"`
	Name        string   `json:"name,omitempty"`
	ExpiresIn   expiry   `json:"expires_in,omitzero"`
	Compression string   `json:"compression,omitempty"`
	Missing     string   `json:"missing,omitempty"`
	Async       bool     `json:"async,omitempty"`
}

func (in bundleRequestJSON) request() bundle.Request {
	return bundle.Request{Keys: in.Keys, Prefix: in.Prefix, Name: in.Name, ExpiresIn: in.ExpiresIn.d,
		Compression: bundle.Method(in.Compression), Missing: in.Missing}
}

// prepareBundle decodes a bundle request and resolves its selection; on
// failure it has answered and returns ok false.
func prepareBundle(w http.ResponseWriter, r *http.Request, b *bundle.Service, log *slog.Logger, op string, stream bool) (in bundleRequestJSON, plan *bundle.Plan, ok bool) {
	err := decode(w, r, &in)
	if err == nil && stream && in.Async {
		err = filegate.NewError(filegate.Invalid, op, "invalid_request", "async does not apply to a stream")
	}
	if err == nil {
		plan, err = b.Prepare(r.Context(), Principal(r.Context()), in.request())
	}
	if err != nil {
		writeError(w, r, log, err)
		return in, nil, false
	}
	return in, plan, true
}

type bundleJSON struct {
	Key       string    `json:"key"`
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
	Size      int64     `json:"size"`
	Entries   int       `json:"entries"`
	Skipped   []string  `json:"skipped,omitempty"`
	Reused    bool      `json:"reused"`
	Note      string    `json:"note,omitempty"`
}

type jobJSON struct {
	ID           string     `json:"id"`
	State        string     `json:"state"`
	EntriesTotal int        `json:"entries_total"`
	EntriesDone  int        `json:"entries_done"`
	BytesDone    int64      `json:"bytes_done"`
	Key          string     `json:"key"`
	URL          string     `json:"url,omitempty"`
	ExpiresAt    *time.Time `json:"expires_at,omitempty"`
	Size         int64      `json:"size,omitempty"`
	Skipped      []string   `json:"skipped,omitempty"`
	Error        string     `json:"error,omitempty"`
}

func toJobJSON(j *bundle.Job) jobJSON {
	out := jobJSON{ID: j.ID, State: j.State, EntriesTotal: j.EntriesTotal, EntriesDone: j.EntriesDone, BytesDone: j.BytesDone,
		Key: j.Key, URL: j.URL, Size: j.Size, Skipped: j.Skipped, Error: j.Error}
	if !j.ExpiresAt.IsZero() {
		t := j.ExpiresAt.UTC()
		out.ExpiresAt = &t
	}
	return out
}

func handleBundle(b *bundle.Service, m *telemetry.Metrics, log *slog.Logger) http.Handler {
	return bundleHandler(b, m, log, "")
}

// bundleHandler stores a bundle and answers with its link; note, when set,
// is added to the answer (the stream route's fallback on Lambda).
func bundleHandler(b *bundle.Service, m *telemetry.Metrics, log *slog.Logger, note string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, plan, ok := prepareBundle(w, r, b, log, "api.bundle", false)
		if !ok {
			return
		}
		if in.Async {
			j, err := b.Start(r.Context(), plan)
			if err != nil {
				writeError(w, r, log, err)
				return
			}
			w.Header().Set("Location", "/v1/bundles/"+j.ID)
			WriteJSON(w, http.StatusAccepted, toJobJSON(j))
			return
		}
		res, err := b.Create(r.Context(), plan, nil)
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		m.Grants.WithLabelValues("bundle").Inc()
		WriteJSON(w, http.StatusOK, bundleJSON{Key: res.Key, URL: res.URL, ExpiresAt: res.ExpiresAt.UTC(), Size: res.Size,
			Entries: res.Entries, Skipped: res.Skipped, Reused: res.Reused, Note: note})
	})
}

func handleBundleJob(b *bundle.Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j, err := b.Job(r.Context(), Principal(r.Context()), r.PathValue("id"))
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		WriteJSON(w, http.StatusOK, toJobJSON(j))
	})
}

// handleBundleStream writes the zip into the response. With every entry
// stored, Content-Length is exact before the first byte. A failure after
// the first byte cuts the connection, so a client never mistakes a
// truncated archive for a whole one.
func handleBundleStream(b *bundle.Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		const op = "api.bundleStream"
		_, plan, ok := prepareBundle(w, r, b, log, op, true)
		if !ok {
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/zip")
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": plan.Name}))
		h.Set("Cache-Control", "no-store")
		if plan.SizeKnown {
			h.Set("Content-Length", strconv.FormatInt(plan.Size, 10))
		}
		w.WriteHeader(http.StatusOK)
		if err := b.WriteTo(r.Context(), plan, w, nil); err != nil {
			log.ErrorContext(r.Context(), "bundle stream failed", "op", op, "err", err.Error())
			panic(http.ErrAbortHandler)
		}
	})
}
